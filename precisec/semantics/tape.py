"""Long straight runs of real operations as data, for the noise model (docs/method.md §2).

XLA's compile time grows faster than linearly with a program's length: a 200-site
straight-line kernel traced operation by operation takes ten seconds to compile with its
VJP, an 800-site one minutes. So a run of at least TAPE_MIN consecutive real operations
becomes a *tape*: per instruction its operation (an index into a `lax.switch` over the
operations the run uses), its argument registers or literals, result register, site and
constant slots; the model runs it as one `lax.scan` over instructions with a register file
for the values and their perturbations, allocated by liveness so that it stays small (and
each sample's registers stay close together in memory). Compile time is then independent
of the run's length, and evaluation and reverse mode stay O(instructions). Shorter runs
are traced equation by equation (exactly as the straight-line kernels of Table 1 always
were).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from precisec.ir.core import Atom, Cond, Eqn, Lit, Loop, Region, Stmt, Var
from precisec.semantics.jax_rules import REAL_RULES

TAPE_MIN = 64
MAX_ARITY = 3


@dataclass(frozen=True)
class Tape:
    """A run of real equations over a small register file: `inputs` (values defined
    before the run) start in registers 0, 1, …; each instruction reads its arguments'
    registers (or its literal arguments, `literal` marking them) and writes its result
    to `out`, a register freed by a value no longer needed (liveness), so the registers
    are as few as the values live at once. Its inexact literal arguments are
    `constant_positions` with noise slots `constant_slots` (-1 past the last; as many
    columns as the most any instruction has). `exports` are the values read after
    the run."""

    inputs: tuple[Var, ...]
    registers: int
    ops: tuple[str, ...]
    opcode: np.ndarray
    args: np.ndarray
    literal: np.ndarray
    literals: np.ndarray
    out: np.ndarray
    sites: np.ndarray
    rounds: np.ndarray
    constant_positions: np.ndarray
    constant_slots: np.ndarray
    exports: tuple[tuple[Var, int], ...]


def _tapeable(stmt: Stmt) -> bool:
    return isinstance(stmt, Eqn) and stmt.op in REAL_RULES


def long_runs(stmts: Sequence[Stmt]) -> dict[int, int]:
    """start -> end of each maximal run of real equations that is long enough to tape and
    rounds somewhere."""
    runs: dict[int, int] = {}
    start = 0
    while start < len(stmts):
        end = start
        while end < len(stmts) and _tapeable(stmts[end]):
            end += 1
        if end - start >= TAPE_MIN and any(
                s.site is not None for s in stmts[start:end]):  # type: ignore[union-attr]
            runs[start] = end
        start = max(end, start + 1)
    return runs


def referenced(stmts: Iterable[Stmt], results: Iterable[Atom]) -> set[int]:
    """ids of the values the statements (and their regions) and the results read."""
    found = {id(a) for a in results if isinstance(a, Var)}

    def region(r: Region) -> None:
        found.update(referenced(r.stmts, r.results))

    for stmt in stmts:
        if isinstance(stmt, Eqn):
            found.update(id(a) for a in stmt.args if isinstance(a, Var))
        elif isinstance(stmt, Loop):
            found.update(id(a) for a in stmt.init if isinstance(a, Var))
            region(stmt.body)
        elif isinstance(stmt, Cond):
            if isinstance(stmt.pred, Var):
                found.add(id(stmt.pred))
            region(stmt.then)
            region(stmt.other)
    return found


def build(eqns: Sequence[Eqn], constant_slot: dict[tuple[int, int], int],
          used_later: set[int]) -> Tape:
    """The tape of `eqns`, exporting the values in `used_later`."""
    count = len(eqns)
    last: dict[int, int] = {}
    for k, eqn in enumerate(eqns):
        for arg in eqn.args:
            if isinstance(arg, Var):
                last[id(arg)] = k
    for eqn in eqns:
        if id(eqn.out) in used_later:
            last[id(eqn.out)] = count
    defined = {id(e.out) for e in eqns}
    inputs = list({id(a): a for e in eqns for a in e.args
                   if isinstance(a, Var) and id(a) not in defined}.values())
    register = {id(v): k for k, v in enumerate(inputs)}
    free: list[int] = []
    registers = len(inputs)
    args = np.zeros((count, MAX_ARITY), dtype=np.int32)
    literal = np.zeros((count, MAX_ARITY), dtype=bool)
    literals = np.zeros((count, MAX_ARITY))
    constants: list[list[tuple[int, int]]] = []
    out = np.zeros(count, dtype=np.int32)
    for k, eqn in enumerate(eqns):
        for position, arg in enumerate(eqn.args):
            if isinstance(arg, Lit):
                literal[k, position] = True
                literals[k, position] = float(arg.value)
            else:
                args[k, position] = register[id(arg)]
        constants.append([(position, constant_slot[(eqn.site, position)])
                          for position in range(len(eqn.args))
                          if (eqn.site, position) in constant_slot])
        for arg in {id(a): a for a in eqn.args if isinstance(a, Var)}.values():
            if last[id(arg)] == k:
                free.append(register[id(arg)])
        if free:
            out[k] = free.pop()
        else:
            out[k], registers = registers, registers + 1
        register[id(eqn.out)] = int(out[k])
        if id(eqn.out) not in last:
            free.append(int(out[k]))
    ops = tuple(sorted({e.op for e in eqns}))
    width = max(len(c) for c in constants)
    positions = np.full((count, width), -1, dtype=np.int32)
    slots = np.full((count, width), -1, dtype=np.int32)
    for k, pairs in enumerate(constants):
        for j, (position, slot) in enumerate(pairs):
            positions[k, j], slots[k, j] = position, slot
    return Tape(
        tuple(inputs), registers, ops, np.array([ops.index(e.op) for e in eqns], dtype=np.int32),
        args, literal, literals, out, np.array([e.site or 0 for e in eqns], dtype=np.int32),
        np.array([e.site is not None for e in eqns]), positions, slots,
        tuple((e.out, register[id(e.out)]) for e in eqns if id(e.out) in used_later))
