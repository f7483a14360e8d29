"""Stratified validation inputs for the branch regions a uniform draw misses
(docs/method.md §4).

An operation inside a branch that fewer than MIN_EXECUTIONS validation inputs take would
be tuned from nothing. Here the range box is searched for the sub-boxes that reach such
a site: the kernel's exact real semantics is evaluated on a sub-box in arb balls
(python-flint, the sound bound's rules), with three-valued branch decisions; an
undecided branch is followed both ways (up to MAX_PATHS paths), so the sites the sub-box
*possibly* reaches (on some path) and *certainly* reaches (on every path) are known
soundly. Sub-boxes that possibly reach a wanted site are halved along their widest
dimension, largest first, until for every wanted site the sub-boxes certainly reaching
it hold CERTAIN_SHARE of the volume of those possibly reaching it, or the search's
budget (ball equations evaluated: deterministic) or MAX_CELLS sub-boxes are reached.
The sub-boxes left that possibly reach a wanted site become strata of STRATUM_SAMPLES
uniform inputs each: the MAX_STRATA − 1 largest one by one, the others together (a cell
chosen in proportion to its volume, then a point in it); the rest of the box is one more
stratum, holding the plain draw's inputs outside them. The stratified estimate
Σ_k P_k·mean_k (P_k: a stratum's share of the box volume) is unbiased for the uniform
distribution (`metrics.Strata`). Nothing found (dead code, a while loop, which the balls
do not model) leaves the sample as drawn, and the site keeps the baseline precision
(`coverage.floor`).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import flint
import numpy as np
from flint import arb

from precisec.ir import Kernel
from precisec.ir.core import BOOL, INT, Atom, Eqn, Lit, Var
from precisec.ir.walker import ARRAY_OPS, Env
from precisec.semantics.bound_rules import OTHER_RULES, RULES
from precisec.semantics.bound_tape import Forward, Undecided, Unsupported, literal
from precisec.semantics.compiled import Evaluator
from precisec.tune.coverage import MIN_EXECUTIONS, site_executions
from precisec.tune.metrics import Strata
from precisec.tune.samples import Sample, box, in_box, join, plain_box

STRATUM_SAMPLES = 2 * MIN_EXECUTIONS + 4
"""Inputs drawn in each stratum: a sub-box certainly reaching a site alone covers it."""
MAX_STRATA = 16
MAX_CELLS = 1024
"""Sub-boxes the search may hold: the frontier of a long boundary stops growing here."""
CERTAIN_SHARE = 0.75
MAX_PATHS = 64
SEARCH_WORK = 300_000
"""Ball equations the search may evaluate (about a second or two)."""
WORKING_BITS = 128
STREAM = 0x5354
"""Added to the validation seed's entropy for the strata's draws."""

Cell = tuple[tuple[float, float], ...]


class _Reach(Forward):
    """The exact real semantics on balls (no tape: values are the balls themselves),
    marking the sites a path executes; branches are decided as the sound bound's forward
    pass decides them (undecided ones follow `choices` or raise Undecided), and while
    loops are Unsupported there too."""

    def __init__(self, kernel: Kernel, choices: dict[int, bool]) -> None:
        super().__init__(kernel, [kernel.baseline_bits] * len(kernel.sites), True, choices)
        self.marks = np.zeros(len(kernel.sites), dtype=bool)
        self.work = 0

    def value(self, atom: Atom, env: Env, bits: int | None = None,
              site: int | None = None) -> object:
        if isinstance(atom, Var):
            return env[id(atom)]
        assert isinstance(atom, Lit)
        if atom.type == INT:
            return int(atom.text)
        if atom.type == BOOL:
            return atom.text == "1"
        return literal(atom.text, self.kernel.baseline_bits).exact

    def ball(self, atom: Atom, env: Env) -> object:
        return self.value(atom, env)

    def eqn(self, eqn: Eqn, env: Env) -> object:
        self.work += 1
        if eqn.site is not None:
            self.marks[eqn.site] = True
        if eqn.op in ARRAY_OPS:
            return self.array_eqn(eqn, env)
        args = [self.value(a, env) for a in eqn.args]
        if eqn.op == "zeros":
            return [arb(0)] * math.prod(args)  # type: ignore[arg-type]
        if eqn.op == "itof":
            return arb(args[0])  # type: ignore[arg-type]
        if eqn.op in RULES:
            return RULES[eqn.op].value(*args)
        return OTHER_RULES[eqn.op](*args)


@dataclass
class _Search:
    kernel: Kernel
    work: int = 0

    def reach(self, cell: Cell) -> tuple[np.ndarray, np.ndarray]:
        """Per site, whether the cell possibly and certainly reaches it. Unsupported for
        while loops; a path that fails (an index or integer operation on an infeasible
        path) or too many paths make every site possible and none certain."""
        kernel = self.kernel
        possible = np.zeros(len(kernel.sites), dtype=bool)
        certain = np.ones(len(kernel.sites), dtype=bool)
        paths: list[dict[int, bool]] = [{}]
        explored = 0
        while paths:
            choices = paths.pop()
            explored += 1
            walker = _Reach(kernel, choices)
            try:
                if explored > MAX_PATHS:
                    raise ArithmeticError("too many paths")
                walker.region(kernel.body, {}, self.params(cell))
            except Undecided as undecided:
                paths += [{**choices, undecided.occurrence: taken} for taken in (False, True)]
                continue
            except (ArithmeticError, LookupError, ValueError, TypeError):
                return np.ones_like(possible), np.zeros_like(certain)
            finally:
                self.work += walker.work
            possible |= walker.marks
            certain &= walker.marks
        return possible, certain

    def params(self, cell: Cell) -> list[object]:
        """The kernel's parameters on the cell: its inputs as balls, zeros elsewhere."""
        balls = [arb(lo) if lo == hi else arb(lo).union(arb(hi)) for lo, hi in cell]
        params: list[object] = []
        position = 0
        for param, var in zip(self.kernel.params, self.kernel.body.params, strict=True):
            size = var.size if var.shape else 1
            values = balls[position:position + size] if param in self.kernel.inputs \
                else [arb(0)] * size
            position += size if param in self.kernel.inputs else 0
            params.append(values if var.shape else values[0])
        return params


def _ratio(lo: float, hi: float, bottom: float, top: float) -> float:
    """(hi − lo)/(top − bottom), by halves where a width overflows (near ±DBL_MAX)."""
    if math.isfinite(top - bottom):
        return (hi - lo) / (top - bottom)
    return (hi / 2 - lo / 2) / (top / 2 - bottom / 2)


def share(cell: Cell, whole: Cell) -> float:
    """The cell's share of the box's volume."""
    return math.prod(_ratio(lo, hi, bottom, top)
                     for (lo, hi), (bottom, top) in zip(cell, whole, strict=True)
                     if top > bottom)


def _split(cell: Cell, whole: Cell) -> list[Cell] | None:
    """The cell's halves along its widest dimension relative to the box (None: too
    narrow to split in doubles)."""
    spans = [_ratio(lo, hi, bottom, top) if top > bottom else 0.0
             for (lo, hi), (bottom, top) in zip(cell, whole, strict=True)]
    k = int(np.argmax(spans))
    lo, hi = cell[k]
    middle = lo + (hi - lo) / 2 if math.isfinite(hi - lo) else lo / 2 + hi / 2
    if not lo < middle < hi:
        return None
    return [(*cell[:k], (lo, middle), *cell[k + 1:]), (*cell[:k], (middle, hi), *cell[k + 1:])]


def reaching_cells(kernel: Kernel, wanted: Sequence[int]) -> list[Cell]:
    """Disjoint sub-boxes of the range box that possibly reach the `wanted` sites (the
    module docstring), largest first; [] when none does or the kernel has while loops."""
    lows, highs = box(kernel)
    whole: Cell = tuple(zip(lows.tolist(), highs.tolist(), strict=True))
    search = _Search(kernel)
    wanted = list(wanted)
    saved = flint.ctx.prec
    flint.ctx.prec = WORKING_BITS
    try:
        possible, certain = search.reach(whole)
        heap = [(-1.0, 0, whole, possible, certain)]
        done: list[tuple[float, int, Cell, np.ndarray, np.ndarray]] = []
        counter = 1
        while heap and search.work < SEARCH_WORK and len(heap) + len(done) < MAX_CELLS \
                and not _enough(heap + done, wanted):
            entry = heapq.heappop(heap)
            _, _, cell, possible, certain = entry
            if not np.any(possible[wanted]):
                continue
            halves = None if np.all(certain[wanted] | ~possible[wanted]) \
                else _split(cell, whole)
            if halves is None:
                done.append(entry)
                continue
            for half in halves:
                possible, certain = search.reach(half)
                if np.any(possible[wanted]):  # else it is part of the plain stratum
                    heapq.heappush(heap, (-share(half, whole), counter, half, possible,
                                          certain))
                    counter += 1
    except Unsupported:
        return []
    finally:
        flint.ctx.prec = saved
    cells = sorted((e for e in heap + done if np.any(e[3][wanted])), key=lambda e: e[:2])
    return [e[2] for e in cells]


def _enough(entries: list[tuple[float, int, Cell, np.ndarray, np.ndarray]],
            wanted: list[int]) -> bool:
    """Whether, for every wanted site some cell may reach, the cells certainly reaching
    it hold CERTAIN_SHARE of the volume of those possibly reaching it."""
    volume = np.array([-e[0] for e in entries])
    possible = np.array([e[3][wanted] for e in entries])
    certain = np.array([e[4][wanted] for e in entries])
    maybe = volume @ possible
    return bool(np.all((maybe == 0) | (volume @ certain >= CERTAIN_SHARE * maybe)))


def rare_sites(kernel: Kernel, sample: Sample) -> list[int]:
    """The sites some, but fewer than MIN_EXECUTIONS, of the sample's inputs execute
    (one every input runs is not rare: the sample is small)."""
    counts = site_executions(kernel, sample.inputs, sample.reference)
    return [int(k) for k in np.flatnonzero((counts < MIN_EXECUTIONS)
                                           & (counts < len(sample.inputs)))]


def stratify(evaluator: Evaluator, sample: Sample, seed: int) -> Sample:
    """The sample with stratified inputs added for its rare sites (the module
    docstring), or the sample itself: for a uniform box under an RMSE target only, and
    when a search finds sub-boxes reaching them. `seed` is the sample's seed."""
    kernel = evaluator.kernel
    if not plain_box(kernel) or sample.metric.name != "rmse" or sample.metric.strata:
        return sample
    wanted = rare_sites(kernel, sample)
    if not wanted:
        return sample
    cells = reaching_cells(kernel, wanted)
    if not cells:
        return sample
    lows, highs = box(kernel)
    whole: Cell = tuple(zip(lows.tolist(), highs.tolist(), strict=True))
    groups = [[cell] for cell in cells[:MAX_STRATA - 1]] + \
        ([cells[MAX_STRATA - 1:]] if len(cells) >= MAX_STRATA else [])
    rng = np.random.default_rng([seed, STREAM])
    points = np.vstack([_draw(group, whole, rng, kernel.precision) for group in groups])
    labels = np.concatenate([_labels(sample.inputs, groups),
                             np.repeat(np.arange(1, len(groups) + 1), STRATUM_SAMPLES)])
    shares = [math.fsum(share(cell, whole) for cell in group) for group in groups]
    probabilities = np.array([max(0.0, 1.0 - math.fsum(shares)), *shares])
    strata = Strata(labels, probabilities, len(sample.inputs), tuple(wanted))
    reference = join([sample.reference, evaluator.exact(points)])
    return Sample(np.vstack([sample.inputs, points]), reference,
                  replace(sample.metric, strata=strata), sample.acceptance)


def _draw(group: list[Cell], whole: Cell, rng: np.random.Generator, precision: str
          ) -> np.ndarray:
    """STRATUM_SAMPLES points uniform in a union of disjoint cells: a cell chosen in
    proportion to its volume, then a point uniform in it."""
    shares = np.array([share(cell, whole) for cell in group])
    chosen = rng.choice(len(group), STRATUM_SAMPLES, p=shares / shares.sum())
    bounds = np.array(group)  # (cells, inputs, 2)
    return in_box(bounds[chosen, :, 0], bounds[chosen, :, 1],
                  rng.random((STRATUM_SAMPLES, bounds.shape[1])), precision)


def _labels(inputs: np.ndarray, groups: list[list[Cell]]) -> np.ndarray:
    """Per input, 1 + the index of the first group with a cell holding it, or 0 (the rest
    of the box)."""
    labels = np.zeros(len(inputs), dtype=np.int64)
    for k in range(len(groups), 0, -1):
        for cell in groups[k - 1]:
            inside = np.all([(inputs[:, d] >= lo) & (inputs[:, d] <= hi)
                             for d, (lo, hi) in enumerate(cell)], axis=0)
            labels[inside] = k
    return labels
