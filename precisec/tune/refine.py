"""Verified refinement of a precision allocation against exact emulation (docs/method.md §4).

The mapped allocation is a model's guess; here it is measured with the precision emulator
(bit-identical to the emitted MPFR code) against the exact reference on a validation
sample, and repaired: bits are added where the target is missed, then removed while the
measurement allows.

Acceptance is statistical. The validation MSE is a mean of N squared errors, so its
standard error is std(e²)/√N; an allocation is accepted when MSE + Z·SE ≤ τ², a one-sided
bound that the true MSE exceeds τ² with probability ≈ 0.13% for Z = 3 under the normal
approximation. The same holds for the other metrics (`precisec.tune.metrics`): the
relative MSE, or the mean bits against T with the mean's standard error. The final figure
is measured again on a fresh test sample.

Moves are ordered by the first-order model: operation i contributes k²·S_i·4^-p_i to the
MSE, so raising the largest contributor buys the most accuracy per bit and lowering the
smallest one costs the least. After the bisections along those greedy paths, a last pass
lowers single operations one bit at a time, cheapest first, while the measurement allows.

Under the bits metric the model is of an RMS error, which points far from the typical
one dominate (a cancellation at tiny x has a relative sensitivity of 1e200), while the
mean bits hardly notice them: steered by it, single-bit raises climb the wrong sites to
hundreds of bits, and single-bit lowering cannot come back down. So under bits a missed
target is met by raising the sites below a common level to it (the lowest level, by
bisection: the uniform baseline is one such allocation), and each site is then lowered
by a bisection of its own, cheapest first, before the single-bit pass.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from precisec.semantics.compiled import Reference
from precisec.tune.mapper import K_ROUNDING, MAX_BITS, MIN_BITS
from precisec.tune.metrics import ABSOLUTE, Z_ACCEPT, Measurement, Metric

__all__ = ["Measurement", "Refinement", "Validator", "first_true", "refine"]

# A last single-bit lowering is not emulated when the calibrated first-order model says it
# would miss the target even if the model overstated its MSE increase by MODEL_SLACK
# (per-operation model error stays within a factor of about 1.6 on the FPTuner kernels).
MODEL_SLACK = 2.0
# Emulations the single-bit lowering pass may spend: it gains the last fraction of a bit
# on small kernels, and would cost one emulation per site on large ones.
SINGLE_BIT_TRIALS = 400


@dataclass(frozen=True)
class Refinement:
    """The repaired allocation (bits per site), how many single-bit moves each way it
    took, its validation measurement and how many emulations it cost."""

    bits: tuple[int, ...]
    bits_added: int
    bits_removed: int
    validation: Measurement
    emulations: int


Candidate = TypeVar("Candidate")


class Validator(Generic[Candidate]):
    """Measures candidates (bit allocations, type assignments) on the validation sample
    through `outputs_of` (an emulation), remembering each by `key_of`."""

    def __init__(self, outputs_of: Callable[[Candidate], np.ndarray],
                 key_of: Callable[[Candidate], Hashable], reference: Reference,
                 target: float, metric: Metric = ABSOLUTE) -> None:
        self.outputs_of, self.key_of = outputs_of, key_of
        self.reference, self.target, self.metric = reference, target, metric
        self.seen: dict[Hashable, Measurement] = {}

    def measure(self, candidate: Candidate) -> Measurement:
        key = self.key_of(candidate)
        if key not in self.seen:
            self.seen[key] = self.metric.measure(self.reference, self.outputs_of(candidate))
        return self.seen[key]

    def accepts(self, candidate: Candidate) -> bool:
        return self.measure(candidate).accepts(self.target)


def _bits_key(bits: np.ndarray) -> tuple[int, ...]:
    return tuple(int(b) for b in bits)


class MovePath(Sequence[np.ndarray]):
    """Allocations after 1..length greedy single-bit moves (+1: raise, −1: lower), each
    move taken where the first-order model gains (or loses) the most. Only the moved sites
    are stored, so a path over thousands of sites stays small; `path[k]` rebuilds the
    allocation after k+1 moves. Lowering never takes a site below its `floor`."""

    def __init__(self, bits: np.ndarray, sens: np.ndarray, step: int, length: int,
                 floor: np.ndarray | None = None) -> None:
        self.start, self.step = bits.copy(), step
        low = np.full(len(bits), MIN_BITS) if floor is None else floor
        moves: list[int] = []
        current = bits.astype(float)
        share = K_ROUNDING**2 * sens * 4.0 ** (-current)
        for _ in range(length):
            movable = (current < MAX_BITS) if step > 0 else (current > low)
            if not np.any(movable):
                break
            site = int(np.argmax(np.where(movable, share if step > 0 else -share, -np.inf)))
            current[site] += step
            share[site] = K_ROUNDING**2 * sens[site] * 4.0 ** (-current[site])
            moves.append(site)
        self.moves = np.array(moves, dtype=int)

    def __len__(self) -> int:
        return len(self.moves)

    def __getitem__(self, k: int) -> np.ndarray:  # type: ignore[override]
        if k < 0:
            k += len(self.moves)
        counts = np.bincount(self.moves[:k + 1], minlength=len(self.start))
        return self.start + self.step * counts


class Reversed(Sequence[Candidate]):
    """A sequence read backwards without copying it."""

    def __init__(self, items: Sequence[Candidate]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> Candidate:  # type: ignore[override]
        return self.items[len(self.items) - 1 - k]


def first_true(path: Sequence[Candidate], ok: Callable[[Candidate], bool]) -> int | None:
    """Index of the first candidate in path for which ok holds (ok assumed monotone along
    the path: false, ..., false, true, ..., true), by bisection."""
    lo, hi = 0, len(path) - 1
    if not len(path) or not ok(path[hi]):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(path[mid]):
            hi = mid
        else:
            lo = mid + 1
    return lo


def refine(emulate: Callable[[tuple[int, ...]], np.ndarray], target: float,
           start: Sequence[int], sens: np.ndarray, reference: Reference,
           max_trials: int = SINGLE_BIT_TRIALS, metric: Metric = ABSOLUTE,
           floor: Sequence[int] | None = None) -> Refinement | None:
    """Repair `start` (bits per site) until validated, then lower it, never below
    `floor` (per site; MIN_BITS if None); None if even MAX_BITS misses. `emulate` gives
    the tuned outputs on the validation sample whose exact outputs are `reference`;
    `sens` is per site. The last lowering passes (under bits the per-site bisections,
    then the single-bit pass) stop after `max_trials` emulations together (a count, not a
    time, so results stay deterministic)."""
    validator: Validator[np.ndarray] = Validator(
        lambda bits: emulate(_bits_key(bits)), _bits_key, reference, target, metric)
    low = np.maximum(MIN_BITS, np.zeros(len(start), int) if floor is None
                     else np.array(floor, dtype=int))
    initial = np.array(start, dtype=int)
    bits = np.maximum(initial, low)
    if not validator.accepts(bits) and not validator.accepts(np.full_like(bits, MAX_BITS)):
        return None
    herbie = metric.name == "bits"
    if herbie and not validator.accepts(bits):
        raised = _Raised(bits)
        found = first_true(raised, validator.accepts)
        bits = raised[-1] if found is None else raised[found]
    while not validator.accepts(bits):
        path = MovePath(bits, sens, +1, 4 * len(bits))
        if not len(path):
            return None
        found = first_true(path, validator.accepts)
        bits = path[-1] if found is None else path[found]
    lowered = MovePath(bits, sens, -1, 8 * len(bits), low)
    found = first_true(Reversed(lowered), validator.accepts)
    if found is not None:
        bits = lowered[len(lowered) - 1 - found]
    budget = len(validator.seen) + max_trials
    if herbie:
        bits = _lower_each(validator, bits, sens, budget, low)
    with np.errstate(over="ignore", invalid="ignore"):
        bits = _lower_singly(validator, bits, sens, target, budget, low)
    difference = bits - initial
    return Refinement(_bits_key(bits), int(np.sum(difference[difference > 0])),
                      int(-np.sum(difference[difference < 0])), validator.measure(bits),
                      len(validator.seen))


class _Raised(Sequence[np.ndarray]):
    """`bits` with every site below a level raised to it, the level going up one bit at
    a time from the fewest bits a site has, up to all at MAX_BITS."""

    def __init__(self, bits: np.ndarray) -> None:
        self.bits = bits

    def __len__(self) -> int:
        return int(MAX_BITS - np.min(self.bits))

    def __getitem__(self, k: int) -> np.ndarray:  # type: ignore[override]
        if k < 0:
            k += len(self)
        return np.maximum(self.bits, int(np.min(self.bits)) + k + 1)


def _lower_each(validator: Validator[np.ndarray], bits: np.ndarray, sens: np.ndarray,
                budget: int, low: np.ndarray) -> np.ndarray:
    """Each site in turn, cheapest first by the model, lowered to the fewest bits that
    the measurement still accepts with the others fixed (a bisection over its bits, so
    a site far above its need comes down in a few emulations), within `budget`
    emulations."""
    with np.errstate(over="ignore", invalid="ignore"):
        shares = K_ROUNDING**2 * sens * 4.0 ** (-bits.astype(float))
    for op in np.argsort(shares, kind="stable"):
        if len(validator.seen) >= budget:
            break
        options = []
        for value in range(int(low[op]), int(bits[op])):
            trial = bits.copy()
            trial[op] = value
            options.append(trial)
        found = first_true(options, validator.accepts)
        if found is not None:
            bits = options[found]
    return bits


def _lower_singly(validator: Validator[np.ndarray], bits: np.ndarray, sens: np.ndarray,
                  target: float, budget: int, low: np.ndarray) -> np.ndarray:
    """Lower single sites one bit at a time, cheapest first, while the measurement
    allows; trials the calibrated model rules out are not emulated (the model is of an
    RMS error, so under the bits metric every trial is emulated, within the budget). The
    model's squares are numpy floats: beyond the double range they are inf or NaN, which
    rules nothing out, so such trials are emulated too."""
    square = np.float64(target) ** 2
    improved = True
    while improved:
        improved = False
        shares = K_ROUNDING**2 * sens * 4.0 ** (-bits.astype(float))
        calibration = np.float64(validator.measure(bits).rmse) ** 2 / max(
            float(np.sum(shares)), 1e-300)
        for op in np.argsort(shares):
            if len(validator.seen) >= budget:
                return bits
            now = validator.measure(bits)
            bound = np.float64(now.rmse) ** 2 + Z_ACCEPT * now.mse_standard_error
            if bits[op] <= low[op] or (validator.metric.name != "bits" and (
                    bound + 3.0 * calibration * shares[op] / MODEL_SLACK > square)):
                continue
            trial = bits.copy()
            trial[op] -= 1
            if validator.accepts(trial):
                bits, improved = trial, True
                shares[op] *= 4.0
    return bits
