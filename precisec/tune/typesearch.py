"""Type-level search: the cheapest hardware format per site that meets the target
(docs/native.md, Search).

The continuous per-site bits are only a starting point. Snapping them up to the covering
formats (`snap`) rarely breaks the target, but casts add roundings the bit-level model
never saw, and the snapped assignment can be far from the cheapest. So the formats are
searched directly, every candidate judged by exact emulation with cast semantics
(`Evaluator.emulate(..., round_arguments=True)`, bit for bit the compiled native kernel
for the correctly rounded operations) on the validation sample, with the bit-level
refinement's statistical acceptance (`refine.Validator`), under an estimated cost
(`CostModel`) and an optional cap on the number of casts:

1. starts: the snapped assignment, every site in the cheapest format, every site in the
   widest format the snapped one uses (no casts but the inputs' and the result's), and
   every site in the kernel's own type (no casts at all: in a loop, where casts of
   carried values run every iteration, this is often the cheapest);
2. each start is brought under the cast cap by promotions, then repaired if the emulator
   rejects it: along a path of single-step promotions, largest predicted error share
   k²·S_i·4^-p_i first, the first accepted point is found by bisection;
3. greedy descent: demote one site to the next cheaper format, smallest predicted share
   first, keeping a demotion when it lowers the cost, respects the cap and is accepted;
   repeat until a full pass changes nothing. The cheapest result wins.
4. For kernels of at most EXACT_MAX_SITES sites whose best assignment needs nothing wider
   than double, every assignment over {float, double} cheaper than the greedy one is
   tried in order of cost; the first accepted is optimal. Supersets of a rejected set of
   float sites are skipped (more float roundings are assumed not to help), and the search
   stops after EXACT_MAX_EMULATIONS emulations (then it is reported as greedy).

Casts are the ones the emitter writes (`precisec.backend.casts.NativeTypes`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from precisec.backend.casts import NativeTypes
from precisec.backend.formats import (
    DOUBLE,
    FLOAT,
    FLOAT128,
    LONG_DOUBLE,
    Format,
    available_formats,
    kernel_format,
)
from precisec.backend.storage import array_groups
from precisec.errors import PrecisecError
from precisec.ir import Kernel, executions, site_eqns
from precisec.semantics.compiled import Evaluator
from precisec.tune.mapper import K_ROUNDING, MAX_BITS, MIN_BITS
from precisec.tune.metrics import NAMES
from precisec.tune.refine import Measurement, Validator, first_true
from precisec.tune.samples import Sample
from precisec.tune.tuner import Analysis

EXACT_MAX_SITES = 10
EXACT_MAX_EMULATIONS = 256
# Assignments whose value formats and casts are kept (a move is usually judged twice:
# its cost and its cast count).
TYPES_KEPT = 256
SEARCHES = ("greedy", "snap")

Assignment = tuple[Format, ...]


@dataclass(frozen=True)
class CostModel:
    """Estimated cost of a native kernel: a weight per site execution by format, plus
    casts (docs/native.md, Cost model).

    float is half of double because that is what it buys where it buys anything: twice
    the lanes per SIMD instruction. x87 long double cannot vectorise; _Float128 is
    software-emulated. A boundary cast (an input converted on entry, the result on
    return) costs about one operation, an interior cast between float and double vectors
    about 4 (fitted to the kernels timed in docs/native.md). Sites and casts count as
    often as they run per evaluation, so a loop body weighs its trip count.
    """

    float_: float = 1.0
    double: float = 2.0
    long_double: float = 6.0
    float128: float = 40.0
    cast: float = 4.0
    boundary_cast: float = 1.0

    def weight(self, fmt: Format) -> float:
        return {FLOAT: self.float_, DOUBLE: self.double, LONG_DOUBLE: self.long_double,
                FLOAT128: self.float128}[fmt]

    def cost(self, types: NativeTypes, runs: Sequence[int]) -> float:
        """The cost of the kernel `types` describes; `runs`: each site's executions."""
        operations = sum(self.weight(f) * n for f, n in zip(types.site_formats, runs,
                                                              strict=True))
        return operations + sum((self.boundary_cast if c.boundary else self.cast) * c.times
                                for c in types.casts)


def bits_of(assignment: Assignment) -> tuple[int, ...]:
    """The per-site precisions that emulate an assignment."""
    return tuple(f.bits for f in assignment)


def optimum_start(analysis: Analysis) -> tuple[int, ...]:
    """The first-order optimum rounded up: a start for the search without SGD."""
    return tuple(int(min(max(math.ceil(b), MIN_BITS), MAX_BITS))
                 for b in analysis.optimum_bits)


def uniform(kernel: Kernel, fmt: Format) -> Assignment:
    return (fmt,) * len(kernel.sites)


def snap(kernel: Kernel, bits: Sequence[int],
         formats: tuple[Format, ...] | None = None) -> Assignment:
    """The cheapest format whose precision covers each site's bits (snapping up)."""
    formats = formats or available_formats()
    snapped = []
    for eqn, need in zip(site_eqns(kernel), bits, strict=True):
        covering = [f for f in formats if f.bits >= need]
        if not covering:
            raise PrecisecError(eqn.loc, f"'{eqn.op}' needs {need} bits, more than any "
                                         f"hardware format ({formats[-1].bits}); use "
                                         "--backend mpfr")
        snapped.append(covering[0])
    return tuple(snapped)


def format_counts(assignment: Assignment) -> dict[str, int]:
    """How many sites run in each format, in the order the formats first appear."""
    names = [f.name for f in assignment]
    return {name: names.count(name) for name in dict.fromkeys(names)}


@dataclass(frozen=True)
class TypeSearch:
    """The chosen formats, the snapped start, and how they measure."""

    formats: Assignment
    snapped: Assignment
    snapped_validation: Measurement
    validation: Measurement
    casts: int
    cost: float
    method: str
    emulations: int

    @property
    def float_fraction(self) -> float:
        """Share of the sites that run in float."""
        return sum(f is FLOAT for f in self.formats) / len(self.formats) \
            if self.formats else 0.0

    @property
    def mean_format_bits(self) -> float:
        return float(np.mean(bits_of(self.formats))) if self.formats else 0.0


class Space:
    """What a move may do: the formats, the cost model, the cap, the error shares; the
    analyses of the assignments met last are kept."""

    def __init__(self, kernel: Kernel, formats: tuple[Format, ...], cost_model: CostModel,
                 max_casts: int | None, sens: np.ndarray) -> None:
        self.kernel, self.formats, self.cost_model = kernel, formats, cost_model
        self.max_casts, self.sens = max_casts, np.asarray(sens, dtype=float)
        self.runs = executions(kernel)
        groups = array_groups(kernel)
        self.types = lru_cache(maxsize=TYPES_KEPT)(
            lambda assignment: NativeTypes(kernel, assignment, groups))

    def casts(self, assignment: Assignment) -> int:
        return len(self.types(assignment).casts)

    def fits(self, assignment: Assignment) -> bool:
        return self.max_casts is None or self.casts(assignment) <= self.max_casts

    def cost(self, assignment: Assignment) -> float:
        return self.cost_model.cost(self.types(assignment), self.runs)

    def share(self, assignment: Assignment, site: int) -> float:
        return K_ROUNDING**2 * float(self.sens[site]) * 4.0 ** -assignment[site].bits

    def moved(self, assignment: Assignment, site: int, step: int) -> Assignment | None:
        """The assignment with `site` one format up (+1) or down (−1)."""
        position = self.formats.index(assignment[site]) + step
        if not 0 <= position < len(self.formats):
            return None
        return (*assignment[:site], self.formats[position], *assignment[site + 1:])


def within_casts(space: Space, assignment: Assignment) -> Assignment | None:
    """Promote sites until the cast cap holds (None if promotions cannot get there)."""
    while not space.fits(assignment):
        moves = [m for site in range(len(assignment))
                 if (m := space.moved(assignment, site, +1)) is not None]
        best = min(moves, key=lambda m: (space.casts(m), space.cost(m)), default=None)
        if best is None or space.casts(best) >= space.casts(assignment):
            return None
        assignment = best
    return assignment


def repair(space: Space, validator: Validator[Assignment],
           assignment: Assignment) -> Assignment | None:
    """The first accepted assignment along the largest-share-first promotion path."""
    if validator.accepts(assignment):
        return assignment
    path: list[Assignment] = []
    current = assignment
    while True:
        order = sorted(range(len(current)), key=lambda site: -space.share(current, site))
        step = next((m for site in order if (m := space.moved(current, site, +1)) is not None
                     and space.fits(m)), None)
        if step is None:
            break
        path.append(step)
        current = step
    found = first_true(path, validator.accepts)
    return None if found is None else path[found]


def descend(space: Space, validator: Validator[Assignment],
            assignment: Assignment) -> Assignment:
    """Greedy demotions that lower the cost and stay accepted, until none does."""
    improved = True
    while improved:
        improved = False
        for site in sorted(range(len(assignment)), key=lambda s: space.share(assignment, s)):
            trial = space.moved(assignment, site, -1)
            if (trial is not None and space.cost(trial) < space.cost(assignment)
                    and space.fits(trial) and validator.accepts(trial)):
                assignment, improved = trial, True
    return assignment


def exhaust(space: Space, validator: Validator[Assignment],
            best: Assignment) -> tuple[Assignment, bool]:
    """Cheapest accepted assignment over {float, double}; (result, completed)."""
    count = len(best)
    candidates = []
    for mask in range(1 << count):
        trial = tuple(FLOAT if mask >> site & 1 else DOUBLE for site in range(count))
        if space.fits(trial) and space.cost(trial) < space.cost(best):
            candidates.append((space.cost(trial), space.casts(trial), mask, trial))
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


def search_types(evaluator: Evaluator, target: float, bits: Sequence[int], sens: np.ndarray,
                 sample: Sample, *, max_casts: int | None = None,
                 cost_model: CostModel | None = None, method: str = "greedy",
                 formats: tuple[Format, ...] | None = None) -> TypeSearch:
    """Formats for every site, starting from `bits` (see the module doc), judged on
    `sample` (the validation sample); method "snap" only snaps the bits up. Raises if no
    assignment meets the target."""
    kernel = evaluator.kernel
    formats = formats or available_formats()
    space = Space(kernel, formats, cost_model or CostModel(), max_casts, sens)
    validator: Validator[Assignment] = Validator(
        lambda a: evaluator.emulate(bits_of(a), sample.inputs, round_arguments=True).outputs,
        lambda a: tuple(f.name for f in a), sample.reference, target, sample.metric)
    snapped = snap(kernel, bits, formats)
    chosen: Assignment | None = snapped
    used = "snap"
    if method == "greedy":
        widest = max(snapped, key=lambda f: f.bits, default=formats[0])
        results = []
        starts = dict.fromkeys((snapped, uniform(kernel, formats[0]), uniform(kernel, widest),
                                uniform(kernel, kernel_format(kernel.precision))))
        for start in starts:
            fitted = within_casts(space, start)
            repaired = None if fitted is None else repair(space, validator, fitted)
            if repaired is not None:
                results.append(descend(space, validator, repaired))
        chosen = min(results, key=lambda a: (space.cost(a), space.casts(a)), default=None)
        if chosen is None:
            cap = "" if max_casts is None else f" with at most {max_casts} casts"
            raise PrecisecError(kernel.loc, f"target {NAMES[sample.metric.name]} {target:g} "
                                            "is unreachable with "
                                            f"hardware formats{cap}; use --backend mpfr")
        used = "greedy"
        if len(kernel.sites) <= EXACT_MAX_SITES and all(f.bits <= DOUBLE.bits
                                                        for f in chosen):
            chosen, completed = exhaust(space, validator, chosen)
            used = "exact" if completed else "greedy"
    elif method != "snap":
        raise ValueError(f"unknown search method {method!r}")
    return TypeSearch(chosen, snapped, validator.measure(snapped), validator.measure(chosen),
                      space.casts(chosen), space.cost(chosen), used, len(validator.seen))
