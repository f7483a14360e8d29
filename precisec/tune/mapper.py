"""From noise deviations to precisions, and the first-order optimum (docs/method.md §3, §7).

The constant k. Round-to-nearest at p bits moves a value x = m·2^e (1 ≤ m < 2) by an
error uniform on ±ulp/2 with ulp = 2^(1−p)·2^e, so the relative error e/x has
E[(e/x)²] = (ulp²/12)·E[1/m²]·4^-e = 4^(1−p)/12 · E[1/m²]. For significands distributed
logarithmically on [1, 2) (Benford's law, density 1/(m ln 2)),
E[1/m²] = ∫₁² m⁻³/ln 2 dm = 3/(8 ln 2), hence
    RMS relative error = 2^-p · sqrt(4·3/(12·8 ln 2)) = 2^-p / sqrt(8 ln 2) ≈ 0.4247 · 2^-p.
"""

from __future__ import annotations

import math

import numpy as np

K_ROUNDING = 1.0 / math.sqrt(8.0 * math.log(2.0))
MIN_BITS = 2
MAX_BITS = 512


def bits_for_sigma(sigma: float) -> int:
    """Fewest bits whose rounding noise has RMS relative error at most σ."""
    if sigma <= 0:
        return MAX_BITS
    bits = math.ceil(math.log2(K_ROUNDING / sigma) - 1e-9)
    return min(max(bits, MIN_BITS), MAX_BITS)


def sigma_for_bits(bits: int | np.ndarray) -> np.ndarray:
    """RMS relative rounding error at the given precision."""
    return K_ROUNDING * np.exp2(-np.asarray(bits, dtype=float))


def first_order_optimum(sens: np.ndarray, target: float, min_bits: float = 1.0) -> np.ndarray:
    """Continuous minimiser of mean(p) s.t. Σ k² S_i 4^-p_i ≤ τ², p_i ≥ min_bits.

    Without the lower bound every operation takes an equal share of the budget,
    p_i = ½ log2(n k² S_i / τ²). Operations whose share-optimum falls below min_bits are
    pinned there and the rest re-solved with what budget they leave (water-filling).
    """
    # An infinite sensitivity (inputs near DBL_MAX) wants infinitely many bits, and a NaN
    # one (the model's doubles overflowed) says nothing: both get MAX_BITS.
    bits = _water_filling(np.asarray(sens, dtype=float), target, min_bits)
    return np.minimum(np.nan_to_num(bits, nan=MAX_BITS), MAX_BITS)


def _water_filling(sens: np.ndarray, target: float, min_bits: float) -> np.ndarray:
    if not 1e-150 < target < 1e150:  # τ² would leave the double range: work in units of τ²
        with np.errstate(over="ignore", under="ignore"):
            return _water_filling(sens / target / target, 1.0, min_bits)
    pinned = np.zeros(len(sens), dtype=bool)
    while True:
        budget = target**2 - np.sum(K_ROUNDING**2 * sens[pinned] * 4.0 ** -min_bits)
        free = ~pinned
        count = int(np.sum(free))
        bits = np.full(len(sens), float(min_bits))
        if count == 0 or budget <= 0:
            return bits
        with np.errstate(divide="ignore"):
            bits[free] = 0.5 * np.log2(count * K_ROUNDING**2 * sens[free] / budget)
        low = free & (bits < min_bits)
        if not np.any(low):
            return bits
        pinned |= low
