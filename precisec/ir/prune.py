"""Dead loop-carried values dropped from a kernel's while loops (docs/method.md §1).

A while loop's update computes every carried value each round, yet a carried value that
neither the loop's test, nor the kernel's results, nor another live carried value reads
is dead. FPBench's Runge-Kutta 4 carries the solution `y_n` but returns only its step
residual `e`: kept, `y_n` would be sites to tune, and an exact reference that overflows
MPFR's exponent range on a value no result depends on. Like any compiler, the frontends
drop such values and the operations only they read, and renumber the sites that are left
(in their order). A value that nothing reads at all stays, as in the source (the emitters
write it); counted loops and branches are kept whole, so a kernel without while loops is
left as it is.
"""

from __future__ import annotations

from dataclasses import replace

from precisec.ir.core import Atom, Cond, Eqn, Kernel, Loop, Region, Stmt, Var


class _Liveness:
    """Which values the kernel's results, branch predicates, loop tests and unread
    operations need."""

    def __init__(self, kernel: Kernel) -> None:
        self.needs: dict[int, list[Atom]] = {}
        """Per value: the operands that become live with it."""
        self.roots: list[Atom] = list(kernel.body.results)
        self.read: set[int] = set()
        self.outs: list[Var] = []
        self.visit(kernel.body)
        self.roots.extend(out for out in self.outs if id(out) not in self.read)
        self.live: set[int] = set()
        pending = [a for a in self.roots if isinstance(a, Var)]
        while pending:
            var = pending.pop()
            if id(var) in self.live:
                continue
            self.live.add(id(var))
            pending.extend(a for a in self.needs.get(id(var), []) if isinstance(a, Var))

    def visit(self, region: Region) -> None:
        for stmt in region.stmts:
            self.read.update(id(a) for a in _operands(stmt))
            if isinstance(stmt, Eqn):
                self.needs[id(stmt.out)] = list(stmt.args)
                self.outs.append(stmt.out)
            elif isinstance(stmt, Loop):
                self.roots.extend([*stmt.init, *stmt.body.results])
                self.visit(stmt.body)
            elif isinstance(stmt, Cond):
                self.roots.extend([stmt.pred, *stmt.then.results, *stmt.other.results])
                self.visit(stmt.then)
                self.visit(stmt.other)
            else:
                self.roots.extend(stmt.cond.results)
                for k, out in enumerate(stmt.outs):
                    # the three names of carried value k: all live or all dead
                    names = (out, stmt.cond.params[k], stmt.body.params[k])
                    for var in names:
                        self.needs[id(var)] = [stmt.init[k], stmt.body.results[k],
                                               *(v for v in names if v is not var)]
                self.visit(stmt.cond)
                self.visit(stmt.body)
        self.read.update(id(a) for a in region.results)

    def __contains__(self, var: Var) -> bool:
        return id(var) in self.live


def _operands(stmt: Stmt) -> tuple[Atom, ...]:
    """What a statement reads directly (its regions' results are read by the region)."""
    if isinstance(stmt, Eqn):
        return stmt.args
    if isinstance(stmt, Cond):
        return (stmt.pred,)
    return stmt.init


def prune(kernel: Kernel) -> tuple[Kernel, tuple[int, ...]]:
    """The kernel without its dead while-loop carried values and the operations only
    they read, and for each of its sites the index that site had in `kernel`."""
    live = _Liveness(kernel)
    kept: list[int] = []

    def keep_eqn(eqn: Eqn) -> bool:
        if eqn.out not in live:
            return False
        if eqn.site is not None:
            kept.append(eqn.site)
        return True

    def region(r: Region) -> Region:
        return replace(r, stmts=tuple(s for s in (statement(s) for s in r.stmts)
                                      if s is not None))

    def statement(stmt: Stmt) -> Stmt | None:
        if isinstance(stmt, Eqn):
            return stmt if keep_eqn(stmt) else None
        if isinstance(stmt, Loop):
            return replace(stmt, body=region(stmt.body))
        if isinstance(stmt, Cond):
            return replace(stmt, then=region(stmt.then), other=region(stmt.other))
        carried = [k for k, out in enumerate(stmt.outs) if out in live]
        cond, body = region(stmt.cond), region(stmt.body)
        return replace(stmt, init=tuple(stmt.init[k] for k in carried),
                       cond=replace(cond, params=tuple(cond.params[k] for k in carried)),
                       body=replace(body, params=tuple(body.params[k] for k in carried),
                                    results=tuple(body.results[k] for k in carried)),
                       outs=tuple(stmt.outs[k] for k in carried))

    body = region(kernel.body)
    if len(kept) == len(kernel.sites):
        return kernel, tuple(range(len(kernel.sites)))
    order = sorted(kept)
    number = {old: new for new, old in enumerate(order)}

    def renumber(r: Region) -> Region:
        return replace(r, stmts=tuple(renumbered(s) for s in r.stmts))

    def renumbered(stmt: Stmt) -> Stmt:
        if isinstance(stmt, Eqn):
            return stmt if stmt.site is None else replace(stmt, site=number[stmt.site])
        if isinstance(stmt, Loop):
            return replace(stmt, body=renumber(stmt.body))
        if isinstance(stmt, Cond):
            return replace(stmt, then=renumber(stmt.then), other=renumber(stmt.other))
        return replace(stmt, cond=renumber(stmt.cond), body=renumber(stmt.body))

    return replace(kernel, body=renumber(body),
                   sites=tuple(kernel.sites[k] for k in order)), tuple(order)
