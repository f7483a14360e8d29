"""`#pragma precisec range(NAME, LO, HI)`, the target `rmse(T)`, `relrmse(T)` or `bits(T)`,
the precondition `pre(EXPR)`, and `cap(N)`, the stated iteration cap of the function's
while loops (docs/method.md §1).

NAME is a parameter, or for an array parameter `x[]` (every element) or `x[3]`, `A[1][2]`
(one element; it wins over `x[]`). LO may be `-inf` and HI `inf` (also spelled
`INFINITY`): such a range is sampled over the floating-point values under a relative
target (docs/method.md §6). EXPR is a C expression over the scalar parameters
(`precisec.frontend.c.precondition`)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from precisec.errors import PrecisecError, SourceLoc

_PRAGMA = re.compile(r"^\s*#\s*pragma\s+precisec\b(?P<rest>.*)$")
_CALL = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*\((?P<args>[^()]*)\)\s*$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class RangePragma:
    name: str
    lo: float
    hi: float
    loc: SourceLoc


@dataclass(frozen=True)
class TargetPragma:
    """An error target: `metric` is rmse, relrmse or bits."""

    target: float
    loc: SourceLoc
    metric: str = "rmse"


@dataclass(frozen=True)
class MaxerrPragma:
    """A worst-case target: the sound bound on the absolute error must be ≤ target."""

    target: float
    loc: SourceLoc


@dataclass(frozen=True)
class PrePragma:
    """A precondition: the C expression's text, located at its first character."""

    text: str
    loc: SourceLoc


@dataclass(frozen=True)
class CapPragma:
    """The iteration cap every while loop of the function stops at (a positive integer)."""

    cap: int
    loc: SourceLoc


Pragma = RangePragma | TargetPragma | PrePragma | MaxerrPragma | CapPragma
TARGETS = ("rmse", "relrmse", "bits")
_PRE = re.compile(r"^\s*pre\s*\((?P<expr>.*)\)\s*$")
_INFINITE = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
             "+infinity": math.inf, "-infinity": -math.inf}


def _number(text: str, loc: SourceLoc, what: str) -> float:
    if not _NUMBER.match(text):
        raise PrecisecError(loc, f"{what} must be a decimal number, got '{text}'")
    value = float(text)
    if not math.isfinite(value):
        raise PrecisecError(loc, f"{what} must be finite, got '{text}'")
    return value


def parse_pragma(line: str, locate: Callable[[int], SourceLoc]) -> Pragma | None:
    """The pragma on this directive line (comments blanked), None if it is not a precisec
    pragma. `locate` maps an offset in `line` to its place in the user's file (lines may
    have been spliced)."""
    match = _PRAGMA.match(line)
    if match is None:
        return None
    rest = match.group("rest")
    loc = locate(match.start("rest") + len(rest) - len(rest.lstrip()))
    pre = _PRE.match(rest)
    if pre is not None:
        text = pre.group("expr")
        if not text.strip():
            raise PrecisecError(loc, "pre pragma needs an expression: pre(EXPR)")
        offset = match.start("rest") + pre.start("expr")
        return PrePragma(text, locate(offset + len(text) - len(text.lstrip())))
    call = _CALL.match(rest)
    if call is None:
        raise PrecisecError(loc, "malformed precisec pragma: expected range(NAME, LO, HI), "
                                 "rmse(T), relrmse(T), bits(T), pre(EXPR) or cap(N)")
    args = [a.strip() for a in call.group("args").split(",")]
    kind = call.group("name")
    if kind == "range":
        if len(args) != 3:
            raise PrecisecError(loc, f"range pragma takes 3 arguments (NAME, LO, HI), "
                                     f"got {len(args)}")
        name, lo_text, hi_text = args
        name = re.sub(r"\s+", "", name)
        if not re.fullmatch(r"[A-Za-z_]\w*(\[\]|(\[\d+\])+)?", name):
            raise PrecisecError(loc, f"range pragma: '{name}' is not a parameter name")
        lo = -math.inf if _INFINITE.get(lo_text.lower()) == -math.inf \
            else _number(lo_text, loc, "range lower bound")
        hi = math.inf if _INFINITE.get(hi_text.lower()) == math.inf \
            else _number(hi_text, loc, "range upper bound")
        if lo > hi:
            raise PrecisecError(loc, f"empty range for '{name}': {lo_text} > {hi_text}")
        return RangePragma(name, lo, hi, loc)
    if kind in TARGETS:
        if len(args) != 1:
            raise PrecisecError(loc, f"{kind} pragma takes 1 argument, got {len(args)}")
        target = _number(args[0], loc, f"{kind} target")
        if target <= 0:
            raise PrecisecError(loc, f"{kind} target must be positive, got '{args[0]}'")
        return TargetPragma(target, loc, kind)
    if kind == "maxerr":
        if len(args) != 1:
            raise PrecisecError(loc, f"maxerr pragma takes 1 argument, got {len(args)}")
        target = _number(args[0], loc, "maxerr target")
        if target <= 0:
            raise PrecisecError(loc, f"maxerr target must be positive, got '{args[0]}'")
        return MaxerrPragma(target, loc)
    if kind == "cap":
        if len(args) != 1 or not re.fullmatch(r"[1-9]\d*", args[0]):
            raise PrecisecError(loc, "cap pragma takes 1 positive integer (the iteration cap "
                                     f"of the function's while loops), got '{', '.join(args)}'")
        return CapPragma(int(args[0]), loc)
    raise PrecisecError(loc, f"unknown precisec pragma '{kind}' (expected range, rmse, "
                             "relrmse, bits, maxerr, pre or cap)")


def collect(pragmas: list[Pragma]) -> tuple[dict[str, RangePragma], TargetPragma | None,
                                            PrePragma | None]:
    """A function's ranges by parameter name, its target and its precondition;
    duplicates are errors (one target of any metric)."""
    ranges: dict[str, RangePragma] = {}
    targets = [p for p in pragmas if isinstance(p, TargetPragma)]
    pres = [p for p in pragmas if isinstance(p, PrePragma)]
    for pragma in pragmas:
        if isinstance(pragma, RangePragma):
            if pragma.name in ranges:
                raise PrecisecError(pragma.loc, f"second range pragma for '{pragma.name}'")
            ranges[pragma.name] = pragma
    if len(targets) > 1:
        raise PrecisecError(targets[1].loc, f"second target pragma ({targets[1].metric}; "
                                            f"the first is {targets[0].metric})")
    if len(pres) > 1:
        raise PrecisecError(pres[1].loc, "second pre pragma (join the conditions with &&)")
    return ranges, targets[0] if targets else None, pres[0] if pres else None


def cap_of(pragmas: list[Pragma]) -> int | None:
    """A function's stated while-loop cap (`cap(N)`), None without one; a second one is an
    error."""
    found = [p for p in pragmas if isinstance(p, CapPragma)]
    if len(found) > 1:
        raise PrecisecError(found[1].loc, "second cap pragma")
    return found[0].cap if found else None


def maxerr_of(pragmas: list[Pragma]) -> float | None:
    """A function's worst-case target (`maxerr(T)`), kept apart from its error target;
    a second one is an error."""
    found = [p for p in pragmas if isinstance(p, MaxerrPragma)]
    if len(found) > 1:
        raise PrecisecError(found[1].loc, "second maxerr pragma")
    return found[0].target if found else None
