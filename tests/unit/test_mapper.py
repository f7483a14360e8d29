"""The mapper (docs/method.md §3): K_ROUNDING against real rounding, σ <-> bits, and the
first-order optimum."""

from __future__ import annotations

import math

import gmpy2
import numpy as np
import pytest
from helpers import kernel, ranges
from hypothesis import given, settings
from hypothesis import strategies as st

from precisec.semantics.compiled import Evaluator
from precisec.tune.mapper import (
    K_ROUNDING,
    MAX_BITS,
    MIN_BITS,
    bits_for_sigma,
    first_order_optimum,
    sigma_for_bits,
)

PRECISIONS = [11, 24, 30, 45]


def log_uniform(count: int, seed: int, lo_exp: float, hi_exp: float) -> np.ndarray:
    """Positive doubles whose base-2 logarithm is uniform on [lo_exp, hi_exp)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    return np.exp2(rng.uniform(lo_exp, hi_exp, count))


def test_k_rounding_is_the_benford_constant() -> None:
    # E[1/m²] for m log-distributed on [1, 2) is 3/(8 ln 2); ulp²/12 per unit of 4^(1-p)
    expected = math.sqrt(4.0 / 12.0 * 3.0 / (8.0 * math.log(2.0)))
    assert pytest.approx(expected, rel=1e-12, abs=0) == K_ROUNDING
    assert 0.42 < K_ROUNDING < 0.43


def test_k_rounding_matches_the_emulator() -> None:
    """Rounding log-uniform doubles through the emulator (x * 1.0 at p bits)."""
    k = kernel(ranges(x=(1, 256)) + "double f(double x) {\n    return x * 1.0;\n}\n")
    with Evaluator(k) as evaluator:
        for bits in PRECISIONS:
            values = log_uniform(40_000, seed=bits, lo_exp=0.0, hi_exp=8.0)
            rounded = evaluator.emulate([bits], values[:, None]).outputs[:, 0]
            relative = (rounded - values) / values  # rounded - values is exact (Sterbenz)
            rms = float(np.sqrt(np.mean(relative**2)))
            assert rms == pytest.approx(K_ROUNDING * 2.0**-bits, rel=0.05, abs=0), bits


@pytest.mark.parametrize("bits", PRECISIONS)
def test_k_rounding_matches_gmpy2_rounding_of_wide_values(bits: int) -> None:
    """Values with 200-bit significands (exp2 of random exponents), rounded at p bits."""
    rng = np.random.Generator(np.random.PCG64(1000 + bits))
    wide = gmpy2.context(precision=200)
    squares = []
    for u in rng.uniform(-20.0, 20.0, 20_000):
        value = wide.exp2(gmpy2.mpfr(float(u)))
        rounded = gmpy2.mpfr(value, bits)
        squares.append(float(wide.div(wide.sub(rounded, value), value)) ** 2)
    rms = math.sqrt(math.fsum(squares) / len(squares))
    assert rms == pytest.approx(K_ROUNDING * 2.0**-bits, rel=0.05, abs=0)


# -- sigma <-> bits -----------------------------------------------------------------------

@given(bits=st.integers(MIN_BITS, MAX_BITS))
def test_bits_for_sigma_inverts_sigma_for_bits(bits: int) -> None:
    assert bits_for_sigma(float(sigma_for_bits(bits))) == bits


@given(sigma=st.floats(K_ROUNDING * 2.0**-(MAX_BITS - 1), K_ROUNDING * 2.0**-MIN_BITS))
def test_bits_for_sigma_is_the_fewest_bits_meeting_sigma(sigma: float) -> None:
    bits = bits_for_sigma(sigma)
    assert MIN_BITS <= bits <= MAX_BITS
    assert float(sigma_for_bits(bits)) <= sigma * (1 + 1e-8)
    if bits > MIN_BITS:
        assert float(sigma_for_bits(bits - 1)) > sigma


@given(a=st.floats(1e-200, 1.0), b=st.floats(1e-200, 1.0))
def test_bits_for_sigma_is_monotone(a: float, b: float) -> None:
    small, large = sorted((a, b))
    assert bits_for_sigma(small) >= bits_for_sigma(large)


def test_bits_for_sigma_clamps() -> None:
    assert bits_for_sigma(1.0) == MIN_BITS
    assert bits_for_sigma(1e-300) == MAX_BITS
    assert bits_for_sigma(0.0) == MAX_BITS
    assert bits_for_sigma(2.0**-53) == 52  # k·2^-52 ≈ 0.42·2^-52 < 2^-53
    np.testing.assert_allclose(sigma_for_bits(np.array([24, 53])),
                               K_ROUNDING * np.array([2.0**-24, 2.0**-53]))


# -- first-order optimum ------------------------------------------------------------------

def model_mse(sens: np.ndarray, bits: np.ndarray) -> float:
    return float(np.sum(K_ROUNDING**2 * sens * 4.0**-bits))


@settings(max_examples=100)
@given(sens=st.lists(st.floats(1e-6, 1e6), min_size=1, max_size=12),
       target=st.floats(1e-20, 1e-8))
def test_first_order_optimum_gives_equal_shares_and_meets_the_budget(
        sens: list[float], target: float) -> None:
    s = np.array(sens)
    bits = first_order_optimum(s, target)
    if np.any(bits <= 1.0 + 1e-12):
        return  # pinned: covered below
    shares = K_ROUNDING**2 * s * 4.0**-bits / target**2
    np.testing.assert_allclose(shares, 1.0 / len(s), rtol=1e-9)
    assert model_mse(s, bits) == pytest.approx(target**2, rel=1e-9, abs=0)
    np.testing.assert_allclose(bits, 0.5 * np.log2(len(s) * K_ROUNDING**2 * s / target**2),
                               rtol=1e-12)


def test_first_order_optimum_pins_cheap_operations_at_min_bits() -> None:
    sens = np.array([1.0, 1.0, 1e-40, 1.0])
    target = 1e-10
    bits = first_order_optimum(sens, target, min_bits=2.0)
    assert bits[2] == 2.0
    free = [0, 1, 3]
    # the others share what the pinned operation leaves, equally, and the budget is met
    assert model_mse(sens, bits) == pytest.approx(target**2, rel=1e-9, abs=0)
    shares = K_ROUNDING**2 * sens[free] * 4.0 ** -bits[free]
    np.testing.assert_allclose(shares, shares[0], rtol=1e-9)
    assert np.all(bits[free] > 2.0)


@settings(max_examples=100)
@given(sens=st.lists(st.floats(1e-30, 1e6), min_size=1, max_size=12),
       target=st.floats(1e-16, 1e-2), min_bits=st.sampled_from([1.0, 2.0, 8.0]))
def test_first_order_optimum_with_pinning_meets_the_budget(
        sens: list[float], target: float, min_bits: float) -> None:
    s = np.array(sens)
    bits = first_order_optimum(s, target, min_bits=min_bits)
    assert np.all(bits >= min_bits - 1e-9)
    free = bits > min_bits + 1e-9
    if np.any(free):
        # constraint active: met with equality, free operations at equal shares
        assert model_mse(s, bits) == pytest.approx(target**2, rel=1e-8, abs=0)
        shares = s[free] * 4.0 ** -bits[free]
        np.testing.assert_allclose(shares, shares[0], rtol=1e-8)
        # a pinned operation would want fewer bits than it has
        pinned_share = K_ROUNDING**2 * s[~free] * 4.0**-min_bits
        assert np.all(pinned_share <= K_ROUNDING**2 * shares[0] * (1 + 1e-8))
    else:
        assert model_mse(s, bits) <= target**2 * (1 + 1e-9)


def test_first_order_optimum_is_a_lower_bound_on_integer_allocations() -> None:
    # no integer allocation meeting the modelled budget has a smaller mean
    rng = np.random.Generator(np.random.PCG64(0))
    sens = rng.uniform(0.01, 10.0, 5)
    target = 1e-12
    optimum = float(np.mean(first_order_optimum(sens, target)))
    for _ in range(2000):
        bits = np.ceil(first_order_optimum(sens, target)) + rng.integers(-3, 2, 5)
        if model_mse(sens, bits) <= target**2:
            assert np.mean(bits) >= optimum - 1e-9


def test_first_order_optimum_pins_sites_without_influence() -> None:
    """A site whose noise never reaches the result (sensitivity 0) takes min_bits; an
    empty kernel has no bits."""
    bits = first_order_optimum(np.array([0.0, 2.0, 0.0]), 1e-10)
    assert bits[0] == bits[2] == 1.0
    assert model_mse(np.array([2.0]), bits[1:2]) == pytest.approx(1e-20, rel=1e-9, abs=0)
    assert first_order_optimum(np.array([]), 1e-10).shape == (0,)
