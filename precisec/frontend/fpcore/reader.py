"""The s-expression reader of the FPCore frontend: text to located data.

Every datum keeps the 1-based line:col of its first character, so that every error and
every operation points into the user's file (a list is located at its opening
parenthesis). Numbers are read exactly: decimal, hexadecimal and rational literals become
the IR's decimal text (`precisec.frontend.fpcore`). The reader is iterative, so nesting depth is
bounded by memory only.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from typing import TypeGuard

from precisec.errors import PrecisecError, SourceLoc

SIGNIFICANT_DIGITS = 120
"""Digits kept for numbers with no finite decimal expansion (rationals like 1/3, PI)."""

MAX_EXPONENT = 4000
"""Literals beyond 10^±MAX_EXPONENT are refused (doubles end near 10^±308)."""


@dataclass(frozen=True)
class Symbol:
    """A symbol (`x`, `+`, `:name`)."""

    name: str
    loc: SourceLoc


@dataclass(frozen=True)
class Number:
    """A numeric literal: its exact value, the IR's decimal text for it, its spelling."""

    value: Fraction
    text: str
    source: str
    loc: SourceLoc


@dataclass(frozen=True)
class String:
    """A string literal (property values such as `:name "..."`)."""

    value: str
    loc: SourceLoc


@dataclass(frozen=True)
class SList:
    """A parenthesised or bracketed list; loc is its opening delimiter."""

    items: tuple[Datum, ...]
    loc: SourceLoc


Datum = Symbol | Number | String | SList

_DELIMITERS = frozenset("()[]\";")
_CLOSING = {"(": ")", "[": "]"}
_SYMBOL_CHARS = frozenset("~!@$%^&*_-+=<>.?/:")
_DECNUM = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?", re.IGNORECASE)
_HEXNUM = re.compile(r"([+-]?)0x([0-9a-f]*)(?:\.([0-9a-f]*))?(?:p([+-]?\d+))?", re.IGNORECASE)
_RATIONAL = re.compile(r"([+-]?\d+)/(\d*[1-9]\d*)")


def decimal_text(value: Fraction) -> str:
    """Decimal text of a rational: exact when it has a finite decimal expansion, else
    correctly rounded to SIGNIFICANT_DIGITS significant digits."""
    rest, twos, fives = value.denominator, 0, 0
    while rest % 2 == 0:
        rest, twos = rest // 2, twos + 1
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest == 1:
        digits = max(twos, fives)
        return str(Decimal(f"{value.numerator * 10**digits // value.denominator}e-{digits}"))
    return rounded_text(value)


def rounded_text(value: Fraction) -> str:
    """Decimal text of a rational correctly rounded to SIGNIFICANT_DIGITS digits."""
    with localcontext() as context:
        context.prec = SIGNIFICANT_DIGITS
        context.rounding = ROUND_HALF_EVEN
        return str(Decimal(value.numerator) / Decimal(value.denominator))


def _hex_value(match: re.Match[str]) -> Fraction:
    sign, whole, fraction, exponent = match.groups()
    fraction = fraction or ""
    value = Fraction(int(whole + fraction, 16), 16 ** len(fraction)) * Fraction(2) ** int(
        exponent or 0)
    return -value if sign == "-" else value


def _out_of_range(token: str, loc: SourceLoc) -> PrecisecError:
    return PrecisecError(loc, f"number '{token}' is out of range (beyond 1e±{MAX_EXPONENT})")


def _number(token: str, loc: SourceLoc) -> Number | None:
    """The number spelled by an atom, None if it is not a number."""
    if match := _RATIONAL.fullmatch(token):
        value = Fraction(int(match.group(1)), int(match.group(2)))
        return Number(value, decimal_text(value), token, loc)
    if (match := _HEXNUM.fullmatch(token)) and (match.group(2) or match.group(3)):
        if abs(int(match.group(4) or 0)) > 4 * MAX_EXPONENT:
            raise _out_of_range(token, loc)
        value = _hex_value(match)
        return Number(value, decimal_text(value), token, loc)
    if _DECNUM.fullmatch(token):
        decimal = Decimal(token)
        if abs(decimal.adjusted()) > MAX_EXPONENT:
            raise _out_of_range(token, loc)
        return Number(Fraction(decimal), str(decimal), token, loc)
    return None


class _Reader:
    """Turns source text into data, tracking 1-based line:col positions."""

    def __init__(self, source: str, file: str) -> None:
        self.source = source
        self.file = file
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]

    def loc(self, pos: int) -> SourceLoc:
        line = bisect_right(self.line_starts, pos)
        return SourceLoc(self.file, line, pos - self.line_starts[line - 1] + 1)

    def error(self, pos: int, message: str) -> PrecisecError:
        return PrecisecError(self.loc(pos), message)

    def string(self, start: int) -> tuple[String, int]:
        """The string starting at the quote at `start`, and the position after it."""
        chars: list[str] = []
        pos = start + 1
        while pos < len(self.source):
            char = self.source[pos]
            if char == '"':
                return String("".join(chars), self.loc(start)), pos + 1
            if char == "\\" and pos + 1 < len(self.source):
                pos += 1
                char = self.source[pos]
            chars.append(char)
            pos += 1
        raise self.error(start, "unterminated string")

    def atom(self, start: int) -> tuple[Datum, int]:
        pos = start
        while pos < len(self.source) and not (self.source[pos].isspace()
                                              or self.source[pos] in _DELIMITERS):
            pos += 1
        token = self.source[start:pos]
        loc = self.loc(start)
        if token == "#":
            return Symbol(token, loc), pos
        number = _number(token, loc)
        if number is not None:
            return number, pos
        if not token[0].isdigit() and all(c.isalnum() or c in _SYMBOL_CHARS for c in token):
            return Symbol(token, loc), pos
        what = "number" if token[0].isdigit() or token[0] in "+-." else "token"
        raise PrecisecError(loc, f"invalid {what} '{token}'")

    def read(self) -> list[Datum]:
        top: list[Datum] = []
        stack: list[tuple[str, int, list[Datum]]] = []
        pos = 0
        while pos < len(self.source):
            char = self.source[pos]
            if char.isspace():
                pos += 1
            elif char == ";":
                end = self.source.find("\n", pos)
                pos = len(self.source) if end < 0 else end
            elif char in _CLOSING:
                stack.append((char, pos, []))
                pos += 1
            elif char in ")]":
                if not stack:
                    raise self.error(pos, f"unmatched '{char}'")
                opening, start, items = stack.pop()
                if char != _CLOSING[opening]:
                    where = self.loc(start)
                    raise self.error(pos, f"'{char}' does not match the '{opening}' at "
                                          f"{where.line}:{where.col}")
                (stack[-1][2] if stack else top).append(SList(tuple(items), self.loc(start)))
                pos += 1
            else:
                datum, pos = self.string(pos) if char == '"' else self.atom(pos)
                (stack[-1][2] if stack else top).append(datum)
        if stack:
            opening, start, _ = stack[-1]
            raise self.error(start, f"'{opening}' is never closed")
        return top


def read_data(source: str, file: str) -> list[Datum]:
    """All top-level data of an s-expression text."""
    return _Reader(source, file).read()


def quote(text: str) -> str:
    """A string literal for `text`, as the reader reads it back."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render(datum: Datum) -> str:
    """The datum as FPCore text on one line (the reader reads it back to the same data)."""
    parts: list[str] = []
    stack: list[Datum | str] = [datum]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, Symbol):
            parts.append(item.name)
        elif isinstance(item, Number):
            parts.append(item.source)
        elif isinstance(item, String):
            parts.append(quote(item.value))
        else:
            stack.append(")")
            for position in range(len(item.items) - 1, -1, -1):
                stack.append(item.items[position])
                if position:
                    stack.append(" ")
            stack.append("(")
    return "".join(parts)


def show(datum: Datum) -> str:
    """Short source-like rendering of a datum, for messages: every list's contents are
    cut after 40 characters."""
    shown: dict[int, str] = {}
    stack: list[tuple[Datum, bool]] = [(datum, False)]
    while stack:
        item, expanded = stack.pop()
        if not isinstance(item, SList):
            shown[id(item)] = render(item)
        elif not expanded:
            stack.append((item, True))
            stack.extend((child, False) for child in item.items)
        else:
            inner = " ".join(shown[id(child)] for child in item.items)
            shown[id(item)] = f"({inner[:40]}...)" if len(inner) > 40 else f"({inner})"
    return shown[id(datum)]


def is_key(datum: Datum | None) -> TypeGuard[Symbol]:
    """Whether a datum is a property key (`:name`)."""
    return isinstance(datum, Symbol) and datum.name.startswith(":")


def head(datum: Datum) -> str | None:
    """The symbol heading a list, None otherwise."""
    if isinstance(datum, SList) and datum.items and isinstance(datum.items[0], Symbol):
        return datum.items[0].name
    return None
