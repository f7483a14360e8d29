"""The JAX noise model against closed forms, hand-derived sensitivities, and training."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import benchmark, kernel, ranges

from precisec import noise
from precisec.ir import Op
from precisec.mapper import first_order_optimum, sigma_for_bits
from precisec.reference import sample_inputs

SIGMAS = [2.0**-8, 2.0**-30, 2.0**-60, 2.0**-120]
COUNT = 50_000
BOX = ranges(x=(1, 2), y=(1, 2), z=(1, 2))
XYZ = "double f(double x, double y, double z) {\n"


def make(body: str):
    k = kernel(BOX + XYZ + f"    {body}\n}}\n")
    return k, sample_inputs(k, COUNT, seed=17)


def closed_forms():
    """(name, body, MSE(σ, x, y, z) with σ the same for every operation, as a sample mean)."""
    return {
        # one rounding: σ² E[(xy)²]
        "single multiply": ("return x * y;", lambda s, x, y, z: s**2 * np.mean((x * y) ** 2)),
        # (x+y)(1+σε1) + z, then (1+σε2): σ²E[(x+y)²] + σ²E[(x+y+z)²] + σ⁴E[(x+y)²]
        "sum of three": ("return (x + y) + z;",
                         lambda s, x, y, z: s**2 * np.mean((x + y) ** 2)
                         + s**2 * np.mean((x + y + z) ** 2) + s**4 * np.mean((x + y) ** 2)),
        # xyz(1+σε1)(1+σε2) - xyz: E[(xyz)²](2σ² + σ⁴)
        "product chain": ("return (x * y) * z;",
                          lambda s, x, y, z: (2 * s**2 + s**4) * np.mean((x * y * z) ** 2)),
        # an exact constant adds no noise of its own
        "exact constant": ("return x * 2.0;", lambda s, x, y, z: s**2 * np.mean((2 * x) ** 2)),
        # 1.11 is rounded at the consumer's precision: its own ε with the consumer's σ
        "inexact constant": ("return x * 1.11;",
                             lambda s, x, y, z: (2 * s**2 + s**4) * np.mean((1.11 * x) ** 2)),
        # division: x/y (1+σε)
        "quotient": ("return x / y;", lambda s, x, y, z: s**2 * np.mean((x / y) ** 2)),
    }


@pytest.mark.parametrize("sigma", SIGMAS, ids=lambda s: f"2^{int(np.log2(s))}")
@pytest.mark.parametrize("name", list(closed_forms()))
def test_predicted_mse_matches_closed_form(name: str, sigma: float) -> None:
    body, mse = closed_forms()[name]
    k, inputs = make(body)
    n = len(k.rounding_ops)
    predicted = noise.predicted_mse(k, np.full(n, sigma), inputs, seed=3)
    want = mse(sigma, inputs[:, 0], inputs[:, 1], inputs[:, 2])
    assert predicted == pytest.approx(want, rel=0.05, abs=0)


def test_predicted_mse_with_different_sigmas_per_operation() -> None:
    # (x * y) + z with σ_mul, σ_add: σ_mul² E[(xy)²] + σ_add² E[(xy+z)²] to first order
    k, inputs = make("return (x * y) + z;")
    x, y, z = inputs.T
    for s_mul, s_add in [(2.0**-20, 2.0**-40), (2.0**-70, 2.0**-50)]:
        predicted = noise.predicted_mse(k, np.array([s_mul, s_add]), inputs, seed=5)
        want = s_mul**2 * np.mean((x * y) ** 2) + s_add**2 * np.mean((x * y + z) ** 2)
        assert predicted == pytest.approx(want, rel=0.05, abs=0)


def test_noise_model_is_faithful_far_below_double() -> None:
    # cancellation: (x + 1e10) - 1e10 is x, but the add's rounding error is on 1e10
    k = kernel(ranges(x=(1, 2)) + "double f(double x) {\n"
               "    return (x + 10000000000.0) - 10000000000.0;\n}\n")
    inputs = sample_inputs(k, COUNT, seed=1)
    x = inputs[:, 0]
    for sigma in SIGMAS[1:]:
        predicted = noise.predicted_mse(k, np.full(2, sigma), inputs, seed=2)
        # add: (x+1e10)σε1; sub: ((x+1e10)(1+σε1) - 1e10)σε2 ≈ xσε2
        want = sigma**2 * (np.mean((x + 1e10) ** 2) + np.mean(x**2))
        assert predicted == pytest.approx(want, rel=0.05, abs=0)


# -- sensitivities ------------------------------------------------------------------------

def test_sensitivities_by_hand() -> None:
    k, inputs = make("double t = x * y;\n    return t + z;")
    x, y, z = inputs.T
    sens = noise.sensitivities(k, inputs)
    # ∂y/∂t · t = xy; for the add, the output itself
    np.testing.assert_allclose(sens, [np.mean((x * y) ** 2), np.mean((x * y + z) ** 2)],
                               rtol=1e-10)


def test_sensitivities_of_functions_and_division() -> None:
    k, inputs = make("return exp(x) - sqrt(y) / z;")
    x, y, z = inputs.T
    order = [k.nodes[i].op for i in k.rounding_ops]
    assert order == ["exp", "sqrt", "div", "sub"]
    sens = dict(zip(order, noise.sensitivities(k, inputs), strict=True))
    q = np.sqrt(y) / z
    assert sens["exp"] == pytest.approx(np.mean(np.exp(x) ** 2), rel=1e-10)
    # the sqrt's perturbation flows through the division unchanged in relative terms
    assert sens["sqrt"] == pytest.approx(np.mean(q**2), rel=1e-10, abs=0)
    assert sens["div"] == pytest.approx(np.mean(q**2), rel=1e-10, abs=0)
    assert sens["sub"] == pytest.approx(np.mean((np.exp(x) - q) ** 2), rel=1e-10)


def test_sensitivity_through_shared_subexpression() -> None:
    # t used twice: y = t*t, ∂y/∂t · t = 2t², so S_t = E[4 t⁴]
    k, inputs = make("double t = x + y;\n    return t * t;")
    t = inputs[:, 0] + inputs[:, 1]
    sens = noise.sensitivities(k, inputs)
    np.testing.assert_allclose(sens, [np.mean(4 * t**4), np.mean(t**4)], rtol=1e-10)


def test_first_order_model_agrees_with_the_noise_model() -> None:
    """Σ σ_i² S_i (what the first-order optimum, the budget shares and refinement's ordering
    use) is the noise model's MSE at small σ, also when an operation consumes a constant
    that is not exact in binary (which the model gives noise of its own, with that
    operation's σ, as the emulator and the backend round it at that precision)."""
    for body in ("return (x * y) + z;", "return (x * 1.11) + z;", "return (0.1 * x) / 3.3;"):
        k, inputs = make(body)
        sens = noise.sensitivities(k, inputs)
        sigma = np.full(len(k.rounding_ops), 2.0**-40)
        predicted = noise.predicted_mse(k, sigma, inputs, seed=9)
        assert float(np.sum(sigma**2 * sens)) == pytest.approx(predicted, rel=0.05, abs=0), body


def test_layout_gives_inexact_constants_their_own_noise() -> None:
    k, _ = make("return ((x * 2.0) + (y * 0.1)) * 1.11 - 0.5;")
    layout = noise.layout(k)
    assert layout.num_sigma == len(k.rounding_ops) == 5
    consumers = {k.nodes[op].op for op, _ in layout.constant_slots}
    texts = {k.nodes[k.nodes[op].args[pos]].text for op, pos in layout.constant_slots}
    assert texts == {"0.1", "1.11"}
    assert consumers == {"mul"}
    assert layout.num_eps == 5 + 2


# -- training -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rigid_body():
    k = benchmark("rigidBody1")
    inputs = sample_inputs(k, 4000, seed=21)
    sens = noise.sensitivities(k, inputs)
    first = noise.train(k, k.target_rmse, 7, sens)
    again = noise.train(k, k.target_rmse, 7, sens)
    return k, inputs, sens, first, again


def test_training_converges_to_the_target(rigid_body) -> None:
    k, inputs, _, result, _ = rigid_body
    assert result.converged
    assert result.steps <= noise.TrainingConfig().max_steps
    assert result.final_mse_ratio == pytest.approx(1.0, abs=0.1)
    predicted = noise.predicted_mse(k, result.sigma, inputs, seed=1)
    assert predicted == pytest.approx(k.target_rmse**2, rel=0.25, abs=0)


def test_training_gives_every_operation_an_equal_share(rigid_body) -> None:
    k, _, sens, result, _ = rigid_body
    n = len(k.rounding_ops)
    shares = result.sigma**2 * sens / k.target_rmse**2
    assert np.all((shares > 0.5 / n) & (shares < 2.0 / n)), shares
    assert shares.sum() == pytest.approx(1.0, rel=0.2, abs=0)
    # so the learned σ land near the first-order optimum, bit for bit
    optimum = first_order_optimum(sens, k.target_rmse)
    learned = np.log2(0.42466 / result.sigma)
    np.testing.assert_allclose(learned, optimum, atol=0.6)


def test_training_is_deterministic(rigid_body) -> None:
    _, _, _, first, again = rigid_body
    np.testing.assert_array_equal(first.sigma, again.sigma)
    assert (first.steps, first.converged) == (again.steps, again.converged)


def test_predicted_mse_of_sigma_for_bits_tracks_the_emulator() -> None:
    """The model at σ = k·2^-p predicts the emulator's MSE at p bits (rounding is not
    Gaussian, but its variance is what the model needs)."""
    from precisec.reference import emulate, exact

    k = benchmark("sine")
    inputs = sample_inputs(k, 5000, seed=4)
    ref = exact(k, inputs)
    for bits in (20, 30):
        allocation = dict.fromkeys(k.rounding_ops, bits)
        measured = np.mean(ref.errors(emulate(k, allocation, inputs)) ** 2)
        sigma = sigma_for_bits(np.full(len(k.rounding_ops), bits))
        predicted = noise.predicted_mse(k, sigma, inputs, seed=0)
        assert predicted == pytest.approx(measured, rel=0.5, abs=0), bits
    assert all(isinstance(k.nodes[i], Op) for i in k.rounding_ops)
