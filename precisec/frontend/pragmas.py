"""`#pragma precisec range(NAME, LO, HI)` and `#pragma precisec rmse(T)`.

NAME is a parameter, or for an array parameter `x[]` (every element) or `x[3]`, `A[1][2]`
(one element; it wins over `x[]`)."""

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
class RmsePragma:
    target: float
    loc: SourceLoc


Pragma = RangePragma | RmsePragma


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
    call = _CALL.match(rest)
    if call is None:
        raise PrecisecError(loc, "malformed precisec pragma: expected range(NAME, LO, HI) "
                                 "or rmse(T)")
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
        lo = _number(lo_text, loc, "range lower bound")
        hi = _number(hi_text, loc, "range upper bound")
        if lo > hi:
            raise PrecisecError(loc, f"empty range for '{name}': {lo_text} > {hi_text}")
        return RangePragma(name, lo, hi, loc)
    if kind == "rmse":
        if len(args) != 1:
            raise PrecisecError(loc, f"rmse pragma takes 1 argument, got {len(args)}")
        target = _number(args[0], loc, "rmse target")
        if target <= 0:
            raise PrecisecError(loc, f"rmse target must be positive, got '{args[0]}'")
        return RmsePragma(target, loc)
    raise PrecisecError(loc, f"unknown precisec pragma '{kind}' (expected range or rmse)")


def collect(pragmas: list[Pragma]) -> tuple[dict[str, RangePragma], float | None]:
    """A function's ranges by parameter name and its target; duplicates are errors."""
    ranges: dict[str, RangePragma] = {}
    targets = [p for p in pragmas if isinstance(p, RmsePragma)]
    for pragma in pragmas:
        if isinstance(pragma, RangePragma):
            if pragma.name in ranges:
                raise PrecisecError(pragma.loc, f"second range pragma for '{pragma.name}'")
            ranges[pragma.name] = pragma
    if len(targets) > 1:
        raise PrecisecError(targets[1].loc, "second rmse pragma")
    return ranges, targets[0].target if targets else None
