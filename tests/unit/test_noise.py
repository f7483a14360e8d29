"""The JAX noise model against closed forms, hand-derived sensitivities and the defining
interpreter, with kernels built directly in the IR."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable

import gmpy2
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ir_kernels import random_kernels
from ir_kernels import sample as random_sample

from precisec.errors import SourceLoc
from precisec.ir import REAL, Input, Kernel, Lit, Output, Var
from precisec.ir.builder import Builder, integer
from precisec.ir.check import verify
from precisec.semantics import noise
from precisec.semantics import tape as tape_module
from precisec.semantics.interpret import run
from precisec.semantics.noise_layout import constant_slots
from precisec.semantics.perturbed import PerturbedModel, significand_weight
from precisec.semantics.tape import build, long_runs, referenced

LOC = SourceLoc("k.c", 1, 1)
SIGMAS = [2.0**-8, 2.0**-30, 2.0**-60, 2.0**-120]
COUNT = 50_000


class Ex:
    """A value under construction: Python operators emit IR equations into `builder`."""

    def __init__(self, builder: Builder, atom: Var | Lit) -> None:
        self.builder = builder
        self.atom = atom

    def lift(self, other: Ex | float | str) -> Var | Lit:
        if isinstance(other, Ex):
            return other.atom
        return Lit.real(other if isinstance(other, str) else repr(float(other)))

    def op(self, name: str, *args: Ex | float | str) -> Ex:
        return Ex(self.builder, self.builder.op(name, [self.lift(a) for a in args], LOC))

    def __add__(self, o: Ex | float | str) -> Ex:
        return self.op("add", self, o)

    def __radd__(self, o: Ex | float | str) -> Ex:
        return self.op("add", o, self)

    def __sub__(self, o: Ex | float | str) -> Ex:
        return self.op("sub", self, o)

    def __rsub__(self, o: Ex | float | str) -> Ex:
        return self.op("sub", o, self)

    def __mul__(self, o: Ex | float | str) -> Ex:
        return self.op("mul", self, o)

    def __rmul__(self, o: Ex | float | str) -> Ex:
        return self.op("mul", o, self)

    def __truediv__(self, o: Ex | float | str) -> Ex:
        return self.op("div", self, o)

    def __rtruediv__(self, o: Ex | float | str) -> Ex:
        return self.op("div", o, self)


def straight(body: Callable[..., Ex], names: str = "xyz", box: tuple[float, float] = (1, 2),
             precision: str = "double") -> Kernel:
    """A kernel of scalar inputs `names` (each in `box`) returning body(*inputs)."""
    builder = Builder()
    inputs = [Ex(builder, builder.var(REAL, (), n)) for n in names]
    result = body(*inputs)
    params = [Input(n, (), (box[0],), (box[1],), LOC) for n in names]
    return verify(builder.kernel("k", LOC, params, [e.atom for e in inputs], True,
                                 [result.atom], precision=precision))


def sample(kernel: Kernel, count: int = COUNT, seed: int = 17) -> np.ndarray:
    lows, highs = np.array(kernel.lows), np.array(kernel.highs)
    return lows + (highs - lows) * np.random.Generator(np.random.PCG64(seed)).random(
        (count, len(lows)))


def power_loop(trips: int) -> Kernel:
    """p = x; repeat trips times: p = p * y; return p."""
    b = Builder()
    x, y = b.var(REAL, (), "x"), b.var(REAL, (), "y")
    b.push()
    counter, p = b.var("int"), b.var(REAL)
    body = b.pop([counter, p], [b.op("mul", [p, y], LOC)])
    (out,) = b.loop(0, 1, trips, [x], body, LOC)
    params = [Input("x", (), (1.0,), (2.0,), LOC), Input("y", (), (1.0,), (1.2,), LOC)]
    return verify(b.kernel("power", LOC, params, [x, y], True, [out]))


def sum_loop(trips: int) -> Kernel:
    """s = 0; repeat trips times: s = s + x * 0.1 (an inexact constant inside a loop)."""
    b = Builder()
    x = b.var(REAL, (), "x")
    b.push()
    counter, s = b.var("int"), b.var(REAL)
    body = b.pop([counter, s], [b.op("add", [s, b.op("mul", [x, Lit.real("0.1")], LOC)], LOC)])
    (out,) = b.loop(0, 1, trips, [Lit.real("0")], body, LOC)
    return verify(b.kernel("sum", LOC, [Input("x", (), (1.0,), (2.0,), LOC)], [x], True, [out]))


# -- the Monte-Carlo model against closed forms -------------------------------------------

def closed_forms() -> dict[str, tuple[Callable[..., Ex], Callable[..., float]]]:
    """(body, MSE(σ, x, y, z) with one σ for every site, as a sample mean)."""
    return {
        # one rounding: σ² E[(xy)²]
        "single multiply": (lambda x, y, z: x * y,
                            lambda s, x, y, z: s**2 * np.mean((x * y) ** 2)),
        # (x+y)(1+σε1) + z, then (1+σε2): σ²E[(x+y)²] + σ²E[(x+y+z)²] + σ⁴E[(x+y)²]
        "sum of three": (lambda x, y, z: (x + y) + z,
                         lambda s, x, y, z: s**2 * np.mean((x + y) ** 2)
                         + s**2 * np.mean((x + y + z) ** 2) + s**4 * np.mean((x + y) ** 2)),
        # xyz(1+σε1)(1+σε2) - xyz: E[(xyz)²](2σ² + σ⁴)
        "product chain": (lambda x, y, z: (x * y) * z,
                          lambda s, x, y, z: (2 * s**2 + s**4) * np.mean((x * y * z) ** 2)),
        # an exact constant adds no noise of its own
        "exact constant": (lambda x, y, z: x * 2.0,
                           lambda s, x, y, z: s**2 * np.mean((2 * x) ** 2)),
        # 1.11 is rounded at the consumer's precision: its own ε with the consumer's σ
        "inexact constant": (lambda x, y, z: x * "1.11",
                             lambda s, x, y, z: (2 * s**2 + s**4) * np.mean((1.11 * x) ** 2)),
        "quotient": (lambda x, y, z: x / y, lambda s, x, y, z: s**2 * np.mean((x / y) ** 2)),
    }


@pytest.mark.parametrize("sigma", SIGMAS, ids=lambda s: f"2^{int(np.log2(s))}")
@pytest.mark.parametrize("name", list(closed_forms()))
def test_predicted_mse_matches_closed_form(name: str, sigma: float) -> None:
    body, mse = closed_forms()[name]
    k = straight(body)
    inputs = sample(k)
    predicted = noise.predicted_mse(k, np.full(len(k.sites), sigma), inputs, seed=3)
    assert predicted == pytest.approx(mse(sigma, *inputs.T), rel=0.05, abs=0)


@pytest.mark.parametrize("sigma", SIGMAS, ids=lambda s: f"2^{int(np.log2(s))}")
def test_predicted_mse_inside_a_loop(sigma: float) -> None:
    # p = x·y^10·Π(1 + σε_t): E[(x y^10)²]·((1 + σ²)^10 − 1), exactly
    k = power_loop(10)
    inputs = sample(k)
    x, y = inputs.T
    want = np.mean((x * y**10) ** 2) * math.expm1(10 * math.log1p(sigma**2))
    predicted = noise.predicted_mse(k, np.full(1, sigma), inputs, seed=4)
    assert predicted == pytest.approx(want, rel=0.05, abs=0)


@pytest.mark.parametrize("sigma", SIGMAS, ids=lambda s: f"2^{int(np.log2(s))}")
def test_inexact_constant_inside_a_loop_gets_noise_per_iteration(sigma: float) -> None:
    # iteration t: m_t = 0.1x(1+σε_c)(1+σε_m), s_t = (s_{t-1} + m_t)(1+σε_a) with
    # s_t = 0.1·x·t: to first order σ²·0.01x²·(2T + Σ t²)
    trips = 10
    k = sum_loop(trips)
    inputs = sample(k)
    x = inputs[:, 0]
    want = sigma**2 * np.mean(0.01 * x**2) * (2 * trips + sum(t * t for t in range(1, 11)))
    predicted = noise.predicted_mse(k, np.full(2, sigma), inputs, seed=5)
    assert predicted == pytest.approx(want, rel=0.05, abs=0)


def test_predicted_mse_with_different_sigmas_per_site() -> None:
    # (x * y) + z with σ_mul, σ_add: σ_mul² E[(xy)²] + σ_add² E[(xy+z)²] to first order
    k = straight(lambda x, y, z: (x * y) + z)
    inputs = sample(k)
    x, y, z = inputs.T
    for s_mul, s_add in [(2.0**-20, 2.0**-40), (2.0**-70, 2.0**-50)]:
        predicted = noise.predicted_mse(k, np.array([s_mul, s_add]), inputs, seed=5)
        want = s_mul**2 * np.mean((x * y) ** 2) + s_add**2 * np.mean((x * y + z) ** 2)
        assert predicted == pytest.approx(want, rel=0.05, abs=0)


@pytest.mark.parametrize("sigma", SIGMAS[1:], ids=lambda s: f"2^{int(np.log2(s))}")
def test_noise_model_is_faithful_far_below_double(sigma: float) -> None:
    # (x + 1e10) - 1e10 is x, but the add's rounding error is on 1e10
    k = straight(lambda x: (x + 1e10) - 1e10, names="x")
    inputs = sample(k, seed=1)
    x = inputs[:, 0]
    predicted = noise.predicted_mse(k, np.full(2, sigma), inputs, seed=2)
    # add: (x+1e10)σε1; sub: ((x+1e10)(1+σε1) - 1e10)σε2 ≈ xσε2
    want = sigma**2 * (np.mean((x + 1e10) ** 2) + np.mean(x**2))
    assert predicted == pytest.approx(want, rel=0.05, abs=0)


def fma_chain(x: Ex, y: Ex, z: Ex) -> Ex:
    return (x.op("fma", x, y, z) - x * y) / x.op("sqrt", y + z)


@given(st.lists(st.floats(-3, 3), min_size=6, max_size=6),
       st.floats(1, 2), st.floats(1, 2), st.floats(1, 2))
def test_perturbation_is_exact_for_the_basic_operations(eps: list[float], x: float, y: float,
                                                        z: float) -> None:
    """At σ = 2^-100 the carried perturbation equals noisy − clean computed at 600 bits
    (each rounding's result times 1 + σε): no cancellation against the clean values, not
    even in fma(x, y, z) − x·y."""
    k = straight(fma_chain)
    assert [s.op for s in k.sites] == ["fma", "mul", "sub", "add", "sqrt", "div"]
    sigma = 2.0**-100
    model = PerturbedModel(k)
    _, delta = model.flat(jnp.array([x, y, z]), jnp.full(6, sigma), jnp.array(eps))
    ctx = gmpy2.context(precision=600)

    def value(f: list[object]) -> object:
        a, b, c = gmpy2.mpfr(x), gmpy2.mpfr(y), gmpy2.mpfr(z)
        difference = ctx.mul(ctx.sub(ctx.mul(ctx.fma(a, b, c), f[0]),
                                     ctx.mul(ctx.mul(a, b), f[1])), f[2])
        root = ctx.mul(ctx.sqrt(ctx.mul(ctx.add(b, c), f[3])), f[4])
        return ctx.mul(ctx.div(difference, root), f[5])

    noisy = value([ctx.add(1, ctx.mul(sigma, e)) for e in eps])
    exact = float(ctx.sub(noisy, value([1] * 6)))
    assert float(delta) == pytest.approx(exact, rel=1e-12, abs=1e-300)


# -- sensitivities and moments ------------------------------------------------------------

def test_sensitivities_by_hand() -> None:
    k = straight(lambda x, y, z: (x * y) + z)
    inputs = sample(k, 4000)
    x, y, z = inputs.T
    np.testing.assert_allclose(noise.sensitivities(k, inputs),
                               [np.mean((x * y) ** 2), np.mean((x * y + z) ** 2)], rtol=1e-10)


def test_sensitivities_of_functions_and_division() -> None:
    k = straight(lambda x, y, z: x.op("exp", x) - y.op("sqrt", y) / z)
    inputs = sample(k, 4000)
    x, y, z = inputs.T
    assert [s.op for s in k.sites] == ["exp", "sqrt", "div", "sub"]
    q = np.sqrt(y) / z
    # the sqrt's perturbation flows through the division unchanged in relative terms
    want = [np.mean(np.exp(x) ** 2), np.mean(q**2), np.mean(q**2), np.mean((np.exp(x) - q) ** 2)]
    np.testing.assert_allclose(noise.sensitivities(k, inputs), want, rtol=1e-10)


def test_sensitivity_through_shared_subexpression() -> None:
    # t used twice: y = t*t, ∂y/∂t · t = 2t², so S_t = E[4 t⁴]
    def body(x: Ex, y: Ex, z: Ex) -> Ex:
        t = x + y
        return t * t

    k = straight(body)
    inputs = sample(k, 4000)
    t = inputs[:, 0] + inputs[:, 1]
    np.testing.assert_allclose(noise.sensitivities(k, inputs),
                               [np.mean(4 * t**4), np.mean(t**4)], rtol=1e-10)


def test_sensitivities_sum_over_loop_iterations() -> None:
    # p_T = x·y^T: each iteration's relative error reaches the result whole, T times
    k = power_loop(100)
    inputs = sample(k, 2000)
    x, y = inputs.T
    np.testing.assert_allclose(noise.sensitivities(k, inputs),
                               [100 * np.mean((x * y**100) ** 2)], rtol=1e-10)


def test_forward_and_reverse_mode_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    k = straight(lambda x, y, z: (x * "0.1") / (y + z))
    inputs = sample(k, 3000)
    forward = noise.sensitivities(k, inputs)
    monkeypatch.setattr(noise, "FORWARD_LIMIT", 0)
    np.testing.assert_allclose(noise.sensitivities(k, inputs), forward, rtol=1e-12)
    moments = noise.site_moments(k, inputs, significand_aware=False)
    assert moments.shape == (3000, 3)
    np.testing.assert_allclose(moments.mean(axis=0), forward, rtol=1e-12)


def test_chunks_do_not_change_the_moments(monkeypatch: pytest.MonkeyPatch) -> None:
    k = sum_loop(20)
    inputs = sample(k, 50)
    whole = noise.site_moments(k, inputs)
    noise_layout = PerturbedModel(k).layout
    monkeypatch.setattr(noise, "CHUNK_BYTES", 7 * noise.BYTES_PER_OP * noise_layout.dynamic_ops)
    assert noise.chunk_size(noise_layout, len(inputs)) == 7
    np.testing.assert_allclose(noise.site_moments(k, inputs), whole, rtol=1e-14)


def test_significand_aware_moments() -> None:
    # one multiply: G(x) = (xy · w(xy))² with w = 1/(√3·k·m)
    k = straight(lambda x, y, z: x * y)
    inputs = sample(k, 1000)
    product = inputs[:, 0] * inputs[:, 1]
    mantissa, _ = np.frexp(product)
    k_rounding = 1 / math.sqrt(8 * math.log(2))
    want = (product / (math.sqrt(3) * k_rounding * 2 * mantissa)) ** 2
    np.testing.assert_allclose(noise.site_moments(k, inputs)[:, 0], want, rtol=1e-12)
    assert float(significand_weight(jnp.asarray(0.0))) == 0.0


def test_first_order_model_agrees_with_the_noise_model() -> None:
    """Σ σ_s² S_s is the model's MSE at small σ, also with an inexact constant (noise of
    its own with its consumer's σ) and inside a loop."""
    kernels = [straight(lambda x, y, z: (x * y) + z), straight(lambda x, y, z: (x * "1.11") + z),
               straight(lambda x, y, z: ("0.1" * x) / "3.3"), sum_loop(30), power_loop(30)]
    for k in kernels:
        inputs = sample(k, 20_000)
        sigma = np.full(len(k.sites), 2.0**-40)
        first_order = float(np.sum(sigma**2 * noise.sensitivities(k, inputs)))
        assert first_order == pytest.approx(noise.predicted_mse(k, sigma, inputs, seed=9),
                                            rel=0.05, abs=0)


def branchy() -> Kernel:
    """if (x > 1) acos(1/x) else sqrt(1 - x*x): each side is NaN where it is not taken."""
    b = Builder()
    x = b.var(REAL, (), "x")
    pred = b.op("gt", [x, Lit.real("1")], LOC)
    b.push()
    then = b.pop([], [b.op("acos", [b.op("div", [Lit.real("1"), x], LOC)], LOC)])
    b.push()
    other = b.pop([], [b.op("sqrt", [b.op("sub", [Lit.real("1"),
                                                  b.op("mul", [x, x], LOC)], LOC)], LOC)])
    (out,) = b.cond(pred, then, other, LOC)
    return verify(b.kernel("branchy", LOC, [Input("x", (), (-0.9,), (2.0,), LOC)], [x], True,
                           [out]))


def test_branches_follow_clean_values_without_poison() -> None:
    k = branchy()
    inputs = sample(k, 4000)
    x = inputs[:, 0]
    hi, lo = x > 1, x <= 1
    u = np.where(hi, 1 / x, 0.5)
    w = np.where(lo, 1 - x * x, 0.5)
    want = [np.mean(hi * u**2 / (1 - u**2)), np.mean(hi * np.arccos(u) ** 2),
            np.mean(lo * x**4 / (4 * w)), np.mean(lo * w / 4), np.mean(lo * w)]
    np.testing.assert_allclose(noise.sensitivities(k, inputs), want, rtol=1e-10)
    moments = noise.site_moments(k, inputs)
    assert np.all(np.isfinite(moments))
    assert noise.predicted_mse(k, np.full(5, 2.0**-30), inputs, seed=1) > 0


def array_kernel() -> Kernel:
    """Loads, stores, a branch, C integer division and remainder of negative numbers and
    an integer used as a real, inside a loop over an input array; returns the sum and the
    stored array."""
    b = Builder()
    a, x, out = b.var(REAL, (4,), "a"), b.var(REAL, (), "x"), b.var(REAL, (4,), "out")
    b.push()
    i, acc, arr = b.var("int"), b.var(REAL), b.var(REAL, (4,))
    index = b.op("iadd", [b.op("imod", [b.op("isub", [i, integer(5)], LOC), integer(3)], LOC),
                          integer(2)], LOC)
    quotient = b.op("itof", [b.op("idiv", [b.op("isub", [i, integer(3)], LOC), integer(2)],
                                  LOC)], LOC)
    v = b.op("load", [a, index], LOC)
    b.push()
    then = b.pop([], [b.op("mul", [v, quotient], LOC)])
    b.push()
    other = b.pop([], [b.op("sub", [v, x], LOC)])
    (w,) = b.cond(b.op("gt", [v, x], LOC), then, other, LOC)
    body = b.pop([i, acc, arr], [b.op("add", [acc, w], LOC), b.op("store", [arr, i, w], LOC)])
    total, stored = b.loop(0, 1, 4, [Lit.real("0.5"), out], body, LOC)
    params = [Input("a", (4,), (0.0,) * 4, (1.0,) * 4, LOC), Input("x", (), (0.0,), (1.0,), LOC),
              Output("out", (4,), LOC)]
    return verify(b.kernel("arrays", LOC, params, [a, x, out], True, [total, stored]))


def test_clean_values_agree_with_the_defining_interpreter() -> None:
    k = array_kernel()
    model = PerturbedModel(k)
    for point in sample(k, 20, seed=3):
        values, deltas = model.flat(jnp.asarray(point), jnp.zeros(len(k.sites)),
                                    jnp.zeros(model.layout.size))
        exact = [float(v) for v in run(k, point, exact_bits=200).results]
        np.testing.assert_allclose(np.asarray(values), exact, rtol=1e-14, atol=1e-15)
        assert not np.any(np.asarray(deltas))


def test_float_kernels_read_float_inputs() -> None:
    k = straight(lambda x: x * x, names="x", precision="float")
    value, _ = PerturbedModel(k).flat(jnp.array([0.1]), jnp.zeros(1), jnp.zeros(1))
    assert float(value) == float(np.float32(0.1)) ** 2


# -- many results, constants, chunked Monte Carlo, configuration ---------------------------

def fan_out(count: int) -> Kernel:
    """s = x * y; out[i] = s * (i + 1) + z: s's noise reaches every result."""
    b = Builder()
    x, y, z = (b.var(REAL, (), n) for n in "xyz")
    out = b.var(REAL, (count,), "out")
    s = b.op("mul", [x, y], LOC)
    array = out
    for i in range(count):
        scaled = b.op("mul", [s, Lit.real(str(i + 1))], LOC)
        array = b.op("store", [array, integer(i), b.op("add", [scaled, z], LOC)], LOC)
    params = [*(Input(n, (), (1.0,), (2.0,), LOC) for n in "xyz"), Output("out", (count,), LOC)]
    return verify(b.kernel("fan", LOC, params, [x, y, z, out], False, [array]))


def test_many_results_use_an_unbiased_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    k = fan_out(20)
    assert len(k.result_labels) > noise.EXACT_RESULTS
    inputs = sample(k, 2000)
    estimated = noise.sensitivities(k, inputs)
    monkeypatch.setattr(noise, "EXACT_RESULTS", 64)
    monkeypatch.setattr(noise, "PROBES", 64)
    exact = noise.sensitivities(k, inputs)
    s = inputs[:, 0] * inputs[:, 1]
    assert exact[0] == pytest.approx(np.mean(s**2) * np.mean(np.arange(1, 21) ** 2), rel=1e-10)
    np.testing.assert_allclose(estimated, exact, rtol=0.05)


def test_constant_slots_in_site_order() -> None:
    k = straight(lambda x, y, z: ((x * 2.0) + (y * "0.1")) * "1.11" - 0.5)
    slots = constant_slots(k)
    assert [(site, position, lit.text) for site, position, lit in slots] == \
        [(1, 1, "0.1"), (3, 1, "1.11")]
    assert {k.sites[site].op for site, _, _ in slots} == {"mul"}
    assert PerturbedModel(k).layout.size == 5 + 2


def test_known_constant_errors_replace_their_noise() -> None:
    # x·1.11·(1+e)(1+σε) − 1.11x: E[(1.11x)²]·(e² + σ²(1+e)²)
    k = straight(lambda x: x * "1.11", names="x")
    inputs = sample(k)
    x = inputs[:, 0]
    error, sigma = 1e-3, 2.0**-30
    predicted = noise.predicted_mse(k, np.array([sigma]), inputs, seed=1,
                                    constant_errors=np.array([error]))
    want = np.mean((1.11 * x) ** 2) * (error**2 + sigma**2 * (1 + error) ** 2)
    assert predicted == pytest.approx(want, rel=1e-3)


def test_chunked_monte_carlo_matches_the_closed_form(monkeypatch: pytest.MonkeyPatch) -> None:
    k = power_loop(10)
    inputs = sample(k, 20_000)
    monkeypatch.setattr(noise, "NOISE_ENTRIES", 10 * 3000)
    x, y = inputs.T
    sigma = 2.0**-40
    want = np.mean((x * y**10) ** 2) * 10 * sigma**2
    predicted = noise.predicted_mse(k, np.array([sigma]), inputs, seed=4)
    assert predicted == pytest.approx(want, rel=0.05)
    assert predicted == noise.predicted_mse(k, np.array([sigma]), inputs, seed=4)


def test_monte_carlo_draws_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    k = power_loop(10)
    inputs = sample(k, 1000)
    sigma = np.array([2.0**-30])
    first = noise.predicted_mse(k, sigma, inputs[:300], seed=4)
    monkeypatch.setattr(noise, "MONTE_CARLO_DRAWS", 10 * 300)
    monkeypatch.setattr(noise, "MONTE_CARLO_MIN_SAMPLES", 10)
    assert noise.predicted_mse(k, sigma, inputs, seed=4) == first


def test_jax_is_configured_on_first_use_not_on_import() -> None:
    code = ("import jax, precisec.semantics.noise as n; a = jax.config.jax_enable_x64; "
            "n.configure_jax(); print(a, jax.config.jax_enable_x64)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]


# -- tapes: long straight runs as data ------------------------------------------------------

def horner(terms: int) -> Kernel:
    """p = 1; p = p * x + c_k, terms times (2 sites per term, an inexact constant each)."""
    def body(x: Ex) -> Ex:
        p: Ex | float = 1.0
        for k in range(terms):
            p = x * p + f"0.{(37 * k) % 90 + 10}"  # type: ignore[operator]
        return p  # type: ignore[return-value]

    return straight(body, names="x", box=(-0.5, 0.5))


def test_long_runs_become_small_tapes() -> None:
    k = horner(100)
    (run,) = long_runs(k.body.stmts).items()
    assert run == (0, 200)
    built = build(k.body.stmts, PerturbedModel(k).constant_slot,  # type: ignore[arg-type]
                  referenced((), k.body.results))
    assert built.registers <= 3
    assert [var for var, _ in built.exports] == list(k.body.results)


TAPED = {
    "fma chain": lambda: straight(fma_chain),
    "two constants in one operation": lambda: straight(lambda x, y, z: x.op("fma", "0.1", "0.3",
                                                                            x * y) / z),
    "branches": branchy,
    "loop with a constant": lambda: sum_loop(7),
    "arrays": array_kernel,
    "horner": lambda: horner(40),
}


@pytest.mark.parametrize("name", list(TAPED))
def test_tapes_agree_with_equation_by_equation(name: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    k = TAPED[name]()
    inputs = sample(k, 500, seed=8)
    model = PerturbedModel(k, significand_aware=True)
    eps = np.random.default_rng(2).standard_normal((len(inputs), model.layout.size))
    sigma = np.full(len(k.sites), 2.0**-30)

    def evaluate() -> list[np.ndarray]:
        values, deltas = model.batch(jnp.asarray(inputs), jnp.asarray(sigma), jnp.asarray(eps))
        return [np.asarray(values), np.asarray(deltas), noise.sensitivities(k, inputs),
                noise.site_moments(k, inputs)]

    monkeypatch.setattr(tape_module, "TAPE_MIN", 10**9)
    traced = evaluate()
    monkeypatch.setattr(tape_module, "TAPE_MIN", 1)
    for taped, want in zip(evaluate(), traced, strict=True):
        np.testing.assert_allclose(taped, want, rtol=1e-12, atol=1e-300)


# -- random kernels: loops, branches and arrays nested two deep ------------------------------

@settings(max_examples=12)
@given(st.data())
def test_random_kernels_clean_values_agree_with_the_interpreter(data: st.DataObject) -> None:
    """σ = 0: the model's values are the float64 program, i.e. the interpreter with every
    site at 53 bits, up to the libm functions' last bits."""
    k = data.draw(random_kernels())
    model = PerturbedModel(k)
    for point in random_sample(k, 4, seed=5):
        values, deltas = model.flat(jnp.asarray(point), jnp.zeros(len(k.sites)),
                                    jnp.zeros(model.layout.size))
        emulated = [float(v) for v in run(k, point, [53] * len(k.sites)).results]
        np.testing.assert_allclose(np.asarray(values), emulated, rtol=1e-9, atol=1e-9)
        assert not np.any(np.asarray(deltas))


@pytest.mark.slow
@settings(max_examples=8)
@given(st.data())
def test_random_kernels_taped_as_traced(data: st.DataObject) -> None:
    k = data.draw(random_kernels())
    inputs = random_sample(k, 64, seed=6)
    model = PerturbedModel(k, significand_aware=True)
    eps = np.random.default_rng(3).standard_normal((len(inputs), model.layout.size))
    sigma = jnp.full(len(k.sites), 2.0**-20)

    def evaluate() -> list[np.ndarray]:
        values, deltas = model.batch(jnp.asarray(inputs), sigma, jnp.asarray(eps))
        return [np.asarray(values), np.asarray(deltas), noise.site_moments(k, inputs)]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tape_module, "TAPE_MIN", 10**9)
        traced = evaluate()
        patch.setattr(tape_module, "TAPE_MIN", 1)
        for taped, want in zip(evaluate(), traced, strict=True):
            np.testing.assert_allclose(taped, want, rtol=1e-10, atol=1e-300)
