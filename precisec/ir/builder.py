"""Building a kernel's IR: frontends emit equations into nested regions here.

The builder numbers sites (one per rounding equation, in emission order) and branch
decisions, infers each result's type from the operation table, and keeps a stack of open
regions so a frontend can build a loop body or a branch side and close it into a `Loop`,
`While` or `Cond`.
"""

from __future__ import annotations

from collections.abc import Sequence

from precisec.errors import SourceLoc
from precisec.ir.core import (
    BOOL,
    INT,
    REAL,
    WHILE_CAP,
    Atom,
    Cond,
    Eqn,
    Kernel,
    Lit,
    Loop,
    Param,
    Precondition,
    Region,
    Site,
    Stmt,
    Var,
    While,
)
from precisec.ops import OPS


def atom_type(atom: Atom) -> str:
    return atom.type


def atom_shape(atom: Atom) -> tuple[int, ...]:
    return atom.shape if isinstance(atom, Var) else ()


class Builder:
    """Accumulates statements into the innermost open region."""

    def __init__(self) -> None:
        self.open: list[list[Stmt]] = [[]]
        self.sites: list[Site] = []
        self.n_branches = 0
        self.n_whiles = 0

    @staticmethod
    def var(type_: str, shape: tuple[int, ...] = (), hint: str = "") -> Var:
        return Var(type_, tuple(shape), hint)

    def emit(self, stmt: Stmt) -> None:
        self.open[-1].append(stmt)

    def op(self, name: str, args: Sequence[Atom], loc: SourceLoc, hint: str = "") -> Var:
        """Emit `name(args)` and return its value (a site of its own if it rounds)."""
        spec = OPS[name]
        if name == "zeros":
            out = Var(REAL, tuple(int(a.text) for a in args), hint)
        elif spec.kind == "array":
            array = args[0]
            out = Var(REAL, ()) if name == "load" else Var(REAL, atom_shape(array), hint)
        elif spec.kind in ("compare", "logic"):
            out = Var(BOOL)
        elif spec.kind == "int":
            out = Var(INT, hint=hint)
        else:
            out = Var(REAL, hint=hint)
        site = None
        if spec.rounds:
            site = len(self.sites)
            self.sites.append(Site(name, loc))
        self.emit(Eqn(name, tuple(args), out, loc, site))
        return out

    def push(self) -> None:
        """Open a region; statements go into it until `pop`."""
        self.open.append([])

    def pop(self, params: Sequence[Var], results: Sequence[Atom]) -> Region:
        return Region(tuple(params), tuple(self.open.pop()), tuple(results))

    def loop(self, start: int, step: int, trips: int, init: Sequence[Atom], body: Region,
             loc: SourceLoc) -> tuple[Var, ...]:
        """Emit a loop; returns its final carried values."""
        outs = tuple(Var(atom_type(a), atom_shape(a), p.hint)
                     for a, p in zip(init, body.params[1:], strict=True))
        self.emit(Loop(start, step, trips, tuple(init), body, outs, loc))
        return outs

    def while_loop(self, init: Sequence[Atom], cond: Region, body: Region, loc: SourceLoc,
                   cap: int | None = None) -> tuple[Var, ...]:
        """Emit a while loop (numbered here) under `cap`, stated, or the default
        `WHILE_CAP` when None; returns its final carried values."""
        outs = tuple(Var(atom_type(a), atom_shape(a), p.hint)
                     for a, p in zip(init, body.params, strict=True))
        self.emit(While(tuple(init), cond, body, outs, WHILE_CAP if cap is None else cap, loc,
                        self.n_whiles, cap is not None))
        self.n_whiles += 1
        return outs

    def new_branch(self) -> int:
        self.n_branches += 1
        return self.n_branches - 1

    def cond(self, pred: Atom, then: Region, other: Region, loc: SourceLoc,
             hints: Sequence[str] = (), branch: int | None = None) -> tuple[Var, ...]:
        """Emit a branch merging the two regions' results; returns the merged values.
        `branch` is a number from `new_branch` (taken here if not given)."""
        hints = list(hints) + [""] * (len(then.results) - len(hints))
        outs = tuple(Var(atom_type(a), atom_shape(a), h)
                     for a, h in zip(then.results, hints, strict=True))
        number = self.new_branch() if branch is None else branch
        self.emit(Cond(pred, then, other, outs, loc, number))
        return outs

    def kernel(self, name: str, loc: SourceLoc, params: Sequence[Param],
               param_vars: Sequence[Var], returns: bool, results: Sequence[Atom], *,
               precision: str = "double", target_rmse: float | None = None,
               properties: Sequence[tuple[str, str]] = (), target_metric: str = "rmse",
               precondition: Precondition | None = None) -> Kernel:
        """Close the outermost region into the kernel's body."""
        assert len(self.open) == 1, "unclosed region"
        body = Region(tuple(param_vars), tuple(self.open[0]), tuple(results))
        return Kernel(name, loc, tuple(params), returns, body, tuple(self.sites),
                      self.n_branches, precision, target_rmse, tuple(properties),
                      target_metric, precondition, n_whiles=self.n_whiles)


def real(text: str) -> Lit:
    return Lit.real(text)


def integer(value: int) -> Lit:
    return Lit.int(value)


def boolean(value: bool) -> Lit:
    return Lit(BOOL, "1" if value else "0")
