"""Tuning to a worst-case target: bits per site whose sound bound is ≤ T
(docs/method.md §9).

The bound of an allocation is fixed + Σ_i M_i·2^-p_i to first order, M_i being site i's
coefficient (`semantics.bound.Bound.coefficients`). The start is the equal share
p_i = ⌈log2(n·M_i/(T − fixed))⌉ over the n sites with M_i > 0 (sites with M_i = 0 round
exactly at the kernel's precision and start there); then the allocation is repaired and
lowered against the bound itself, never against samples: sites are raised where the
bound misses T, and lowered greedily, the cheapest first (smallest M_i·2^-p_i), while
the bound still holds, and while `accepts` (an RMSE target checked by emulation, when
both targets are given) holds too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from precisec.errors import PrecisecError
from precisec.ir import Kernel
from precisec.semantics.bound import Bound, bound
from precisec.tune.mapper import MAX_BITS, MIN_BITS

CHECK_WORK = 1_200_000  # tape nodes per "is the bound ≤ T?" question (about 2 s)
MAX_CHECKS = 400


@dataclass(frozen=True)
class WorstCase:
    """A worst-case allocation: its bits, its bound, the equal-share start, how many
    bounds the search computed, and the floor it started above (the RMSE allocation)."""

    bits: tuple[int, ...]
    bound: Bound
    start: tuple[int, ...]
    checks: int
    floor: tuple[int, ...] | None = None


class _Checker:
    """Bounds of allocations, each computed once, asked against the target."""

    def __init__(self, kernel: Kernel, maxerr: float, accepts: Callable[[tuple[int, ...]], bool]
                 ) -> None:
        self.kernel = kernel
        self.maxerr = maxerr
        self.accepts = accepts
        self.seen: dict[tuple[int, ...], Bound] = {}

    def bound(self, bits: tuple[int, ...]) -> Bound:
        if bits not in self.seen:
            self.seen[bits] = bound(self.kernel, bits, target=self.maxerr, work=CHECK_WORK)
        return self.seen[bits]

    def holds(self, bits: tuple[int, ...]) -> bool:
        found = self.bound(bits)
        return found.value is not None and found.value <= self.maxerr and self.accepts(bits)


def equal_share(coefficients: Sequence[float], fixed: float, maxerr: float,
                baseline: int) -> tuple[int, ...]:
    """p_i = ⌈log2(n·M_i/(T − fixed))⌉ for the n sites with M_i > 0; the others keep
    `baseline` bits."""
    active = [m for m in coefficients if m > 0]
    room = max(maxerr - fixed, maxerr / 2)
    return tuple(
        baseline if m <= 0 else min(MAX_BITS, max(MIN_BITS, math.ceil(
            math.log2(len(active) * m / room))))
        for m in coefficients)


def tune_maxerr(kernel: Kernel, maxerr: float, floor: Sequence[int] | None = None,
                accepts: Callable[[tuple[int, ...]], bool] = lambda bits: True) -> WorstCase:
    """The fewest bits (greedily) whose sound bound is ≤ `maxerr`, starting from the
    equal share or, elementwise, from `floor` where that is higher (an allocation that
    meets an RMSE target, `accepts` checking it)."""
    if not (maxerr > 0 and math.isfinite(maxerr)):
        raise PrecisecError(kernel.loc, f"the maxerr target must be positive and finite, "
                                        f"got {maxerr}")
    baseline = kernel.baseline_bits
    checker = _Checker(kernel, maxerr, accepts)
    reference = bound(kernel, (baseline,) * len(kernel.sites))
    if reference.value is None:
        raise PrecisecError(kernel.loc, f"no sound bound for '{kernel.name}': "
                                        f"{reference.reason}")
    widest = bound(kernel, (MAX_BITS,) * len(kernel.sites), target=maxerr, work=CHECK_WORK)
    if widest.value is None:
        raise PrecisecError(kernel.loc, f"no sound bound for '{kernel.name}' at {MAX_BITS} "
                                        f"bits: {widest.reason}")
    if widest.value > maxerr:
        raise PrecisecError(kernel.loc, f"the maxerr target {maxerr:.3g} is out of reach: "
                                        f"even {MAX_BITS} bits on every operation give a bound "
                                        f"of {widest.value:.3g} (the conversion of the result "
                                        f"to {kernel.precision} included)")
    start = equal_share(reference.coefficients, reference.fixed, maxerr, baseline)
    bits = list(start if floor is None else map(max, start, floor))
    bits = _repair(checker, bits)
    bits = _lower(checker, bits)
    final = bound(kernel, tuple(bits))
    proved = checker.bound(tuple(bits))
    if final.value is None or (proved.value is not None and proved.value < final.value):
        final = proved
    return WorstCase(tuple(bits), final, start, len(checker.seen),
                     None if floor is None else tuple(floor))


def _contributions(checker: _Checker, bits: Sequence[int]) -> list[float]:
    found = checker.bound(tuple(bits))
    if not found.coefficients:
        return [1.0] * len(bits)
    return [m * 2.0**-p for m, p in zip(found.coefficients, bits, strict=True)]


def _repair(checker: _Checker, bits: list[int]) -> list[int]:
    """Raise the site with the largest term by one bit until the bound holds."""
    while not checker.holds(tuple(bits)):
        if len(checker.seen) > MAX_CHECKS or all(b >= MAX_BITS for b in bits):
            raise PrecisecError(checker.kernel.loc, f"no allocation up to {MAX_BITS} bits "
                                                    f"was proved within maxerr "
                                                    f"{checker.maxerr:.3g}")
        terms = _contributions(checker, bits)
        if not checker.accepts(tuple(bits)) or checker.bound(tuple(bits)).value is None:
            bits = [min(MAX_BITS, b + 1) for b in bits]
            continue
        k = max((t, k) for k, t in enumerate(terms) if bits[k] < MAX_BITS)[1]
        bits[k] += 1
    return bits


def _lower(checker: _Checker, bits: list[int]) -> list[int]:
    """Lower sites one at a time, cheapest term first, by the step the first-order
    model allows within the remaining slack T − bound (one bit less on a miss), until
    no site can lose a bit."""
    changed = True
    stuck: set[int] = set()  # lowering others only adds error: a site stuck stays stuck
    while changed and len(checker.seen) <= MAX_CHECKS:
        changed = False
        terms = _contributions(checker, bits)
        for k in sorted(set(range(len(bits))) - stuck, key=lambda k: (terms[k], k)):
            current = checker.bound(tuple(bits)).value
            assert current is not None
            slack = checker.maxerr - current
            room = bits[k] - MIN_BITS
            step = room if terms[k] <= 0 else min(room, int(math.log2(1 + slack / terms[k])))
            step = max(step, 1)
            while step >= 1 and bits[k] - step >= MIN_BITS:
                trial = [*bits[:k], bits[k] - step, *bits[k + 1:]]
                if checker.holds(tuple(trial)):
                    bits, changed = trial, True
                    break
                step = step // 2 if step > 2 else step - 1
            else:
                stuck.add(k)
    return bits
