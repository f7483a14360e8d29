"""`:pre` to sampling ranges and a precondition, and the `:precisec-*` target properties.

`:pre` is any boolean expression over the arguments (`let`/`let*` bindings, comparisons,
`and`, `or`, `not`, arithmetic). It is built into a region of its own (no rounding sites;
`precisec.ir.Precondition`), and its top-level conjuncts that bound one argument by a
constant, like `(<= LO x HI)` or `(< x 1)`, become that argument's range:

* the tightest bounds win; a strict bound is an open interval: since inputs are values of
  the kernel's format, `(< x 1)` is exactly `x ≤` the largest double below 1, so the range
  is closed at that value and its corners stay inside the domain;
* a non-strict bound is rounded to the nearest double, as range pragmas are (so a C
  kernel and its FPCore twin sample the same box);
* `!=` conjuncts exclude a set of measure zero and are dropped;
* an argument with no bound on a side is unbounded there (relative targets sample it
  over the floating-point values; an RMSE target refuses it, `precisec.tune.samples`).

When every conjunct was a bound or `!=`, the ranges say everything and there is no
precondition; otherwise the whole `:pre` is kept and samplers reject the points where it
does not certainly hold (docs/method.md §6).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Sequence
from fractions import Fraction

import numpy as np

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.fpcore.reader import Datum, Number, SList, Symbol, head, show
from precisec.ir import REAL, Atom, Eqn, Lit, Precondition, Region, Var

TARGET_PROPERTIES = {":precisec-rmse": "rmse", ":precisec-relrmse": "relrmse",
                     ":precisec-bits": "bits"}
_MIRROR = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq"}
_RATIONAL = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
             "div": operator.truediv, "neg": operator.neg, "fabs": abs}
_COMPARE = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
            "eq": operator.eq, "ne": operator.ne}


def conjuncts(region: Region) -> Iterator[Atom]:
    """The terms of the top-level `and` chain of a boolean region's result."""
    defined = {stmt.out: stmt for stmt in region.stmts if isinstance(stmt, Eqn)}
    stack: list[Atom] = [region.results[0]]
    while stack:
        atom = stack.pop()
        eqn = defined.get(atom) if isinstance(atom, Var) else None
        if eqn is not None and eqn.op == "and":
            stack.extend(reversed(eqn.args))
        else:
            yield atom


Bound = tuple[Fraction, bool]
"""A constant bound and whether it is strict."""


def _constant(atom: Atom, defined: dict[Var, Eqn]) -> Fraction | None:
    """`atom`'s value when it is a real literal or rational arithmetic on real literals (a
    bound like `(* 2 PI)`, folded exactly on the constants' decimal values); else None."""
    if isinstance(atom, Lit):
        return atom.value if atom.type == REAL else None
    eqn = defined.get(atom)
    if eqn is None or eqn.op not in _RATIONAL:
        return None
    values = [_constant(a, defined) for a in eqn.args]
    if any(v is None for v in values) or (eqn.op == "div" and values[1] == 0):
        return None
    return Fraction(_RATIONAL[eqn.op](*values))


def _clause(atom: Atom, defined: dict[Var, Eqn], params: set[Var]
            ) -> tuple[Var, str, Bound] | bool | None:
    """A conjunct as (argument, "lo" or "hi", bound); True for a conjunct dropped (a `!=`
    of a value, a true comparison of constants); None if it is neither. A false comparison
    of constants is an error."""
    eqn = defined.get(atom) if isinstance(atom, Var) else None
    if eqn is None or eqn.op not in _COMPARE:
        return None
    if eqn.op == "ne" and not all(isinstance(a, Lit) for a in eqn.args):
        return True
    left, right = eqn.args
    low, high = _constant(left, defined), _constant(right, defined)
    op = eqn.op
    if low is not None and high is not None:
        if not _COMPARE[op](low, high):
            raise PrecisecError(eqn.loc, "this comparison of constants in :pre is always false")
        return True
    if low is not None and right in params:
        left, high, op = right, low, _MIRROR[op]
    if not (left in params and high is not None):
        return None
    assert isinstance(left, Var)
    if op == "eq":
        return None
    side = "hi" if op in ("lt", "le") else "lo"
    return left, side, (high, op in ("lt", "gt"))


def _format_value(value: float, precision: str) -> float:
    return float(np.float32(value)) if precision == "float" else value


def _step(value: float, up: bool, precision: str) -> float:
    if precision == "float":
        return float(np.nextafter(np.float32(value), np.float32(math.inf if up else -math.inf)))
    return math.nextafter(value, math.inf if up else -math.inf)


def inward(bound: Bound, side: str, precision: str) -> float:
    """The range's end for a bound. A non-strict bound c is rounded to the nearest double,
    as range pragmas are. A strict one is open: the end is the extreme value of the format
    inside it, the smallest x > c for a lower bound, the largest x < c for an upper one;
    ±inf when c is beyond the format's range on the open side."""
    value, strict = bound
    up = side == "lo"
    if not strict:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf

    def satisfies(x: float) -> bool:
        if math.isinf(x):
            return not up if x > 0 else up
        exact = Fraction(x)
        return (exact > value if strict else exact >= value) if up else \
            (exact < value if strict else exact <= value)

    try:
        x = _format_value(float(value), precision)
    except OverflowError:
        x = math.inf if value > 0 else -math.inf
    while not satisfies(x):
        x = _step(x, up, precision)
    while not math.isinf(x) and satisfies(back := _step(x, not up, precision)) \
            and not math.isinf(back):
        x = back
    return x


def domain(region: Region | None, loc: SourceLoc | None, text: str, names: Sequence[str],
           precision: str) -> tuple[list[tuple[float, float]], Precondition | None]:
    """Each argument's range (possibly infinite) and the precondition left when the
    bounds do not say everything. `region` is the built `:pre` (None without one) over
    one parameter per argument."""
    if region is None:
        return [(-math.inf, math.inf)] * len(names), None
    assert loc is not None
    params = list(region.params)
    defined = {stmt.out: stmt for stmt in region.stmts if isinstance(stmt, Eqn)}
    lows: dict[Var, list[Bound]] = {p: [] for p in params}
    highs: dict[Var, list[Bound]] = {p: [] for p in params}
    residual = False
    for term in conjuncts(region):
        clause = _clause(term, defined, set(params))
        if clause is None:
            residual = True
        elif clause is not True:
            assert not isinstance(clause, bool)
            var, side, bound = clause
            (lows if side == "lo" else highs)[var].append(bound)
    ranges = []
    for param, name in zip(params, names, strict=True):
        lo = max((inward(b, "lo", precision) for b in lows[param]), default=-math.inf)
        hi = min((inward(b, "hi", precision) for b in highs[param]), default=math.inf)
        if lo > hi:
            raise PrecisecError(loc, f"empty range for `{name}` in :pre: {lo!r} > {hi!r}")
        ranges.append((lo, hi))
    return ranges, Precondition(region, loc, text) if residual else None


def target(core_prop: dict[str, Datum | None],
           names: dict[str, str] = TARGET_PROPERTIES) -> tuple[str, float] | None:
    """The target property (`:precisec-rmse`, `:precisec-relrmse` or `:precisec-bits`;
    those of `names`): its metric and a positive double, or None; two of them are an
    error."""
    given = [(key, value) for key, value in core_prop.items() if value is not None]
    if len(given) > 1:
        raise PrecisecError(given[1][1].loc, f"`{given[1][0]}` and `{given[0][0]}`: one "
                                             "error target per FPCore")
    if not given:
        return None
    key, value = given[0]
    assert value is not None
    if not isinstance(value, Number) or value.value <= 0:
        raise PrecisecError(value.loc, f"`{key}` must be a positive number, got "
                                       f"`{show(value)}`")
    try:
        number = float(value.value)
    except OverflowError as err:
        raise PrecisecError(value.loc, f"`{key}` is not finite as a double") from err
    if number == 0:
        raise PrecisecError(value.loc, f"`{key}` underflows to 0 as a double")
    return names[key], number


def unwrap_let(datum: Datum) -> tuple[str, Sequence[Datum], Datum] | None:
    """(`let` or `let*`, bindings, body) of a `let` form, else None."""
    if head(datum) in ("let", "let*") and isinstance(datum, SList) and len(datum.items) == 3 \
            and isinstance(datum.items[1], SList):
        assert isinstance(datum.items[0], Symbol)
        return datum.items[0].name, datum.items[1].items, datum.items[2]
    return None
