"""`:pre` to sampling ranges, and `:precisec-rmse` to the target.

`:pre` must be a conjunction of constant bounds on each argument: the
tightest bounds win, strict bounds are taken as closed (which changes nothing for uniform
sampling), and the bounds are rounded to the nearest double, as range pragmas are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

from precisec.errors import PrecisecError
from precisec.frontend.fpcore.forms import (
    CONSTANT_VALUES,
    NON_REAL_CONSTANTS,
    Argument,
    Core,
    constant_text,
)
from precisec.frontend.fpcore.reader import Datum, Number, SList, Symbol, head, show

_PRE_HINT = "only a conjunction (and ...) of constant bounds like (<= LO x HI)"


def _conjuncts(datum: Datum) -> Iterator[Datum]:
    stack = [datum]
    while stack:
        item = stack.pop()
        if head(item) == "and":
            assert isinstance(item, SList)
            stack.extend(reversed(item.items[1:]))
        elif not (isinstance(item, Symbol) and item.name == "TRUE"):
            yield item


def _bound_value(datum: Datum, names: set[str]) -> Fraction | str:
    """A constant bound's exact value, or the argument it names."""
    if isinstance(datum, Symbol) and datum.name in names:
        return datum.name
    if isinstance(datum, Number):
        return datum.value
    if isinstance(datum, Symbol) and datum.name in CONSTANT_VALUES:
        return Fraction(Decimal(constant_text(datum.name)))
    if isinstance(datum, SList) and head(datum) == "-" and len(datum.items) == 2:
        inner = _bound_value(datum.items[1], set())
        if isinstance(inner, Fraction):
            return -inner
    if isinstance(datum, Symbol) and datum.name in NON_REAL_CONSTANTS:
        raise PrecisecError(datum.loc, f"range bound `{datum.name}` "
                                       f"{NON_REAL_CONSTANTS[datum.name]}; ranges must be "
                                       "finite")
    if isinstance(datum, Symbol):
        raise PrecisecError(datum.loc, f"`{datum.name}` in :pre is not an argument")
    raise PrecisecError(datum.loc, f"`{show(datum)}` in :pre is neither an argument nor a "
                                   f"constant number; {_PRE_HINT}")


Bounds = dict[str, list[Fraction]]


def _bounds(pre: Datum, names: set[str]) -> tuple[Bounds, Bounds]:
    """Lower and upper bounds per argument from a :pre conjunction."""
    lower: Bounds = {}
    upper: Bounds = {}
    for clause in _conjuncts(pre):
        kind = head(clause)
        if kind == "!=":
            # Excluding single points removes a set of measure zero from the range box, so
            # uniform sampling is unchanged; an input that does hit such a point and breaks
            # the kernel is still caught by the reference's non-finite check.
            assert isinstance(clause, SList)
            for operand in clause.items[1:]:
                _bound_value(operand, names)
            continue
        if kind not in ("<", "<=", ">", ">="):
            what = f"`{kind}`" if kind else f"`{show(clause)}`"
            raise PrecisecError(clause.loc, f"{what} in :pre is not supported; {_PRE_HINT}")
        assert isinstance(clause, SList)
        operands = [_bound_value(d, names) for d in clause.items[1:]]
        if len(operands) < 2:
            raise PrecisecError(clause.loc, f"`{kind}` in :pre needs two operands or more")
        if kind in (">", ">="):
            operands.reverse()
        strict = kind in ("<", ">")
        for left, right in pairwise(operands):
            if isinstance(left, str) and isinstance(right, str):
                raise PrecisecError(clause.loc, f"comparison between arguments `{left}` and "
                                                f"`{right}` in :pre is not supported; "
                                                f"{_PRE_HINT}")
            if isinstance(right, str):
                assert isinstance(left, Fraction)
                lower.setdefault(right, []).append(left)
            elif isinstance(left, str):
                upper.setdefault(left, []).append(right)
            elif left > right or (strict and left == right):
                raise PrecisecError(clause.loc, f"`{show(clause)}` in :pre is always false")
    return lower, upper


def ranges(core: Core, arguments: Sequence[Argument]) -> list[tuple[float, float]]:
    """The range of every argument, from :pre."""
    pre = core.prop(":pre")
    names = {a.name for a in arguments}
    lower, upper = _bounds(pre, names) if pre is not None else ({}, {})
    found = []
    for argument in arguments:
        lows, highs = lower.get(argument.name), upper.get(argument.name)
        if pre is None or not (lows or highs):
            raise PrecisecError(argument.loc, f"argument `{argument.name}` has no range: add "
                                              f":pre (<= LO {argument.name} HI)")
        if not lows or not highs:
            missing = "lower" if not lows else "upper"
            raise PrecisecError(argument.loc, f"argument `{argument.name}` has no {missing} "
                                              f"bound in :pre; every argument needs a finite "
                                              f"range like (<= LO {argument.name} HI)")
        lo, hi = max(lows), min(highs)
        if lo > hi:
            raise PrecisecError(pre.loc, f"empty range for `{argument.name}` in :pre: "
                                         f"{float(lo)!r} > {float(hi)!r}")
        try:
            found.append((float(lo), float(hi)))
        except OverflowError as err:
            raise PrecisecError(pre.loc, f"the range of `{argument.name}` is not finite as a "
                                         "double") from err
    return found


def target_rmse(core: Core) -> float | None:
    """The `:precisec-rmse` property: a positive double, or None."""
    value = core.prop(":precisec-rmse")
    if value is None:
        return None
    if not isinstance(value, Number) or value.value <= 0:
        raise PrecisecError(value.loc, f"`:precisec-rmse` must be a positive number, got "
                                       f"`{show(value)}`")
    try:
        target = float(value.value)
    except OverflowError as err:
        raise PrecisecError(value.loc, "`:precisec-rmse` is not finite as a double") from err
    if target == 0:
        raise PrecisecError(value.loc, "`:precisec-rmse` underflows to 0 as a double")
    return target
