"""Training σ per site: the original training reproduced bit for bit on straight-line
kernels, convergence to the target on both MSE estimates (nonlinear Monte Carlo for small
kernels, first-order moments for large ones), determinism."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import benchmark, kernel, ranges

from precisec.ir import Kernel, executions
from precisec.semantics import noise
from precisec.tune import train as train_module
from precisec.tune.mapper import K_ROUNDING, first_order_optimum
from precisec.tune.train import TrainingConfig, train

# Produced by the unrolled-IR implementation (precisec/noise_old.py, removed in 575ee81):
# its sensitivities on 4,000 inputs drawn by numpy PCG64(21) and its σ from
# train(kernel, target, seed=7, those sensitivities), as float.hex, with the steps taken.
ORIGINAL = {
    "verhulst": (
        ["0x1.eed5d5d12100bp-2", "0x1.d721bc0e297eap-6", "0x1.eed5d5d12100bp-2",
         "0x1.eed5d5d12100bp-2"],
        ["0x1.23c23f9020fd5p-52", "0x1.247415134620ap-50", "0x1.14c9c8ecdfa8bp-52",
         "0x1.5dde24a0630d9p-52"], 400),
    "sine": (
        ["0x1.51b2b8ff7dba7p-5", "0x1.9c07219850c2ap-5", "0x1.1675234267d46p-11",
         "0x1.8be42427d35c1p-20", "0x1.f2c09d35a3b37p-5", "0x1.ece9f1ccc807dp-2",
         "0x1.343477d89c7d0p-11", "0x1.037b7513862f9p-1", "0x1.8be42427d35c1p-20",
         "0x1.02e2bf3c55cf7p-1"],
        ["0x1.8c268c0c9299bp-50", "0x1.8a6672079744ap-50", "0x1.8e96f18e9303fp-47",
         "0x1.f6ce49406d81bp-43", "0x1.42a9fa07fdcb8p-50", "0x1.2900ceab388bep-51",
         "0x1.8c435df9a1298p-47", "0x1.192ce50db6d4bp-51", "0x1.d98ebfe8384e4p-43",
         "0x1.3322055cbbb1cp-51"], 600),
    "doppler1": (
        ["0x1.24ebec166895cp+3", "0x1.55543bfb71d5ap+12", "0x1.7d56017a10d59p+12",
         "0x1.7d56017a10d59p+10", "0x1.7d56017a10d59p+10", "0x1.7d56017a10d59p+10"],
        ["0x1.7f35edc5ad2b3p-46", "0x1.07863bfe05d72p-50", "0x1.072a920b9bf7dp-50",
         "0x1.15178d909eaa4p-49", "0x1.0e96aa950856fp-49", "0x1.0789026fc63e5p-49"], 1400),
    "rigidBody1": (
        ["0x1.5cf6233d92ae1p+12", "0x1.63fee71df2ba3p+14", "0x1.63fee71df2ba3p+14",
         "0x1.b897c64df3ab4p+14", "0x1.b9c03365840d2p+14", "0x1.ba1958ec746cbp+14"],
        ["0x1.2a723cd35f399p-49", "0x1.1f88053baed4ep-50", "0x1.231b9e9778929p-50",
         "0x1.0249624d4c74ap-50", "0x1.0a22e61b81bebp-50", "0x1.1974acaad726ep-50"], 500),
}


def sample(k: Kernel, count: int, seed: int) -> np.ndarray:
    lows, highs = np.array(k.lows), np.array(k.highs)
    return lows + (highs - lows) * np.random.Generator(np.random.PCG64(seed)).random(
        (count, len(lows)))


@pytest.mark.parametrize("name", list(ORIGINAL))
def test_straight_line_training_reproduces_the_original_bit_for_bit(name: str) -> None:
    """Table 1 must not move: same sensitivities, same σ, same steps, to the last bit."""
    k = benchmark(name)
    sens_hex, sigma_hex, steps = ORIGINAL[name]
    sens = np.array([float.fromhex(h) for h in sens_hex])
    assert [s.hex() for s in noise.sensitivities(k, sample(k, 4000, 21))] == sens_hex
    result = train(k, k.target_rmse, 7, sens)
    assert [float(s).hex() for s in result.sigma] == sigma_hex
    assert (result.steps, result.converged) == (steps, True)


@pytest.fixture(scope="module")
def rigid_body() -> tuple[Kernel, np.ndarray, np.ndarray, train_module.TrainingResult,
                          train_module.TrainingResult]:
    k = benchmark("rigidBody1")
    inputs = sample(k, 4000, 21)
    sens = noise.sensitivities(k, inputs)
    return k, inputs, sens, train(k, k.target_rmse, 7, sens), train(k, k.target_rmse, 7, sens)


def test_training_converges_to_the_target(rigid_body) -> None:  # type: ignore[no-untyped-def]
    k, inputs, _, result, _ = rigid_body
    assert result.converged
    assert result.steps <= TrainingConfig().max_steps
    assert result.final_mse_ratio == pytest.approx(1.0, abs=0.1)
    predicted = noise.predicted_mse(k, result.sigma, inputs, seed=1)
    assert predicted == pytest.approx(k.target_rmse**2, rel=0.25)


def test_training_gives_every_site_an_equal_share(rigid_body) -> None:  # type: ignore
    k, _, sens, result, _ = rigid_body
    n = len(k.sites)
    shares = result.sigma**2 * sens / k.target_rmse**2
    assert np.all((shares > 0.5 / n) & (shares < 2.0 / n)), shares
    assert shares.sum() == pytest.approx(1.0, rel=0.2)
    # so the learned σ land near the first-order optimum, bit for bit
    learned = np.log2(K_ROUNDING / result.sigma)
    np.testing.assert_allclose(learned, first_order_optimum(sens, k.target_rmse), atol=0.6)


def test_training_is_deterministic(rigid_body) -> None:  # type: ignore[no-untyped-def]
    _, _, _, first, again = rigid_body
    np.testing.assert_array_equal(first.sigma, again.sigma)
    assert (first.steps, first.converged) == (again.steps, again.converged)


def test_both_estimates_agree_on_a_small_kernel(rigid_body,  # type: ignore[no-untyped-def]
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    k, _, sens, monte_carlo, _ = rigid_body
    monkeypatch.setattr(train_module, "MONTE_CARLO_LIMIT", 0)
    moments = train(k, k.target_rmse, 7, sens)
    assert moments.converged
    np.testing.assert_allclose(np.log2(moments.sigma), np.log2(monte_carlo.sigma), atol=0.5)


def lotka(steps: int) -> Kernel:
    """Explicit Euler for Lotka–Volterra: 10 sites in the loop, one after it."""
    return kernel(ranges(x0=(0.5, 1.5), y0=(0.5, 1.5)) + "#pragma precisec rmse(1e-10)\n"
                  "double lotka(double x0, double y0) {\n"
                  "    double x = x0;\n    double y = y0;\n"
                  f"    for (int n = 0; n < {steps}; n++) {{\n"
                  "        double dx = x * (1.1 - 0.4 * y);\n"
                  "        double dy = y * (0.1 * x - 0.4);\n"
                  "        x = x + 0.01 * dx;\n        y = y + 0.01 * dy;\n    }\n"
                  "    return x + y;\n}\n")


@pytest.mark.parametrize("steps", [pytest.param(5, id="Monte Carlo", marks=pytest.mark.slow),
                                   pytest.param(60, id="moments")])
def test_loop_kernels_train_to_the_target(steps: int) -> None:
    k = lotka(steps)
    small = sum(executions(k)) <= train_module.MONTE_CARLO_LIMIT
    assert small == (steps == 5)
    inputs = sample(k, 4000, 3)
    sens = noise.sensitivities(k, inputs)
    result = train(k, k.target_rmse, 11, sens)
    assert result.converged
    assert result.final_mse_ratio == pytest.approx(1.0, abs=0.05)
    tau2 = k.target_rmse**2
    moments = noise.site_moments(k, inputs).mean(axis=0)
    assert float(np.sum(result.sigma**2 * moments)) == pytest.approx(tau2, rel=0.1)
    predicted = noise.predicted_mse(k, result.sigma, inputs, seed=2, significand_aware=True)
    assert predicted == pytest.approx(tau2, rel=0.25)
    again = train(k, k.target_rmse, 11, sens)
    np.testing.assert_array_equal(result.sigma, again.sigma)


def test_a_kernel_without_sites_has_nothing_to_learn() -> None:
    k = kernel(ranges(x=(1, 2)) + "double f(double x) {\n    return -x;\n}\n")
    result = train(k, 1e-3, 0, np.zeros(0))
    assert result.sigma.shape == (0,)
    assert result.converged
