"""Sensitivities in log2 (precisec.tune.extreme): the same figures as the model's where
those are finite, and finite ones where they are not."""

from __future__ import annotations

import numpy as np
from helpers import kernel

from precisec.semantics import noise
from precisec.tune.extreme import log2_sensitivities, log_mean_exp2, scaled_optimum, shares
from precisec.tune.mapper import first_order_optimum

SOURCE = ("#pragma precisec range(x, 1, 2)\ndouble f(double x) {\n"
          "    return x * 0.5 + x * x;\n}\n")


def test_in_range_they_are_the_logs_of_the_sensitivities() -> None:
    k = kernel(SOURCE)
    inputs = np.linspace(1, 2, 50)[:, None]
    results = 0.5 * inputs + inputs * inputs
    logs = log2_sensitivities(k, inputs, results)
    assert logs is not None and logs.used == 50
    np.testing.assert_allclose(logs.log2, np.log2(noise.sensitivities(k, inputs)), rtol=1e-9)
    sens = np.exp2(logs.log2)
    np.testing.assert_allclose(shares(logs.log2), sens / sens.sum())
    np.testing.assert_allclose(scaled_optimum(logs.log2, 1e-10), first_order_optimum(sens, 1e-10))


def test_beyond_the_double_range_they_stay_finite() -> None:
    k = kernel("#pragma precisec range(x, -1.7e308, 1.7e308)\n"
               "double f(double x) {\n    return x * 0.5;\n}\n")
    inputs = np.array([[1e307], [-2e307], [1.6e308]])
    with np.errstate(over="ignore"):
        assert not np.all(np.isfinite(noise.sensitivities(k, inputs)))
    logs = log2_sensitivities(k, inputs, 0.5 * inputs)
    assert logs is not None and (logs.used, logs.count) == (2, 3)  # 8e307 > 2^1021: left out
    # G = 1 on the two inputs used; scaled to all three: mean (0.5·x)² =
    # 0.25·(1e614 + 4e614 + 256e614)/3
    expected = np.log2(0.25 * 261 / 3) + 614 * np.log2(10.0)
    np.testing.assert_allclose(logs.log2, [expected], rtol=1e-12)
    assert log_mean_exp2(np.array([[2000.0], [2002.0]]))[0] == np.log2(2.5) + 2000
    assert log_mean_exp2(np.array([[-np.inf], [-np.inf]]))[0] == -np.inf
