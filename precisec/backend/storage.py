"""Where and how wide each value lives in emitted C: analyses of the structured IR shared
by the C walker (`precisec.backend.cwalk`), its dialects and the native cast analysis.

In-place C must agree with the functional IR (docs/method.md §1):

* `array_groups`: every array value descends from one kernel parameter or local `zeros`
  array and is updated in place, so a version must never be read after it was
  superseded (`IRError` otherwise).
* `compute_widths`: the precision every real value needs so that copies, merges, loads,
  stores and exact operations never round. It is the interpreter's rule
  (`precisec.semantics.interpret`) made static: a rounding operation has its site's
  bits, an exact one its widest argument's, a merged or carried variable the widest value
  it can receive (a fixpoint over loops), an array the widest element ever stored.
* `used_values`: which values the emitted C reads (integer code, comparisons and merges
  nothing reads are not written, so the strict warnings stay quiet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from precisec.ir.check import IRError
from precisec.ir.core import (
    REAL,
    Atom,
    Cond,
    Eqn,
    Input,
    Kernel,
    Lit,
    Loop,
    Region,
    Stmt,
    Var,
    While,
    walk,
)

INPUT_BITS = 53
INT_BITS = 64


@dataclass(frozen=True)
class Precisions:
    """The precision rule of one evaluation: per-site bits, and the bits of a literal no
    rounding operation consumes, of an input, of an integer converted to real."""

    site_bits: Sequence[int]
    literal_bits: int
    input_bits: int = INPUT_BITS
    int_bits: int = INT_BITS

    @staticmethod
    def emulation(kernel: Kernel, site_bits: Sequence[int]) -> Precisions:
        if len(site_bits) != len(kernel.sites):
            raise ValueError(f"{len(site_bits)} precisions for {len(kernel.sites)} sites")
        return Precisions(tuple(int(b) for b in site_bits), kernel.baseline_bits)

    @staticmethod
    def exact(kernel: Kernel, bits: int) -> Precisions:
        return Precisions((bits,) * len(kernel.sites), bits)


# A precision key: ("var", id(var)), ("group", array group), ("site", site) for a value
# at a site's precision, ("literal", 0) for a literal outside rounding operations.
Key = tuple[str, int]


@dataclass(frozen=True)
class Widths:
    """Precisions of every real scalar (by id) and array group under one `Precisions`."""

    scalars: dict[int, int]
    groups: dict[int, int]
    rule: Precisions

    def bits(self, key: Key) -> int:
        kind, ref = key
        if kind == "var":
            return self.scalars[ref]
        if kind == "group":
            return self.groups[ref]
        if kind == "site":
            return self.rule.site_bits[ref]
        return self.rule.literal_bits


def array_groups(kernel: Kernel) -> dict[int, int]:
    """The array every array value descends from, by value id: a parameter (numbered by
    its position) or a local `zeros` array (numbered after the parameters).

    Raises IRError if a superseded version of an array is read, since emitted code
    updates arrays in place."""
    groups: dict[int, int] = {}
    current: dict[int, int | None] = {}
    locals_: list[Var] = []

    def read(atom: Atom, where: object) -> int:
        group = groups.get(id(atom))
        if group is None or current[group] != id(atom):
            name = atom.hint if isinstance(atom, Var) else atom
            raise IRError(f"{kernel.name}: array {name or '?'} read at {where} after it was "
                          "updated (emitted C updates arrays in place)")
        return group

    def define(var: Var, group: int) -> None:
        groups[id(var)] = group
        current[group] = id(var)

    def loop(stmt: Loop | While) -> None:
        before = dict(current)
        carried = [(p, read(a, stmt.loc)) for p, a in zip(stmt.carried, stmt.init, strict=True)
                   if p.shape]
        if isinstance(stmt, While):  # the test reads the carried arrays and updates none
            for param, (_, group) in zip((p for p in stmt.cond.params if p.shape), carried,
                                         strict=True):
                define(param, group)
            region(stmt.cond)
            if any(current[g] != before[g] for g in before if g not in dict(carried).values()):
                raise IRError(f"{kernel.name}: the test of the while loop at {stmt.loc} "
                              "updates an array")
        for param, group in carried:
            define(param, group)
        region(stmt.body)
        for (param, group), result in zip(carried, (r for p, r in zip(
                stmt.carried, stmt.body.results, strict=True) if p.shape), strict=True):
            if read(result, stmt.loc) != group:
                raise IRError(f"{kernel.name}: loop at {stmt.loc} carries {param.hint} "
                              "between two arrays")
        moved = {g for g in before if current[g] != before[g]} - {g for _, g in carried}
        if moved:
            raise IRError(f"{kernel.name}: loop at {stmt.loc} updates an array it does not "
                          "carry")
        for out, (_, group) in zip((o for o in stmt.outs if o.shape), carried, strict=True):
            define(out, group)

    def cond(stmt: Cond) -> None:
        before = dict(current)
        region(stmt.then)
        sides = [[read(r, stmt.loc) for r in stmt.then.results if isinstance(r, Var) and r.shape]]
        after_then = dict(current)
        current.update(before)
        region(stmt.other)
        sides.append([read(r, stmt.loc) for r in stmt.other.results
                      if isinstance(r, Var) and r.shape])
        if sides[0] != sides[1]:
            raise IRError(f"{kernel.name}: branch at {stmt.loc} merges two arrays")
        for group in list(current):
            if group not in sides[0] and (current[group] != before.get(group)
                                          or after_then.get(group) != before.get(group)):
                current[group] = None
        for out, group in zip((o for o in stmt.outs if o.shape), sides[0], strict=True):
            define(out, group)

    def region(body: Region) -> None:
        for stmt in body.stmts:
            if isinstance(stmt, Eqn):
                if stmt.op == "zeros":
                    define(stmt.out, len(kernel.params) + len(locals_))
                    locals_.append(stmt.out)
                elif stmt.op == "load":
                    read(stmt.args[0], stmt.loc)
                elif stmt.op == "store":
                    define(stmt.out, read(stmt.args[0], stmt.loc))
            elif isinstance(stmt, Loop | While):
                loop(stmt)
            else:
                cond(stmt)

    for position, var in enumerate(kernel.body.params):
        if var.shape:
            define(var, position)
    region(kernel.body)
    for result in kernel.body.results:
        if isinstance(result, Var) and result.shape:
            read(result, kernel.loc)
    return groups


def compute_widths(kernel: Kernel, groups: dict[int, int], rule: Precisions) -> Widths:
    """Every real value's precision under `rule` (the least fixpoint of the max rules)."""
    scalars: dict[int, int] = {}
    group_bits: dict[int, int] = {}
    changed = True

    def width(atom: Atom, site: int | None = None) -> int:
        if isinstance(atom, Lit):
            return rule.site_bits[site] if site is not None else rule.literal_bits
        if atom.shape:
            return group_bits[groups[id(atom)]]
        return scalars.get(id(atom), 0)

    def widen(var: Var, bits: int) -> None:
        nonlocal changed
        if var.type == REAL and not var.shape and bits > scalars.get(id(var), 0):
            scalars[id(var)] = bits
            changed = True

    def eqn(stmt: Eqn) -> None:
        nonlocal changed
        kind = stmt.spec.kind
        if stmt.site is not None:
            widen(stmt.out, rule.site_bits[stmt.site])
        elif kind == "arith":
            widen(stmt.out, max(width(a) for a in stmt.args))
        elif kind == "convert":
            widen(stmt.out, rule.int_bits)
        elif stmt.op == "zeros":
            group_bits.setdefault(groups[id(stmt.out)], 1)
        elif stmt.op == "load":
            widen(stmt.out, width(stmt.args[0]))
        elif stmt.op == "store":
            group = groups[id(stmt.args[0])]
            if width(stmt.args[-1]) > group_bits[group]:
                group_bits[group] = width(stmt.args[-1])
                changed = True

    def region(body: Region) -> None:
        for stmt in body.stmts:
            if isinstance(stmt, Eqn):
                eqn(stmt)
            elif isinstance(stmt, Loop):
                for param, init in zip(stmt.carried, stmt.init, strict=True):
                    widen(param, width(init))
                region(stmt.body)
                for param, result, out in zip(stmt.carried, stmt.body.results, stmt.outs,
                                              strict=True):
                    widen(param, width(result))
                    widen(out, width(param))
            elif isinstance(stmt, While):  # the test's parameters share the carried storage
                for param, test, init in zip(stmt.carried, stmt.cond.params, stmt.init,
                                             strict=True):
                    widen(param, width(init))
                    widen(test, width(param))
                region(stmt.cond)
                region(stmt.body)
                for param, test, result, out in zip(stmt.carried, stmt.cond.params,
                                                    stmt.body.results, stmt.outs, strict=True):
                    widen(param, width(result))
                    widen(test, width(param))
                    widen(out, width(param))
            else:
                region(stmt.then)
                region(stmt.other)
                for out, a, b in zip(stmt.outs, stmt.then.results, stmt.other.results,
                                     strict=True):
                    widen(out, max(width(a), width(b)))

    for param, var in zip(kernel.params, kernel.body.params, strict=True):
        start = rule.input_bits if isinstance(param, Input) else 1
        if var.shape:
            group_bits[groups[id(var)]] = start
        else:
            scalars[id(var)] = start
    while changed:
        changed = False
        region(kernel.body)
    return Widths(scalars, group_bits, rule)


def reads(stmts: Sequence[Stmt]) -> set[int]:
    """Ids of every value the statements mention, written or not."""
    return {id(a) for stmt in walk(Region((), tuple(stmts), ())) for a in _atoms(stmt)
            if isinstance(a, Var)}


def _atoms(stmt: Stmt) -> Sequence[Atom]:
    if isinstance(stmt, Eqn):
        return stmt.args
    if isinstance(stmt, Loop):
        return (*stmt.init, *stmt.body.results)
    if isinstance(stmt, While):
        return (*stmt.init, *stmt.cond.results, *stmt.body.results)
    return (stmt.pred, *stmt.then.results, *stmt.other.results)


def used_values(stmts: Sequence[Stmt], results: Sequence[Atom] = ()) -> set[int]:
    """Ids of the values the emitted C reads, for statements whose `results` are read.
    Real and array operations are always written (they may fail in the exact reference);
    an integer or boolean operation, a comparison, a carried or merged value only if
    something written reads it."""
    live: set[int] = set()

    def add(atoms: Sequence[Atom]) -> None:
        nonlocal changed
        for atom in atoms:
            if isinstance(atom, Var) and id(atom) not in live:
                live.add(id(atom))
                changed = True

    def region(body: Region) -> None:
        for stmt in body.stmts:
            if isinstance(stmt, Eqn):
                if stmt.spec.kind not in ("int", "logic", "compare") or id(stmt.out) in live:
                    add(stmt.args)
            elif isinstance(stmt, Loop):
                for param, init, result, out in zip(stmt.carried, stmt.init, stmt.body.results,
                                                    stmt.outs, strict=True):
                    if id(param) in live or id(out) in live:
                        add([init, result])
                region(stmt.body)
            elif isinstance(stmt, While):
                add(stmt.cond.results)
                for param, test, init, result, out in zip(
                        stmt.carried, stmt.cond.params, stmt.init, stmt.body.results, stmt.outs,
                        strict=True):
                    if id(param) in live or id(test) in live or id(out) in live:
                        add([param, test, init, result])
                region(stmt.cond)
                region(stmt.body)
            else:
                add([stmt.pred])
                for out, a, b in zip(stmt.outs, stmt.then.results, stmt.other.results,
                                     strict=True):
                    if id(out) in live:
                        add([a, b])
                region(stmt.then)
                region(stmt.other)

    changed = True
    add(results)
    while changed:
        changed = False
        region(Region((), tuple(stmts), ()))
    return live
