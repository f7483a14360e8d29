"""A sound bound on the worst-case error of an allocation over the input box
(docs/method.md §8).

Every rounding at p bits is v + ε, |ε| ≤ r = 2^-p·2^⌊log2 |v|⌋ (at most u·|v|, u = 2^-p);
by the mean-value theorem the tuned output minus the exact one is Σ_j ∂f/∂ε_j(x, ξ)·ε_j
for some ξ between 0 and ε, so Σ_j sup |∂f/∂ε_j|·r_j over a sub-box, with the adjoints
evaluated in arb balls over the sub-box and every ε in its ball (`semantics.bound_tape`),
bounds the error there with no separate second-order term.

Branch-and-bound maximises it over the box: the sub-box with the largest upper bound is
split in half until the largest upper bound is within 1% of the largest value seen at a
sub-box midpoint, or the budget (tape nodes evaluated, so deterministic; a wall-clock
cap besides) ends; the upper bound is sound either way. Splits alternate between the
widest dimension (relative to the box) and, for up to PROBED_DIMENSIONS inputs, the
dimension whose halving lowers the larger half's bound most (inputs that barely matter,
like carbonGas's narrow constants, are then left whole).

A branch undecided on a small sub-box is bounded on each side's path and the larger
taken; such a bound does not cover branch flips between the tuned and the exact run
(`covers_divergence` False). An operation undefined or non-finite on ever smaller
sub-boxes, an unbounded input range or a statement the tape does not model gives an
explicit "no bound" with the reason, never a number.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from flint import arb, ctx

from precisec.ir.core import Kernel, executions
from precisec.semantics.bound_tape import (
    Forward,
    Undecided,
    Undefined,
    Unsupported,
    refuse_unsupported,
)

DEFAULT_WORK = 2_000_000  # tape nodes evaluated (about 3 s here): the search's budget
DEFAULT_BUDGET = 8.0  # seconds: a hard cap, reached only on a heavily loaded machine
TOLERANCE = 1.01
FORK_WIDTH = 2.0**-10  # an undecided branch on a sub-box this narrow (share of the box)…
UNDEFINED_WIDTH = 2.0**-30  # …and an undefined operation on one this narrow: give up
MAX_PATHS = 256
PROBED_DIMENSIONS = 8  # up to this many inputs, every other split probes each dimension
WORKING_BITS = 96  # arb's working precision: the balls stay sound at any precision


@dataclass(frozen=True)
class Bound:
    """The worst-case error of an allocation over the input box.

    `value`: sound upper bound on max |tuned output − exact output| over the box and
    the outputs (None: no bound, `reason` says why); `lower`: the largest first-order
    bound found at a sub-box midpoint (an estimate of how tight `value` is);
    `coefficients[i]`: site i's coefficient M_i, an upper bound over the box of
    Σ_executions |∂f/∂δ| in units of its u_i = 2^-p_i; `fixed`: the part no site controls
    (literals at the type precision, the final conversion to the C type);
    `covers_divergence`: False when an undecided branch was bounded path by path."""

    value: float | None
    lower: float
    coefficients: tuple[float, ...]
    fixed: float
    covers_divergence: bool
    converged: bool
    boxes: int
    seconds: float
    reason: str | None = None

    @property
    def sound(self) -> bool:
        return self.value is not None

    def describe(self) -> str:
        """For reports, after a "sound bound" label: the bound and what it covers."""
        if self.value is None:
            return f"none ({self.reason})"
        text = f"{self.value:.3e} on the worst-case error over the input box"
        if not self.covers_divergence:
            text += " (not covering branch divergence between the tuned and exact runs)"
        return text

    def to_json(self) -> dict[str, object]:
        return {"bound": self.value, "lower": self.lower, "reason": self.reason,
                "covers_divergence": self.covers_divergence, "converged": self.converged,
                "boxes": self.boxes, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class _Score:
    """A sub-box's upper bound, its per-site parts (absolute) and whether it forked."""

    upper: float
    sites: tuple[float, ...]
    fixed: float
    forked: bool


class NoBound(Exception):
    """No sound bound exists or was found; the message says why."""


class _Search:
    def __init__(self, kernel: Kernel, site_bits: Sequence[int]) -> None:
        self.kernel = kernel
        self.site_bits = list(site_bits)
        self.lows = kernel.lows
        self.spans = [hi - lo for lo, hi in zip(kernel.lows, kernel.highs, strict=True)]
        bits = kernel.baseline_bits
        # Half the smallest subnormal of the C type: the conversion's absolute error.
        self.underflow = arb(2) ** -(1075 if bits == 53 else 150)
        self.overflow = arb(2) ** (1024 if bits == 53 else 128)
        self.work = 0  # tape nodes evaluated: the deterministic measure of effort
        self.limit = math.inf  # work beyond which following more paths gives up

    def run(self, box: Sequence[tuple[float, float]], zero_delta: bool,
            choices: dict[int, bool]) -> _Score:
        """One forward and reverse pass on a sub-box (points when lo == hi)."""
        forward = Forward(self.kernel, self.site_bits, zero_delta, choices)
        tape = forward.tape
        try:
            return self._run(forward, box, zero_delta)
        finally:
            self.work += len(tape.values)

    def _run(self, forward: Forward, box: Sequence[tuple[float, float]], zero_delta: bool
             ) -> _Score:
        tape = forward.tape
        scalars = [tape.leaf(_ball(lo, hi), self.kernel.baseline_bits) for lo, hi in box]
        empty = _Score(0.0, (0.0,) * len(self.site_bits), 0.0, False)
        pre = self.kernel.precondition
        if pre is not None and forward.region(pre.region, {}, scalars)[0] is False:
            return empty  # no input of this sub-box satisfies the precondition
        params: list[object] = []
        position = 0
        for param, var in zip(self.kernel.params, self.kernel.body.params, strict=True):
            size = var.size if var.shape else 1
            if param in self.kernel.inputs:
                nodes = scalars[position:position + size]
                position += size
                params.append(nodes if var.shape else nodes[0])
            else:
                params.append([tape.leaf(arb(0), 1)] * size)
        results = forward.region(self.kernel.body, {}, params)
        flat: list[int] = []
        for value in results:
            flat.extend(value if isinstance(value, list) else [value])  # type: ignore[arg-type]
        best = empty
        for node in flat:
            if not tape.values[node].abs_upper() < self.overflow:
                raise Undefined(self.kernel.loc, "a result overflows the C type")
            if tape.widths[node] > self.kernel.baseline_bits:
                node = tape.round_to(node, self.kernel.baseline_bits, None, zero_delta,
                                     self.underflow)
            best = _join(best, self.sum_terms(tape, node))
        return best

    def sum_terms(self, tape, output: int) -> _Score:  # type: ignore[no-untyped-def]
        adjoint = tape.adjoints(output)
        self.work += output + 1
        sites = [arb(0)] * len(self.site_bits)
        fixed = self.underflow
        for term in tape.terms:
            if term.node > output or adjoint[term.node] is None:
                continue
            part = adjoint[term.node].abs_upper() * term.radius
            if not part.is_finite():
                raise Undefined(self.kernel.loc, "an error term is not finite")
            if term.site is None:
                fixed += part
            else:
                sites[term.site] += part
        total = fixed + sum(sites, arb(0))
        return _Score(_up(total), tuple(_up(s) for s in sites), _up(fixed), tape.forked)

    def score(self, box: Sequence[tuple[float, float]], fork: bool) -> _Score:
        """The sub-box's score; with `fork`, undecided branches are followed both ways."""
        paths: list[dict[int, bool]] = [{}]
        best: _Score | None = None
        explored = 0
        while paths:
            choices = paths.pop()
            explored += 1
            if explored > MAX_PATHS:
                raise NoBound(f"more than {MAX_PATHS} branch paths on one sub-box")
            if self.work > self.limit:
                raise NoBound("the budget ran out while following branch paths")
            try:
                score = self.run(box, False, choices)
            except Undecided as undecided:
                if not fork:
                    raise
                paths += [{**choices, undecided.occurrence: taken} for taken in (False, True)]
                continue
            best = score if best is None else _join(best, score)
        assert best is not None
        return best

    def estimate(self, box: Sequence[tuple[float, float]]) -> float:
        """The first-order bound at the sub-box midpoint (0 where it is not defined)."""
        middle = [((lo + hi) / 2,) * 2 for lo, hi in box]
        try:
            return self.run(middle, True, {}).upper
        except (Undecided, Undefined):
            return 0.0

    def best_dimension(self, box: Sequence[tuple[float, float]], widest: int) -> int:
        """The dimension whose halving lowers the larger half's upper bound most (the
        widest on ties, or when a half is undecided or undefined, or the budget is out)."""
        best, chosen = math.inf, widest
        for k, span in enumerate(self.spans):
            if span <= 0 or box[k][0] == box[k][1]:
                continue
            try:
                worst = max(self.score(half, fork=False).upper for half in _split(box, k))
            except (Undecided, Undefined, NoBound):
                return widest
            if worst < best or (worst == best and k == widest):
                best, chosen = worst, k
        return chosen

    def width(self, box: Sequence[tuple[float, float]]) -> tuple[float, int]:
        """The widest dimension as a share of the input box, and its index."""
        shares = [((hi - lo) / span if span > 0 else 0.0, k)
                  for k, ((lo, hi), span) in enumerate(zip(box, self.spans, strict=True))]
        return max(shares) if shares else (0.0, 0)


def _join(a: _Score, b: _Score) -> _Score:
    """The larger of two scores (outputs, paths), part by part."""
    return _Score(max(a.upper, b.upper), tuple(map(max, a.sites, b.sites)),
                  max(a.fixed, b.fixed), a.forked or b.forked)


def _ball(lo: float, hi: float) -> arb:
    return arb(lo) if lo == hi else arb(lo).union(arb(hi))


def _up(value: arb) -> float:
    """A float no smaller than every point of the ball."""
    upper = value.upper()
    near = float(upper)
    return near if arb(near) >= upper else math.nextafter(near, math.inf)


def _split(box: Sequence[tuple[float, float]], k: int) -> list[list[tuple[float, float]]]:
    lo, hi = box[k]
    middle = lo + (hi - lo) / 2
    return [[*box[:k], (lo, middle), *box[k + 1:]], [*box[:k], (middle, hi), *box[k + 1:]]]


def bound(kernel: Kernel, site_bits: Sequence[int], budget_seconds: float = DEFAULT_BUDGET,
          tolerance: float = TOLERANCE, target: float | None = None,
          work: int = DEFAULT_WORK) -> Bound:
    """A sound bound on the worst-case error of `site_bits` over the kernel's input box.
    The search stops after `work` tape nodes (so the same input gives the same bound) or
    `budget_seconds`, whichever comes first. With `target`, it stops as soon as the bound
    is proved ≤ target or a midpoint estimate exceeds it (a question, not a tightest
    answer)."""
    started = time.perf_counter()
    saved = ctx.prec
    ctx.prec = WORKING_BITS
    try:
        return _branch_and_bound(kernel, site_bits, started, budget_seconds, tolerance, target,
                                 work)
    except (NoBound, Unsupported) as refused:
        return Bound(None, 0.0, (), 0.0, False, False, 0, time.perf_counter() - started,
                     str(refused))
    finally:
        ctx.prec = saved


def _branch_and_bound(kernel: Kernel, site_bits: Sequence[int], started: float,
                      budget: float, tolerance: float, target: float | None,
                      work_budget: int) -> Bound:
    if not all(math.isfinite(v) for v in (*kernel.lows, *kernel.highs)):
        raise NoBound("an input range is unbounded")
    refuse_unsupported(kernel.body)
    per_box = 3 * (sum(executions(kernel)) + len(kernel.lows)) * (1 + len(kernel.result_labels))
    if per_box > work_budget / 4:
        raise NoBound(f"the kernel is too large for the bound's budget (about {per_box:,} tape "
                      "nodes per sub-box)")
    search = _Search(kernel, site_bits)
    search.limit = 2 * work_budget
    deadline = started + budget

    def spent() -> bool:
        return search.work > work_budget or time.perf_counter() > deadline
    heap: list[tuple[float, int, list[tuple[float, float]], _Score]] = []
    done: list[_Score] = []
    counter = 0
    lower = 0.0
    work = [list(zip(kernel.lows, kernel.highs, strict=True))]
    boxes = 0
    splits = 0

    def settle() -> None:
        """Score every box of the work list, splitting where undecided or undefined."""
        nonlocal counter, lower, boxes
        while work:
            box = work.pop()
            boxes += 1
            share, k = search.width(box)
            late = spent()
            try:
                score = search.score(box, fork=share <= FORK_WIDTH or late)
            except Undefined as undefined:
                if share <= UNDEFINED_WIDTH or late:
                    raise NoBound(f"{undefined}") from None
                work.extend(_split(box, k))
                continue
            except Undecided:
                work.extend(_split(box, k))
                continue
            lower = max(lower, search.estimate(box))
            counter += 1
            heapq.heappush(heap, (-score.upper, counter, box, score))

    settle()
    converged = False
    while heap:
        upper = max(-heap[0][0], max((s.upper for s in done), default=0.0))
        if upper <= tolerance * lower:
            converged = True
            break
        if target is not None and (upper <= target or lower > target):
            break
        if spent():
            break
        _, _, box, score = heapq.heappop(heap)
        share, k = search.width(box)
        if share == 0.0:
            done.append(score)
            continue
        splits += 1
        chosen = k if splits % 2 == 0 or len(search.spans) > PROBED_DIMENSIONS \
            else search.best_dimension(box, k)
        work.extend(_split(box, chosen))
        settle()
    scores = done + [entry[3] for entry in heap]
    value = max(s.upper for s in scores)
    coefficients = tuple(max(s.sites[i] for s in scores) * 2.0**bits
                         for i, bits in enumerate(site_bits))
    return Bound(value, lower, coefficients, max(s.fixed for s in scores),
                 not any(s.forked for s in scores), converged, boxes,
                 time.perf_counter() - started)
