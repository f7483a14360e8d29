"""Sensitivities beyond the double range, in log2 (docs/method.md §2).

An absolute sensitivity is a mean square of ∂y/∂ε, in the output's units squared: for
results near ±DBL_MAX (ranges up to ±1.7e308) it is around 1e615 and the model's doubles
give inf, and shares of it NaN. The relative moments G_s(x) = (∂y/∂ε_s / y)² stay
finite there, and S_s = mean_x y(x)²·G_s(x), so log2 S_s comes out of them and the
exact results' log2 |y| by a log-mean-exp with no overflow: exact for one result, with
the mean square of the results in place of each one's square otherwise (the moments are
means over the results). Inputs whose results exceed 2^1021 have no finite figure either
way (the model's weight 1/y is subnormal there, and XLA flushes it to 0): the mean over
the others is scaled by the ratio of all inputs' mean square result to theirs (the
ratio estimate, exact when the relative moments do not depend on the result's size), and
the report says how many inputs were used. Analysis reports these, their shares, and the
first-order optimum solved in units of a power of two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from precisec.ir import Kernel
from precisec.semantics import noise
from precisec.tune.mapper import first_order_optimum

RELATIVE_LIMIT = 2.0**1021


def log_mean_exp2(terms: np.ndarray) -> np.ndarray:
    """Per column, log2 of the mean of 2^terms (-inf for a column of -inf)."""
    top = np.max(terms, axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(top),
                        safe + np.log2(np.mean(np.exp2(terms - safe), axis=0)), -np.inf)


@dataclass(frozen=True)
class LogSensitivities:
    """log2 S per site, from `used` of `count` inputs (the others: no finite figure)."""

    log2: np.ndarray
    used: int
    count: int


def log2_sensitivities(kernel: Kernel, inputs: np.ndarray, results: np.ndarray
                       ) -> LogSensitivities | None:
    """log2 S per site (the module docstring) on `inputs`, whose exact results are
    `results` (one row per input). An input counts when its absolute moments are finite,
    or else its relative ones and its results are below RELATIVE_LIMIT (beyond it the
    model's weight 1/y is subnormal and flushed to 0); None if no input counts."""
    absolute = noise.site_moments(kernel, inputs, significand_aware=False)
    relative = noise.site_moments(kernel, inputs, significand_aware=False, relative=True)
    with np.errstate(divide="ignore", over="ignore"):
        log_squares = log_mean_exp2((2.0 * np.log2(np.abs(results))).T)
        from_relative = log_squares[:, None] + np.log2(relative)
        terms = np.where(np.isfinite(absolute), np.log2(absolute), from_relative)
    direct = np.all(np.isfinite(absolute), axis=1)
    scaled = np.all(np.isfinite(relative), axis=1) & np.all(
        np.abs(results) < RELATIVE_LIMIT, axis=1) & np.isfinite(log_squares)
    usable = direct | scaled
    if not np.any(usable):
        return None
    # the ratio estimate: the inputs used, scaled by all inputs' mean square result
    ratio = log_mean_exp2(log_squares[np.isfinite(log_squares), None])[0] - \
        log_mean_exp2(log_squares[usable, None])[0]
    return LogSensitivities(log_mean_exp2(terms[usable]) + ratio, int(np.sum(usable)),
                            len(inputs))


def scaled_optimum(log2_sens: np.ndarray, target: float) -> np.ndarray:
    """The first-order optimum (`mapper.first_order_optimum`) of sensitivities given in
    log2: S and τ² scaled by the same power of four, which leaves it unchanged."""
    finite = log2_sens[np.isfinite(log2_sens)]
    shift = math.ceil(float(np.max(finite)) / 2) if finite.size else 0
    return first_order_optimum(np.exp2(log2_sens - 2 * shift), math.ldexp(target, -shift))


def shares(log2_sens: np.ndarray) -> np.ndarray:
    """Each site's share of Σ S (all 0 if every S is 0)."""
    total = log_mean_exp2(log2_sens[:, None])[0]
    if not np.isfinite(total):
        return np.zeros(len(log2_sens))
    return np.exp2(log2_sens - total) / len(log2_sens)
