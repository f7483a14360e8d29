"""Which rounding sites the validation sample actually executes (docs/method.md §4).

Refinement only sees what the validation inputs execute: an operation inside a branch
that no validation input takes contributes nothing to the measured error, so the search
would lower it to the minimum and the tuned program would be garbage on that branch. Here
each site gets the number of validation inputs that executed it at least once; a site
run by fewer than MIN_EXECUTIONS inputs is *under-sampled* and keeps the kernel's
baseline precision (53 bits for double, 24 for float) unless the user opts out.

The counts come from the exact program's branch decisions. Inputs with the same branch
hash (`Reference.branches`) took the same path; the defining interpreter replays one
representative of each path to get its decision trace, and a walk of the IR along that
trace marks the sites the path executes. A kernel without branches executes every site
that is not in a zero-trip loop on every input.

The operations that compute a branch condition keep the baseline too (`condition_sites`):
a rounding there can flip the branch, and a flip is a jump of the output that only inputs
close to the boundary reveal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from precisec.ir.core import Atom, Cond, Eqn, Kernel, Loop, Region, Var, executions, walk
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


def _has_branch(region: Region) -> bool:
    return any(isinstance(stmt, Cond) for stmt in walk(region))


def _executed(region: Region, trace: Iterator[int], marks: np.ndarray) -> None:
    """Mark the sites `region` executes when its decisions are read from `trace`."""
    for stmt in region.stmts:
        if isinstance(stmt, Eqn):
            if stmt.site is not None:
                marks[stmt.site] = True
        elif isinstance(stmt, Loop):
            if stmt.trips <= 0:
                continue
            if not _has_branch(stmt.body):
                _executed(stmt.body, trace, marks)
                continue
            for _ in range(stmt.trips):
                _executed(stmt.body, trace, marks)
        else:
            decision = next(trace)
            assert decision // 2 == stmt.branch, "the trace does not follow the IR"
            _executed(stmt.then if decision % 2 else stmt.other, trace, marks)


def path_sites(kernel: Kernel, trace: list[int]) -> np.ndarray:
    """The sites one execution path runs (a boolean per site), from its decision trace
    (`interpret.Run.trace`: 2·branch + taken, in execution order)."""
    marks = np.zeros(len(kernel.sites), dtype=bool)
    _executed(kernel.body, iter(trace), marks)
    return marks


def site_executions(kernel: Kernel, inputs: np.ndarray, reference: Reference) -> np.ndarray:
    """Per site, how many of `inputs` (whose exact results are `reference`) execute it."""
    if reference.branches is None or not kernel.n_branches:
        return path_sites(kernel, []) * len(inputs)
    hashes, first, counts = np.unique(reference.branches, return_index=True,
                                      return_counts=True)
    del hashes
    cost = max(sum(executions(kernel)), 1)
    counted = np.zeros(len(kernel.sites), dtype=np.int64)
    spent = 0
    for k in np.argsort(-counts, kind="stable"):
        if spent and spent + cost > PATH_WORK:
            break
        spent += cost
        run = interpret.run(kernel, inputs[first[k]], exact_bits=reference.bits)
        counted += path_sites(kernel, run.trace) * int(counts[k])
    return counted


def under_sampled(counts: np.ndarray) -> np.ndarray:
    """The indices of the sites fewer than MIN_EXECUTIONS inputs execute."""
    return np.flatnonzero(counts < MIN_EXECUTIONS)



def condition_sites(kernel: Kernel) -> np.ndarray:
    """Per site, whether its result flows into a branch condition (through operations,
    loop-carried values and branch results). Rounding there can flip the branch, a jump
    of the output that the noise model, which follows the clean branches, does not see,
    and that a validation sample sees only if it has inputs close enough to the
    boundary; so these sites keep the baseline precision (docs/method.md §4)."""
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
