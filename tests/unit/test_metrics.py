"""Error metrics (docs/method.md §10): rmse, relrmse and Herbie's bits, their acceptance with
the statistical margin, the ulp distance in double and float, and the relrmse refusal at
an exact zero result."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import kernel
from hypothesis import given, settings
from hypothesis import strategies as st

from precisec.errors import PrecisecError
from precisec.semantics.compiled import Evaluator, Reference
from precisec.tune.metrics import (
    Z_ACCEPT,
    Measurement,
    Metric,
    Target,
    as_target,
    correctly_rounded,
    element_errors,
    from_ordered,
    ordered,
)
from precisec.tune.samples import Sample


def reference(hi: list[float], lo: list[float] | None = None) -> Reference:
    values = np.array(hi, dtype=float)[:, None]
    low = np.zeros_like(values) if lo is None else np.array(lo, dtype=float)[:, None]
    return Reference(values, low, None, 320)


def test_a_number_is_an_rmse_target_and_metrics_are_checked() -> None:
    assert as_target(1e-3) == Target("rmse", 1e-3)
    assert Target("bits", 3.0).format(2.5) == "2.50"
    assert Target("relrmse", 1e-12).name == "relative RMSE"
    with pytest.raises(ValueError, match="unknown metric"):
        Target("maxrel", 1.0)


def test_relrmse_is_the_rms_of_relative_errors() -> None:
    ref = reference([2.0, -4.0, 8.0])
    outputs = np.array([[2.2], [-4.0], [7.2]])
    m = Metric("relrmse").measure(ref, outputs)
    assert m.value == pytest.approx(math.sqrt((0.1**2 + 0 + 0.1**2) / 3))
    assert m.max_error == pytest.approx(0.1)


def test_relrmse_refuses_an_exact_zero_result() -> None:
    with pytest.raises(ValueError, match="exact zero"):
        element_errors("relrmse", "double", reference([0.0, 1.0]), np.array([[0.0], [1.0]]))
    k = kernel("#pragma precisec range(x, -1, 1)\n"
               "double f(double x) {\n    return x * x - x * x;\n}\n")
    with Evaluator(k) as evaluator, pytest.raises(PrecisecError, match="exact result is 0"):
        Sample.draw(evaluator, 20, 1, metric="relrmse")


def test_bits_counts_floating_point_values_between_results() -> None:
    one = 1.0
    ref = reference([one] * 4)
    outputs = np.array([[one], [math.nextafter(one, 2.0)], [one + 2**-50], [math.nan]])
    bits = element_errors("bits", "double", ref, outputs)[:, 0]
    assert list(bits[:3]) == [0.0, 1.0, math.log2(1 + 4)]
    assert bits[3] == 64.0  # a NaN result counts as the format's width
    zeros = element_errors("bits", "double", reference([0.0]), np.array([[-0.0]]))
    assert zeros[0, 0] == 1.0  # -0 and +0 are neighbours


def test_bits_in_float_use_float_neighbours_and_round_ties_by_lo() -> None:
    one = 1.0
    step = 2.0**-23
    ref = reference([one])
    assert element_errors("bits", "float", ref, np.array([[one + step]]))[0, 0] == 1.0
    tie = one + step / 2  # exactly between two floats: lo says which side the exact is
    up = correctly_rounded(reference([tie], [1e-30]), "float")
    down = correctly_rounded(reference([tie], [-1e-30]), "float")
    assert (up[0, 0], down[0, 0]) == (one + step, one)


@settings(max_examples=200)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_ordered_keys_invert_and_are_monotone(x: float) -> None:
    key = ordered(np.array([x]), "double")
    assert from_ordered(key, "double")[0] == x or (x == 0 and from_ordered(key, "double")[0] == 0)
    up = math.nextafter(x, math.inf)
    if math.isfinite(up) and x != 0:  # nextafter(-0.0) skips +0, our ordering does not
        assert ordered(np.array([up]), "double")[0] == key[0] + 1


def test_bits_acceptance_bounds_the_mean_with_the_same_margin() -> None:
    errors = np.array([1.0, 2.0, 3.0, 4.0])
    m = Measurement.of(errors, "bits")
    se = np.std(errors) / 2.0
    assert (m.value, m.standard_error) == (2.5, pytest.approx(se))
    assert m.accepts(2.5 + Z_ACCEPT * se + 1e-12)
    assert not m.accepts(2.5 + Z_ACCEPT * se - 1e-9)


def test_rmse_measurement_is_unchanged_by_the_metric_field() -> None:
    errors = np.array([[1e-3, -2e-3], [3e-3, 0.0]])
    m = Measurement.of(errors)
    assert m.metric == "rmse" and m.rmse == m.value
    assert m.value == pytest.approx(math.sqrt(np.mean(errors**2)))
    assert Metric().measure(reference([1.0, 2.0]), np.array([[1.5], [2.0]])).value == \
        pytest.approx(math.sqrt(0.125))


def test_model_target_of_bits_is_a_sufficient_relative_rms() -> None:
    """d < |rel|·2^p, so RMS relative error r = (2^T − 1)·2^-p keeps mean bits ≤ T."""
    r = Target("bits", 3.0).model_target("double")
    assert r == pytest.approx(7 * 2.0**-53)
    assert Target("relrmse", 1e-9).model_target("double") == 1e-9
    assert Target("bits", 3.0).model_target("float") == pytest.approx(7 * 2.0**-24)
