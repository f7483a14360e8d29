"""Type-level search: the cheapest assignment of hardware formats that meets the target.

The continuous per-operation bits are only a starting point. Snapping them up to the
covering formats (`native.snap`) rarely breaks the target, but casts add roundings the
bit-level model never saw, and the snapped assignment can be far from the cheapest. So
the formats are searched directly, every candidate judged by the precision emulator with
cast semantics on the validation sample (`Measurement.accepts`, the same statistical
acceptance as the bit-level refinement), under an estimated cost (`CostModel`) and an
optional cap on the number of casts:

1. starts: the snapped assignment, all operations in the cheapest format, and all in the
   widest format the snapped one uses (no casts but the inputs' and output's);
2. each start is brought under the cast cap by promotions, then repaired if the emulator
   rejects it: along a path of single-step promotions, largest predicted error share
   k²·S_i·4^-p_i first, the first accepted point is found by bisection;
3. greedy descent: demote one operation to the next cheaper format, smallest predicted
   share first, keeping a demotion when it lowers the cost, respects the cap and is
   accepted; repeat until a full pass changes nothing. The cheapest result wins.
4. For kernels of at most EXACT_MAX_OPS operations whose best assignment needs nothing
   wider than double, every assignment over {float, double} cheaper than the greedy one is
   tried in order of cost; the first accepted is optimal. Supersets of a rejected set of
   float operations are skipped (more float roundings are assumed not to help), and the
   search stops after EXACT_MAX_EMULATIONS emulations (then it is reported as greedy).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from precisec.errors import PrecisecError
from precisec.ir import Kernel
from precisec.mapper import K_ROUNDING
from precisec.native import (
    DOUBLE,
    FLOAT,
    Assignment,
    CostModel,
    Format,
    available_formats,
    count_casts,
    emulate_native,
    snap,
    uniform,
)
from precisec.reference import Reference
from precisec.refine import Measurement, Validator, first_true

EXACT_MAX_OPS = 10
EXACT_MAX_EMULATIONS = 256
SEARCHES = ("greedy", "snap")


@dataclass(frozen=True)
class TypeSearch:
    """The chosen formats, the snapped start, and how they measure."""

    assignment: dict[int, Format]
    snapped: dict[int, Format]
    snapped_validation: Measurement
    validation: Measurement
    casts: int
    cost: float
    method: str
    emulations: int


@dataclass(frozen=True)
class _Space:
    """What a move may do: the formats, the cost model, the cap, the error shares."""

    kernel: Kernel
    formats: tuple[Format, ...]
    cost_model: CostModel
    max_casts: int | None
    sens: dict[int, float]

    def fits(self, assignment: Assignment) -> bool:
        return self.max_casts is None or count_casts(self.kernel, assignment) <= self.max_casts

    def cost(self, assignment: Assignment) -> float:
        return self.cost_model.cost(self.kernel, assignment)

    def share(self, assignment: Assignment, index: int) -> float:
        return K_ROUNDING**2 * self.sens[index] * 4.0 ** -assignment[index].bits

    def moved(self, assignment: Assignment, index: int, step: int) -> dict[int, Format] | None:
        """The assignment with operation `index` one format up (+1) or down (−1)."""
        position = self.formats.index(assignment[index]) + step
        if not 0 <= position < len(self.formats):
            return None
        return {**assignment, index: self.formats[position]}


def _within_casts(space: _Space, assignment: dict[int, Format]) -> dict[int, Format] | None:
    """Promote operations until the cast cap holds (None if promotions cannot get there)."""
    while not space.fits(assignment):
        moves = [m for i in space.kernel.rounding_ops
                 if (m := space.moved(assignment, i, +1)) is not None]
        best = min(moves, key=lambda m: (count_casts(space.kernel, m), space.cost(m)),
                   default=None)
        if best is None or count_casts(space.kernel, best) >= count_casts(space.kernel,
                                                                            assignment):
            return None
        assignment = best
    return assignment


def _repair(space: _Space, validator: Validator[Assignment],
            assignment: dict[int, Format]) -> dict[int, Format] | None:
    """The first accepted assignment along the largest-share-first promotion path."""
    if validator.accepts(assignment):
        return assignment
    path: list[dict[int, Format]] = []
    current = assignment
    while True:
        order = sorted(space.kernel.rounding_ops, key=lambda i: -space.share(current, i))
        step = next((m for i in order if (m := space.moved(current, i, +1)) is not None
                     and space.fits(m)), None)
        if step is None:
            break
        path.append(step)
        current = step
    found = first_true(path, validator.accepts)
    return None if found is None else path[found]


def _descend(space: _Space, validator: Validator[Assignment],
             assignment: dict[int, Format]) -> dict[int, Format]:
    """Greedy demotions that lower the cost and stay accepted, until none does."""
    improved = True
    while improved:
        improved = False
        for index in sorted(space.kernel.rounding_ops, key=lambda i: space.share(assignment, i)):
            trial = space.moved(assignment, index, -1)
            if (trial is not None and space.cost(trial) < space.cost(assignment)
                    and space.fits(trial) and validator.accepts(trial)):
                assignment, improved = trial, True
    return assignment


def _exact(space: _Space, validator: Validator[Assignment],
           best: dict[int, Format]) -> tuple[dict[int, Format], bool]:
    """Cheapest accepted assignment over {float, double}; (result, completed)."""
    ops = space.kernel.rounding_ops
    candidates = []
    for mask in range(1 << len(ops)):
        trial = {i: FLOAT if mask >> k & 1 else DOUBLE for k, i in enumerate(ops)}
        if space.fits(trial) and space.cost(trial) < space.cost(best):
            candidates.append((space.cost(trial), count_casts(space.kernel, trial), mask, trial))
    candidates.sort(key=lambda c: c[:3])
    rejected: list[int] = []
    tried = 0
    for _, _, mask, trial in candidates:
        if any(mask & r == r for r in rejected):
            continue
        if tried >= EXACT_MAX_EMULATIONS:
            return best, False
        tried += 1
        if validator.accepts(trial):
            return trial, True
        rejected.append(mask)
    return best, True


def search_types(kernel: Kernel, target: float, bits: dict[int, int], sens: np.ndarray,
                 inputs: np.ndarray, reference: Reference, *, max_casts: int | None = None,
                 cost_model: CostModel | None = None, method: str = "greedy",
                 formats: tuple[Format, ...] | None = None) -> TypeSearch:
    """Formats for every rounding operation, starting from `bits` (see the module doc);
    method "snap" only snaps the bits up. Raises if no assignment meets the target."""
    formats = formats or available_formats()
    cost_model = cost_model or CostModel()
    space = _Space(kernel, formats, cost_model, max_casts,
                   dict(zip(kernel.rounding_ops, (float(s) for s in sens), strict=True)))
    validator: Validator[Assignment] = Validator(
        lambda assignment: emulate_native(kernel, assignment, inputs),
        lambda assignment: tuple(assignment[i].name for i in kernel.rounding_ops),
        reference, target)
    snapped = snap(kernel, bits, formats)
    chosen: dict[int, Format] | None = snapped
    used = "snap"
    if method == "greedy":
        widest = max(snapped.values(), key=lambda f: f.bits, default=formats[0])
        starts = [snapped, uniform(kernel, formats[0]), uniform(kernel, widest)]
        results = []
        for start in starts:
            fitted = _within_casts(space, dict(start))
            repaired = None if fitted is None else _repair(space, validator, fitted)
            if repaired is not None:
                results.append(_descend(space, validator, repaired))
        chosen = min(results, key=lambda a: (space.cost(a), count_casts(kernel, a)),
                     default=None)
        if chosen is None:
            cap = "" if max_casts is None else f" with at most {max_casts} casts"
            raise PrecisecError(kernel.loc, f"target RMSE {target:g} is unreachable with "
                                            f"hardware formats{cap}; use --backend mpfr")
        used = "greedy"
        if (len(kernel.rounding_ops) <= EXACT_MAX_OPS
                and all(f.bits <= DOUBLE.bits for f in chosen.values())):
            chosen, completed = _exact(space, validator, chosen)
            used = "exact" if completed else "greedy"
    assert chosen is not None
    chosen = {i: chosen[i] for i in kernel.rounding_ops}
    return TypeSearch(chosen, snapped, validator.measure(snapped), validator.measure(chosen),
                      count_casts(kernel, chosen), space.cost(chosen), used,
                      len(validator.seen))


def all_assignments(kernel: Kernel, formats: tuple[Format, ...]) -> list[dict[int, Format]]:
    """Every assignment over `formats` (for tests on tiny kernels)."""
    return [dict(zip(kernel.rounding_ops, combo, strict=True))
            for combo in itertools.product(formats, repeat=len(kernel.rounding_ops))]
