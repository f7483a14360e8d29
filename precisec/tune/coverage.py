"""Which rounding sites the validation sample actually executes (docs/method.md §4).

Refinement only sees what the validation inputs execute: an operation inside a branch
that no validation input takes contributes nothing to the measured error, so the search
would lower it to the minimum and the tuned program would be garbage on that branch. Here
each site gets the number of validation inputs that executed it at least once; a site
run by fewer than MIN_EXECUTIONS inputs is *under-sampled* and keeps the kernel's
baseline precision (53 bits for double, 24 for float) unless the user opts out. The
validation sample has stratified inputs for such sites where a search finds sub-boxes
reaching them (`precisec.tune.strata`), so this floor is the fallback.

The counts come from the exact program's branch decisions and while-loop trip counts.
Inputs with the same branch and trip hashes (`Reference.branches`, `Reference.trips`)
took the same path; the defining interpreter replays one representative of each path to
get its decision trace and trip counts, and a walk of the IR along them marks the sites
the path executes. A kernel without branches and while loops executes every site that is
not in a zero-trip loop on every input.

The operations that compute a branch condition keep the baseline too (`condition_sites`):
a rounding there can flip the branch, and a flip is a jump of the output that only inputs
close to the boundary reveal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from precisec.ir.core import Atom, Cond, Eqn, Kernel, Loop, Region, Var, While, walk
from precisec.semantics import interpret
from precisec.semantics.compiled import Reference

MIN_EXECUTIONS = 30
"""A site executed by fewer validation inputs than this is under-sampled: a mean square
over so few points says little about the site's contribution (with the default 10,000
inputs, a branch taken with probability below 0.3%)."""

PATH_WORK = 2_000_000
"""Dynamic operations the interpreter may spend on path representatives; the paths are
replayed most frequent first, and inputs on paths beyond the budget count as executing
nothing (so their sites look under-sampled and keep the baseline: the safe side)."""


def _dynamic(region: Region) -> bool:
    """Whether walking the region depends on the run: it branches or has a while loop."""
    return any(isinstance(stmt, Cond | While) for stmt in walk(region))


def _repeat(region: Region, times: int, trace: Iterator[int], starts: Iterator[int],
            marks: np.ndarray) -> int:
    """Walk a region `times` times (once, if nothing in it depends on the run)."""
    if times <= 0:
        return 0
    if not _dynamic(region):
        return times * _executed(region, trace, starts, marks)
    return sum(_executed(region, trace, starts, marks) for _ in range(times))


def _executed(region: Region, trace: Iterator[int], starts: Iterator[int],
              marks: np.ndarray) -> int:
    """Mark the sites `region` executes when its decisions are read from `trace` and its
    while loops' trip counts from `starts` (in the order the loops start); returns how
    many site executions the walk covered."""
    walked = 0
    for stmt in region.stmts:
        if isinstance(stmt, Eqn):
            if stmt.site is not None:
                marks[stmt.site] = True
                walked += 1
        elif isinstance(stmt, Loop):
            walked += _repeat(stmt.body, stmt.trips, trace, starts, marks)
        elif isinstance(stmt, While):
            trips = next(starts)
            if not _dynamic(stmt.cond) and not _dynamic(stmt.body):
                tests = trips + 1 if trips < stmt.cap else trips
                walked += _repeat(stmt.cond, tests, trace, starts, marks)
                walked += _repeat(stmt.body, trips, trace, starts, marks)
                continue
            for trip in range(trips + 1):  # test, body, test, ..., test (none at the cap)
                if trip < stmt.cap:
                    walked += _executed(stmt.cond, trace, starts, marks)
                if trip < trips:
                    walked += _executed(stmt.body, trace, starts, marks)
        else:
            decision = next(trace)
            assert decision // 2 == stmt.branch, "the trace does not follow the IR"
            walked += _executed(stmt.then if decision % 2 else stmt.other, trace, starts,
                                marks)
    return walked


def path_sites(kernel: Kernel, trace: list[int], starts: Sequence[int] = ()) -> np.ndarray:
    """The sites one execution path runs (a boolean per site), from its decision trace
    (`interpret.Run.trace`: 2·branch + taken, in execution order) and its while loops'
    trip counts (`interpret.Run.starts`)."""
    marks = np.zeros(len(kernel.sites), dtype=bool)
    _executed(kernel.body, iter(trace), iter(starts), marks)
    return marks


def site_executions(kernel: Kernel, inputs: np.ndarray, reference: Reference) -> np.ndarray:
    """Per site, how many of `inputs` (whose exact results are `reference`) execute it."""
    return site_coverage(kernel, inputs, reference)[0]


def site_coverage(kernel: Kernel, inputs: np.ndarray, reference: Reference,
                  weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per site, how many of `inputs` execute it, and the share of the input
    distribution that does: the sum of the `weights` of those inputs (a stratified
    sample's, `metrics.Strata.weights`), or their count over the number of inputs."""
    keys = [hashes for hashes in (reference.branches, reference.trips) if hashes is not None]
    if not keys:
        every = path_sites(kernel, []) * len(inputs)
        return every, every / max(len(inputs), 1)
    paths = np.stack(keys, axis=1)
    _, first, inverse, counts = np.unique(paths, axis=0, return_index=True,
                                          return_inverse=True, return_counts=True)
    mass = np.bincount(inverse.ravel(), weights=weights, minlength=len(counts))
    if weights is None:
        mass = mass / len(inputs)
    counted = np.zeros(len(kernel.sites), dtype=np.int64)
    shares = np.zeros(len(kernel.sites))
    spent = cost = 0
    for k in np.argsort(-counts, kind="stable"):
        if spent and spent + cost > PATH_WORK:
            break
        run = interpret.run(kernel, inputs[first[k]], exact_bits=reference.bits)
        marks = np.zeros(len(kernel.sites), dtype=bool)
        cost = max(_executed(kernel.body, iter(run.trace), iter(run.starts), marks), 1)
        spent += cost
        counted += marks * int(counts[k])
        shares += marks * float(mass[k])
    return counted, shares


def under_sampled(counts: np.ndarray) -> np.ndarray:
    """The indices of the sites fewer than MIN_EXECUTIONS inputs execute."""
    return np.flatnonzero(counts < MIN_EXECUTIONS)



def condition_sites(kernel: Kernel) -> np.ndarray:
    """Per site, whether its result flows into a branch condition or a while loop's test
    (through operations, loop-carried values and branch results). Rounding there can flip
    the branch, a jump of the output that the noise model, which follows the clean
    branches, does not see, and that a validation sample sees only if it has inputs close
    enough to the boundary; so these sites keep the baseline precision (docs/method.md §4)."""
    sources: dict[int, list[Atom]] = {}
    site_of: dict[int, int] = {}
    preds: list[Atom] = []

    def visit(region: Region) -> None:
        for stmt in region.stmts:
            if isinstance(stmt, Eqn):
                sources[id(stmt.out)] = list(stmt.args)
                if stmt.site is not None:
                    site_of[id(stmt.out)] = stmt.site
            elif isinstance(stmt, Loop):
                for k, var in enumerate(stmt.outs):
                    sources[id(var)] = [stmt.init[k], stmt.body.results[k]]
                    sources[id(stmt.body.params[k + 1])] = [stmt.init[k], stmt.body.results[k]]
                visit(stmt.body)
            elif isinstance(stmt, While):  # its test decides whether it goes on
                preds.extend(stmt.cond.results)
                for k, var in enumerate(stmt.outs):
                    feeds = [stmt.init[k], stmt.body.results[k]]
                    for each in (var, stmt.cond.params[k], stmt.body.params[k]):
                        sources[id(each)] = feeds
                visit(stmt.cond)
                visit(stmt.body)
            else:
                preds.append(stmt.pred)
                for k, var in enumerate(stmt.outs):
                    sources[id(var)] = [stmt.then.results[k], stmt.other.results[k]]
                visit(stmt.then)
                visit(stmt.other)

    visit(kernel.body)
    marks = np.zeros(len(kernel.sites), dtype=bool)
    pending = [atom for atom in preds if isinstance(atom, Var)]
    seen: set[int] = set()
    while pending:
        var = pending.pop()
        if id(var) in seen:
            continue
        seen.add(id(var))
        if id(var) in site_of:
            marks[site_of[id(var)]] = True
        pending.extend(a for a in sources.get(id(var), []) if isinstance(a, Var))
    return marks


@dataclass(frozen=True)
class Floor:
    """The least bits refinement may give each site, and why: `unsampled` sites (fewer
    than MIN_EXECUTIONS validation inputs run them) and `conditions` (they feed a branch
    condition) keep the baseline precision unless allowed."""

    bits: np.ndarray
    unsampled: tuple[int, ...]
    conditions: tuple[int, ...]


def floor(kernel: Kernel, executions: np.ndarray | None, allow_unsampled: bool,
          tune_conditions: bool) -> Floor:
    """The refinement floor: the baseline on under-sampled sites unless `allow_unsampled`,
    and on condition sites unless `tune_conditions`; 1 bit elsewhere (no floor)."""
    unsampled = () if executions is None else tuple(int(k) for k in under_sampled(executions))
    conditions = tuple(int(k) for k in np.flatnonzero(condition_sites(kernel)))
    bits = np.ones(len(kernel.sites), dtype=int)
    if not allow_unsampled:
        bits[list(unsampled)] = kernel.baseline_bits
    if not tune_conditions:
        bits[list(conditions)] = kernel.baseline_bits
    return Floor(bits, unsampled, conditions)
