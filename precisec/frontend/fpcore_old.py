"""FPCore frontend: FPBench's FPCore format (1.x and 2.0 syntax) to the IR.

The reader is a small s-expression reader that keeps the 1-based line:col of every datum,
so that every error and every operation points into the user's file (an operation is
located at its opening parenthesis). The subset that fits the IR is accepted:

* `(FPCore name? (args...) props... body)`, arguments as symbols or `(! props... sym)`;
* `let`, `let*`, the operations of `precisec.ops` spelled by their `fpcore` name, unary
  `-` as negation, numbers (decimal, hexadecimal, rational, `(digits m e b)`) and the
  FPCore constants (`PI`, `E`, ...);
* `(! :precision binary64 expr)` annotations (`real` too: precisec tunes every operation,
  so the source precision only names the baseline);
* `:pre` as a conjunction of constant bounds on each argument, which become the ranges
  (the tightest bounds win; strict bounds are taken as closed, which changes nothing for
  uniform sampling; the bounds are rounded to the nearest double, as range pragmas are);
* `:precisec-rmse T` as the target RMSE; every other property is ignored;
* `(if cond then else)` with conditions built from comparisons (n-ary chains), `and`,
  `or`, `not`, `TRUE` and `FALSE`: both sides become nodes guarded by the condition, the
  result a `select` (the IR of the structured C frontend's if/else);

Everything else (loops, tensors, other precisions, ...) is a located
`PrecisecError` naming the construct.

Constants in the IR are exact decimal text. Decimal, hexadecimal and `digits` numbers are
exact decimals; a rational whose denominator is not of the form 2^a 5^b (`1/3`) and the
irrational constants (`PI`) have no finite decimal expansion, so they are kept correctly
rounded to `SIGNIFICANT_DIGITS` (120) significant digits, far beyond the exact reference's
working precision (`precisec.reference.REFERENCE_BITS`). Making `1/3` a division of two
constants would add a rounding operation that the source does not have.

`parse_tuned_fpcore` reads the emitter's output back (`precisec.backend.fpcore_out`): it
also accepts `(float E N)`, `binary32` and `binary64` precision annotations and returns
each rounding operation's precision (N − E bits; the exponent width is not modelled, as in
the MPFR emulation).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import TypeGuard

import mpmath

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend import read_source
from precisec.ir import Const, Input, Kernel, Node, Op
from precisec.ops import C_FUNCTIONS, FPCORE_OPERATIONS, UNARY_OPERATORS, OpSpec

SIGNIFICANT_DIGITS = 120
"""Digits kept for numbers with no finite decimal expansion (rationals like 1/3, PI)."""

DOUBLE_BITS = 53
MAX_EXPONENT = 4000
"""Literals beyond 10^±MAX_EXPONENT are refused (doubles end near 10^±308)."""

# -- the s-expression reader ---------------------------------------------------------------


@dataclass(frozen=True)
class Symbol:
    """A symbol (`x`, `+`, `:name`)."""

    name: str
    loc: SourceLoc


@dataclass(frozen=True)
class Number:
    """A numeric literal: its exact value and the IR's decimal text for it."""

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


def _is_symbol(token: str) -> bool:
    return not token[0].isdigit() and all(c.isalnum() or c in _SYMBOL_CHARS for c in token)


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
        if _is_symbol(token):
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


def _show(datum: Datum) -> str:
    """Short source-like rendering of a datum, for messages."""
    if isinstance(datum, Symbol):
        return datum.name
    if isinstance(datum, Number):
        return datum.source
    if isinstance(datum, String):
        return f'"{datum.value}"'
    inner = " ".join(_show(d) for d in datum.items)
    return f"({inner[:40]}...)" if len(inner) > 40 else f"({inner})"


def _is_key(datum: Datum | None) -> TypeGuard[Symbol]:
    """Whether a datum is a property key (`:name`)."""
    return isinstance(datum, Symbol) and datum.name.startswith(":")


def _head(datum: Datum) -> str | None:
    """The symbol heading a list, None otherwise."""
    if isinstance(datum, SList) and datum.items and isinstance(datum.items[0], Symbol):
        return datum.items[0].name
    return None


# -- constants and operations ---------------------------------------------------------------

_CONSTANT_VALUES: dict[str, Callable[[], mpmath.mpf]] = {
    "PI": lambda: +mpmath.mp.pi,
    "E": lambda: +mpmath.mp.e,
    "LN2": lambda: +mpmath.mp.ln2,
    "LN10": lambda: +mpmath.mp.ln10,
    "LOG2E": lambda: 1 / mpmath.mp.ln2,
    "LOG10E": lambda: 1 / mpmath.mp.ln10,
    "PI_2": lambda: mpmath.mp.pi / 2,
    "PI_4": lambda: mpmath.mp.pi / 4,
    "M_1_PI": lambda: 1 / mpmath.mp.pi,
    "M_2_PI": lambda: 2 / mpmath.mp.pi,
    "M_2_SQRTPI": lambda: 2 / mpmath.sqrt(mpmath.mp.pi),
    "SQRT2": lambda: mpmath.sqrt(2),
    "SQRT1_2": lambda: mpmath.sqrt(mpmath.mpf(1) / 2),
}
_NON_REAL_CONSTANTS = {"INFINITY": "is not finite", "NAN": "is not a number",
                       "TRUE": "is a boolean", "FALSE": "is a boolean"}


@cache
def constant_text(name: str) -> str:
    """FPCore constant `name` as decimal text with SIGNIFICANT_DIGITS significant digits
    (mpmath at about 4 × 120 bits, then rounded exactly from its binary value)."""
    with mpmath.workprec(4 * SIGNIFICANT_DIGITS):
        mantissa, exponent = _CONSTANT_VALUES[name]().man_exp
    return rounded_text(Fraction(int(mantissa)) * Fraction(2) ** int(exponent))


_NEGATION = UNARY_OPERATORS["-"]
_BY_ARITY: dict[tuple[str, int], OpSpec] = {
    (spec.fpcore, spec.arity): spec for spec in FPCORE_OPERATIONS.values()}
_BY_ARITY.setdefault(("-", 1), _NEGATION)


def fpcore_operator(spec: OpSpec) -> str:
    """How FPCore spells an operation of the table (negation is unary `-`)."""
    return "-" if spec.name == _NEGATION.name else spec.fpcore


_FORMS = {
    "while": "`while` loops are not supported",
    "while*": "`while*` loops are not supported",
    "for": "`for` loops are not supported",
    "for*": "`for*` loops are not supported",
    "tensor": "`tensor` (arrays) is not supported",
    "tensor*": "`tensor*` (arrays) is not supported",
    "array": "`array` (arrays and multiple results) is not supported",
    "ref": "`ref` (array indexing) is not supported",
    "dim": "`dim` (array dimensions) is not supported",
    "size": "`size` (array dimensions) is not supported",
    "cast": "`cast` is not supported",
    "#": "`#` (integer precision) is not supported",
}
_COMPARISONS = frozenset({"<", ">", "<=", ">=", "==", "!="})
_BOOLEANS = frozenset({"and", "or", "not"})
_COMPARISON_OPS = {spec.fpcore: spec.name for spec in FPCORE_OPERATIONS.values()
                   if spec.kind == "compare"}

# -- precisions ----------------------------------------------------------------------------

Precision = int | None
"""Bits of the enclosing precision context; None for `real`."""


def _precision(value: Datum, tuned: bool, top_level: bool) -> Precision:
    """The precision named by a `:precision` value."""
    spelled = _show(value)
    if isinstance(value, Symbol):
        if value.name == "binary64":
            return DOUBLE_BITS
        if value.name == "real" and not tuned:
            return None
        if value.name == "binary32":
            if tuned:
                return 24
            raise PrecisecError(value.loc, "float kernels (:precision binary32) are not "
                                           "supported yet; only binary64" if top_level else
                                "`:precision binary32` (float operations) is not supported "
                                "yet; only binary64")
        if value.name == "integer":
            raise PrecisecError(value.loc, "integer values (:precision integer) are not "
                                           "supported")
    elif isinstance(value, SList) and _head(value) == "float" and len(value.items) == 3 and all(
            isinstance(d, Number) and d.value.denominator == 1 for d in value.items[1:]):
        exponent, width = (int(d.value) for d in value.items[1:] if isinstance(d, Number))
        bits = width - exponent
        if tuned and exponent >= 2 and bits >= 2:
            return bits
        if (exponent, bits) == (11, DOUBLE_BITS):
            return DOUBLE_BITS
    raise PrecisecError(value.loc, f"precision `{spelled}` is not supported yet; only "
                                   "binary64")


def _properties(items: Sequence[Datum], what: str) -> Iterator[tuple[Symbol, Datum]]:
    """The `:key value` pairs of a property list."""
    for position in range(0, len(items), 2):
        key = items[position]
        if not _is_key(key):
            raise PrecisecError(key.loc, f"expected a property `:name value` in {what}, "
                                         f"got `{_show(key)}`")
        if position + 1 >= len(items):
            raise PrecisecError(key.loc, f"property `{key.name}` has no value")
        yield key, items[position + 1]


def _annotation(items: Sequence[Datum], context: Precision, tuned: bool,
                what: str) -> Precision:
    """The precision context inside a `!` annotation with these properties."""
    for key, value in _properties(items, what):
        if key.name == ":precision":
            context = _precision(value, tuned, top_level=False)
        elif key.name == ":round" and not (isinstance(value, Symbol)
                                           and value.name == "nearestEven"):
            raise PrecisecError(value.loc, f"rounding mode `{_show(value)}` is not "
                                           "supported; only nearestEven")
    return context


# -- FPCore forms -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Core:
    """One `(FPCore ...)` form split into its parts."""

    index: int
    identifier: Symbol | None
    arguments: SList
    properties: Mapping[str, tuple[tuple[Symbol, Datum], ...]]
    body: Datum
    loc: SourceLoc

    def prop(self, key: str) -> Datum | None:
        """The value of a property that may appear once."""
        values = self.properties.get(key, ())
        if len(values) > 1:
            raise PrecisecError(values[1][0].loc, f"second `{key}` property")
        return values[0][1] if values else None

    @property
    def title(self) -> str | None:
        """The `:name` string."""
        value = self.prop(":name")
        if value is None:
            return None
        if isinstance(value, String | Symbol):
            return value.value if isinstance(value, String) else value.name
        raise PrecisecError(value.loc, "`:name` must be a string")

    @property
    def display_name(self) -> str:
        title = self.title
        if title is not None:
            return title
        return self.identifier.name if self.identifier else f"#{self.index}"

    @property
    def kernel_name(self) -> str:
        if self.identifier is not None:
            return kernel_identifier(self.identifier.name)
        title = self.title
        return kernel_identifier(title) if title else f"fpcore_{self.index}"

    @property
    def names(self) -> set[str]:
        """Everything `--function` may call this FPCore by."""
        found = {self.kernel_name, self.display_name}
        if self.identifier is not None:
            found.add(self.identifier.name)
        return found


_C_RESERVED = frozenset((
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch",
    "typedef", "union", "unsigned", "void", "volatile", "while", "main"))


def kernel_identifier(name: str) -> str:
    """A valid C identifier for a kernel: non-alphanumerics become `_`; a leading digit,
    a C keyword, a reserved identifier or a libm function name get the prefix `k_`."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name) or "kernel"
    if ident[0].isdigit() or ident in _C_RESERVED or ident in C_FUNCTIONS \
            or re.match(r"_[A-Z_]", ident):
        ident = f"k_{ident}"
    return ident


def _split(datum: Datum, index: int) -> _Core:
    """Check the outer shape of `(FPCore name? (args...) props... body)`."""
    if _head(datum) != "FPCore":
        raise PrecisecError(datum.loc, f"expected (FPCore ...), got `{_show(datum)}`")
    assert isinstance(datum, SList)
    items = datum.items
    position = 1
    identifier = None
    first = items[position] if position < len(items) else None
    if isinstance(first, Symbol) and not _is_key(first):
        identifier = first
        position += 1
    arguments = items[position] if position < len(items) else None
    if not isinstance(arguments, SList):
        raise PrecisecError(arguments.loc if arguments else datum.loc,
                            "expected the argument list of the FPCore")
    position += 1
    properties: dict[str, list[tuple[Symbol, Datum]]] = {}
    body: Datum | None = None
    while position < len(items):
        item = items[position]
        if _is_key(item):
            if position + 1 >= len(items):
                raise PrecisecError(item.loc, f"property `{item.name}` has no value")
            properties.setdefault(item.name, []).append((item, items[position + 1]))
            position += 2
            continue
        if body is not None:
            raise PrecisecError(item.loc, f"unexpected `{_show(item)}` after the body")
        body = item
        position += 1
    if body is None:
        raise PrecisecError(datum.loc, "the FPCore has no body")
    frozen = {key: tuple(values) for key, values in properties.items()}
    return _Core(index, identifier, arguments, frozen, body, datum.loc)


@dataclass(frozen=True)
class _Argument:
    name: str
    loc: SourceLoc


def _argument(datum: Datum, tuned: bool) -> _Argument:
    """An argument: `x`, or `(! props... x)`; arrays `(x n)` are refused."""
    if isinstance(datum, Symbol) and not _is_key(datum):
        return _Argument(datum.name, datum.loc)
    if _head(datum) == "!":
        assert isinstance(datum, SList)
        position = 1
        while position < len(datum.items) and _is_key(datum.items[position]):
            position += 2
        name = datum.items[position] if position < len(datum.items) else None
        if not isinstance(name, Symbol):
            raise PrecisecError(datum.loc, "annotated argument without a name")
        if position + 1 < len(datum.items):
            raise PrecisecError(datum.loc, f"array argument `{name.name}` is not supported")
        for key, value in _properties(datum.items[1:position], f"argument `{name.name}`"):
            if key.name == ":precision":
                _precision(value, tuned, top_level=False)
        return _Argument(name.name, name.loc)
    if isinstance(datum, SList) and datum.items and isinstance(datum.items[0], Symbol):
        raise PrecisecError(datum.loc, f"array argument `{datum.items[0].name}` is not "
                                       "supported")
    raise PrecisecError(datum.loc, f"`{_show(datum)}` is not an argument name")


# -- bodies -----------------------------------------------------------------------------------

Scope = Mapping[str, int]


class _Builder:
    """Appends IR nodes in evaluation order while walking an FPCore body."""

    def __init__(self, tuned: bool) -> None:
        self.tuned = tuned
        self.nodes: list[Node] = []
        self.bits: dict[int, int] = {}
        self.guard: int | None = None
        self.arguments = 0
        """The first `arguments` nodes are the arguments (placeholders until the end)."""

    def add(self, node: Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def constant(self, datum: Datum, scope: Scope) -> str | None:
        """Decimal text if `datum` is a literal number or an (unshadowed) FPCore constant."""
        if isinstance(datum, Number):
            return datum.text
        if isinstance(datum, Symbol) and datum.name in _CONSTANT_VALUES \
                and datum.name not in scope:
            return constant_text(datum.name)
        if _head(datum) == "digits":
            return self.digits(datum)
        return None

    def digits(self, datum: Datum) -> str:
        """`(digits m e b)`: the exact number m × b^e."""
        assert isinstance(datum, SList)
        parts = datum.items[1:]
        if len(parts) != 3 or not all(isinstance(p, Number) and p.value.denominator == 1
                                      for p in parts):
            raise PrecisecError(datum.loc, "`digits` takes three integers (digits m e b)")
        mantissa, exponent, base = (int(p.value) for p in parts if isinstance(p, Number))
        if base < 2:
            raise PrecisecError(datum.loc, "`digits` needs a base of at least 2")
        if abs(exponent) * math.log10(base) > MAX_EXPONENT:
            raise PrecisecError(datum.loc, f"`digits` number is out of range (beyond "
                                           f"1e±{MAX_EXPONENT})")
        return decimal_text(mantissa * Fraction(base) ** exponent)

    def expression(self, datum: Datum, scope: Scope, context: Precision) -> int:
        if isinstance(datum, Symbol):
            return self.symbol(datum, scope)
        text = self.constant(datum, scope)
        if text is not None:
            return self.add(Const(text, datum.loc))
        if isinstance(datum, String):
            raise PrecisecError(datum.loc, "a string is not a numeric expression")
        assert isinstance(datum, SList)
        if not datum.items:
            raise PrecisecError(datum.loc, "empty expression `()`")
        head = datum.items[0]
        if not isinstance(head, Symbol):
            raise PrecisecError(datum.loc, f"expected an operation, got `{_show(head)}`")
        name, args = head.name, datum.items[1:]
        if name in ("let", "let*"):
            return self.let(datum, scope, context, sequential=name == "let*")
        if name == "!":
            if not args:
                raise PrecisecError(datum.loc, "`!` annotation without an expression")
            inner = _annotation(args[:-1], context, self.tuned, "an `!` annotation")
            return self.expression(args[-1], scope, inner)
        if name in _FORMS:
            raise PrecisecError(datum.loc, _FORMS[name])
        if name == "if":
            return self.branch(datum, args, scope, context)
        if name in _COMPARISONS:
            raise PrecisecError(datum.loc, f"comparison `{name}` is only supported in :pre "
                                           "and in `if` conditions")
        if name in _BOOLEANS:
            raise PrecisecError(datum.loc, f"boolean `{name}` is only supported in :pre and "
                                           "in `if` conditions")
        return self.operation(datum, name, args, scope, context)

    # -- branches ----------------------------------------------------------------------
    def boolean(self, name: str, args: tuple[int, ...], loc: SourceLoc) -> int:
        """A non-rounding operation (comparison, logic, select) at the current guard;
        constants among its arguments are materialised as doubles (`hold`)."""
        return self.add(Op(name, tuple(self.held(a) for a in args), loc, None, self.guard))

    def held(self, index: int) -> int:
        """A constant outside a rounding operation is materialised as a double, as the
        C frontends do (a non-rounding operation would not round it)."""
        node = self.nodes[index]
        if isinstance(node, Const) and index >= self.arguments:
            return self.add(Op("hold", (index,), node.loc, None, self.guard))
        return index

    def guarded(self, cond: int, positive: bool) -> int:
        """The guard inside a branch: the enclosing guard and the condition (or its
        negation); the guard nodes themselves are unguarded."""
        saved, self.guard = self.guard, None
        try:
            loc = self.nodes[cond].loc
            term = cond if positive else self.boolean("not", (cond,), loc)
            return term if saved is None else self.boolean("and", (saved, term), loc)
        finally:
            self.guard = saved

    def branch(self, datum: SList, args: Sequence[Datum], scope: Scope,
               context: Precision) -> int:
        """`(if cond then else)`: both sides become nodes guarded by the condition (or
        its negation), the result a `select`; a constant condition picks its side."""
        if len(args) != 3:
            raise PrecisecError(datum.loc, f"`if` takes a condition and two expressions "
                                           f"(if cond then else), got {len(args)} argument(s)")
        cond = self.condition(args[0], scope, context)
        if isinstance(cond, bool):
            return self.expression(args[1] if cond else args[2], scope, context)
        outer = self.guard
        then_guard, else_guard = self.guarded(cond, True), self.guarded(cond, False)
        try:
            self.guard = then_guard
            then_value = self.held(self.expression(args[1], scope, context))
            self.guard = else_guard
            else_value = self.held(self.expression(args[2], scope, context))
        finally:
            self.guard = outer
        return self.boolean("select", (cond, then_value, else_value), datum.loc)

    def condition(self, datum: Datum, scope: Scope, context: Precision) -> int | bool:
        """A boolean expression: a Python bool when constant (TRUE, FALSE and what they
        decide), else a boolean node. Comparisons chain as FPCore defines them:
        (< a b c) is a<b and b<c; (!= a b c) says the arguments are pairwise distinct."""
        if isinstance(datum, Symbol) and datum.name in ("TRUE", "FALSE") \
                and datum.name not in scope:
            return datum.name == "TRUE"
        name = _head(datum)
        if name == "!" and isinstance(datum, SList) and len(datum.items) >= 2:
            inner = _annotation(datum.items[1:-1], context, self.tuned, "an `!` annotation")
            return self.condition(datum.items[-1], scope, inner)
        if not isinstance(datum, SList) or name not in _COMPARISONS | _BOOLEANS:
            raise PrecisecError(datum.loc, f"`{_show(datum)}` is not a supported condition; "
                                           "use comparisons (< <= > >= == !=), and, or, not, "
                                           "TRUE, FALSE")
        args = datum.items[1:]
        if name == "not":
            if len(args) != 1:
                raise PrecisecError(datum.loc, f"`not` takes 1 argument, got {len(args)}")
            inner_cond = self.condition(args[0], scope, context)
            if isinstance(inner_cond, bool):
                return not inner_cond
            return self.boolean("not", (inner_cond,), datum.loc)
        if name in ("and", "or"):
            absorbing = name == "or"
            terms: list[int] = []
            for arg in args:
                term = self.condition(arg, scope, context)
                if isinstance(term, bool):
                    if term == absorbing:
                        return absorbing
                    continue
                terms.append(term)
            if not terms:
                return not absorbing
            result = terms[0]
            for term in terms[1:]:
                result = self.boolean(name, (result, term), datum.loc)
            return result
        if len(args) < 2:
            raise PrecisecError(datum.loc, f"comparison `{name}` needs two operands or more")
        values = [self.expression(a, scope, context) for a in args]
        pairs = [(a, b) for k, a in enumerate(values) for b in values[k + 1:]] \
            if name == "!=" else list(pairwise(values))
        chain: int | None = None
        for left, right in pairs:
            test = self.boolean(_COMPARISON_OPS[name], (left, right), datum.loc)
            chain = test if chain is None else self.boolean("and", (chain, test), datum.loc)
        assert chain is not None
        return chain

    def symbol(self, datum: Symbol, scope: Scope) -> int:
        if datum.name in scope:
            return scope[datum.name]
        if datum.name in _CONSTANT_VALUES:
            return self.add(Const(constant_text(datum.name), datum.loc))
        if datum.name in _NON_REAL_CONSTANTS:
            raise PrecisecError(datum.loc, f"constant `{datum.name}` "
                                           f"{_NON_REAL_CONSTANTS[datum.name]}; not supported")
        raise PrecisecError(datum.loc, f"unknown variable `{datum.name}`")

    def operation(self, datum: SList, name: str, args: Sequence[Datum], scope: Scope,
                  context: Precision) -> int:
        spec = _BY_ARITY.get((name, len(args)))
        if spec is None:
            arities = sorted(a for (n, a) in _BY_ARITY if n == name)
            if not arities:
                raise PrecisecError(datum.loc, f"unknown operation `{name}` (not in "
                                               "precisec's operation table)")
            counts = " or ".join(str(a) for a in arities)
            raise PrecisecError(datum.loc, f"`{name}` takes {counts} argument(s), "
                                           f"got {len(args)}")
        if spec.name == _NEGATION.name:
            text = self.constant(args[0], scope)
            if text is not None:
                return self.add(Const(text[1:] if text.startswith("-") else f"-{text}",
                                      datum.loc))
        if spec.kind != "arith":
            raise PrecisecError(datum.loc, f"`{name}` is not a numeric operation")
        indices = tuple(self.expression(a, scope, context) for a in args)
        index = self.add(Op(spec.name, indices, datum.loc, None, self.guard))
        if self.tuned and spec.rounds:
            if context is None:
                raise PrecisecError(datum.loc, "no precision for this operation")
            self.bits[index] = context
        return index

    def let(self, datum: SList, scope: Scope, context: Precision, sequential: bool) -> int:
        form = _show(datum.items[0])
        if len(datum.items) != 3 or not isinstance(datum.items[1], SList):
            raise PrecisecError(datum.loc, f"`{form}` needs a binding list and a body: "
                                           f"({form} ([name expr] ...) body)")
        inner = dict(scope)
        bound: set[str] = set()
        for binding in datum.items[1].items:
            if not (isinstance(binding, SList) and len(binding.items) == 2
                    and isinstance(binding.items[0], Symbol)):
                raise PrecisecError(binding.loc, f"malformed `{form}` binding "
                                                 f"`{_show(binding)}`; expected [name expr]")
            name = binding.items[0].name
            if name in bound and not sequential:
                raise PrecisecError(binding.loc, f"`{name}` is bound twice in one `let`")
            bound.add(name)
            value = self.expression(binding.items[1], inner if sequential else scope, context)
            inner[name] = value
        return self.expression(datum.items[2], inner, context)


# -- :pre to ranges ---------------------------------------------------------------------------

_PRE_HINT = "only a conjunction (and ...) of constant bounds like (<= LO x HI)"


def _conjuncts(datum: Datum) -> Iterator[Datum]:
    if _head(datum) == "and":
        assert isinstance(datum, SList)
        for item in datum.items[1:]:
            yield from _conjuncts(item)
    elif not (isinstance(datum, Symbol) and datum.name == "TRUE"):
        yield datum


def _bound_value(datum: Datum, names: set[str]) -> Fraction | str:
    """A constant bound's exact value, or the argument it names."""
    if isinstance(datum, Symbol) and datum.name in names:
        return datum.name
    if isinstance(datum, Number):
        return datum.value
    if isinstance(datum, Symbol) and datum.name in _CONSTANT_VALUES:
        return Fraction(Decimal(constant_text(datum.name)))
    if isinstance(datum, SList) and _head(datum) == "-" and len(datum.items) == 2:
        inner = _bound_value(datum.items[1], set())
        if isinstance(inner, Fraction):
            return -inner
    if isinstance(datum, Symbol) and datum.name in _NON_REAL_CONSTANTS:
        raise PrecisecError(datum.loc, f"range bound `{datum.name}` "
                                       f"{_NON_REAL_CONSTANTS[datum.name]}; ranges must be "
                                       "finite")
    if isinstance(datum, Symbol):
        raise PrecisecError(datum.loc, f"`{datum.name}` in :pre is not an argument")
    raise PrecisecError(datum.loc, f"`{_show(datum)}` in :pre is neither an argument nor a "
                                   f"constant number; {_PRE_HINT}")


def _bounds(pre: Datum, names: set[str]) -> tuple[dict[str, list[Fraction]],
                                                   dict[str, list[Fraction]]]:
    """Lower and upper bounds per argument from a :pre conjunction."""
    lower: dict[str, list[Fraction]] = {}
    upper: dict[str, list[Fraction]] = {}
    for clause in _conjuncts(pre):
        head = _head(clause)
        if head == "!=":
            # Excluding single points removes a set of measure zero from the range box, so
            # uniform sampling is unchanged; an input that does hit such a point and breaks
            # the kernel is still caught by the reference's non-finite check.
            assert isinstance(clause, SList)
            for operand in clause.items[1:]:
                _bound_value(operand, names)
            continue
        if head not in ("<", "<=", ">", ">="):
            what = f"`{head}`" if head else f"`{_show(clause)}`"
            raise PrecisecError(clause.loc, f"{what} in :pre is not supported; {_PRE_HINT}")
        assert isinstance(clause, SList)
        operands = [_bound_value(d, names) for d in clause.items[1:]]
        if len(operands) < 2:
            raise PrecisecError(clause.loc, f"`{head}` in :pre needs two operands or more")
        if head in (">", ">="):
            operands.reverse()
        strict = head in ("<", ">")
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
                raise PrecisecError(clause.loc, f"`{_show(clause)}` in :pre is always false")
    return lower, upper


def _ranges(core: _Core, arguments: Sequence[_Argument]) -> list[tuple[float, float]]:
    """The range of every argument, from :pre."""
    pre = core.prop(":pre")
    names = {a.name for a in arguments}
    lower, upper = _bounds(pre, names) if pre is not None else ({}, {})
    ranges = []
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
            ranges.append((float(lo), float(hi)))
        except OverflowError as err:
            raise PrecisecError(pre.loc, f"the range of `{argument.name}` is not finite as a "
                                         "double") from err
    return ranges


def _target(core: _Core) -> float | None:
    value = core.prop(":precisec-rmse")
    if value is None:
        return None
    if not isinstance(value, Number) or value.value <= 0:
        raise PrecisecError(value.loc, f"`:precisec-rmse` must be a positive number, got "
                                       f"`{_show(value)}`")
    try:
        target = float(value.value)
    except OverflowError as err:
        raise PrecisecError(value.loc, "`:precisec-rmse` is not finite as a double") from err
    if target == 0:
        raise PrecisecError(value.loc, "`:precisec-rmse` underflows to 0 as a double")
    return target


def _build(core: _Core, tuned: bool) -> tuple[Kernel, dict[int, int]]:
    """The IR of one FPCore (and, when tuned, each rounding operation's precision)."""
    top = core.prop(":precision")
    # A binary32 FPCore is a float kernel (float inputs and result, single-precision
    # baseline); its operations are tuned like any other, so they are built at no fixed
    # precision of their own.
    float_kernel = isinstance(top, Symbol) and top.name == "binary32"
    if float_kernel and not tuned:
        context: Precision = DOUBLE_BITS
    else:
        context = _precision(top, tuned, top_level=True) if top is not None else DOUBLE_BITS
    arguments = [_argument(d, tuned) for d in core.arguments.items]
    seen: dict[str, _Argument] = {}
    for argument in arguments:
        if argument.name in seen:
            raise PrecisecError(argument.loc, f"argument `{argument.name}` appears twice")
        seen[argument.name] = argument
    builder = _Builder(tuned)
    placeholder = Const("0", core.loc)
    scope = {a.name: builder.add(placeholder) for a in arguments}
    builder.arguments = len(arguments)
    try:
        output = builder.expression(core.body, scope, context)
    except RecursionError as err:
        raise PrecisecError(core.loc, "expression nested too deeply") from err
    ranges = _ranges(core, arguments)
    for position, (argument, (lo, hi)) in enumerate(zip(arguments, ranges, strict=True)):
        builder.nodes[position] = Input(argument.name, lo, hi, argument.loc)
    kernel = Kernel(core.kernel_name, tuple(builder.nodes), tuple(range(len(arguments))),
                    output, _target(core), core.loc,
                    precision="float" if float_kernel else "double")
    return kernel, builder.bits


# -- public API -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FPCoreEntry:
    """One FPCore of a file: its names, arguments and whether precisec supports it."""

    index: int
    name: str
    identifier: str | None
    kernel_name: str
    args: tuple[str, ...]
    loc: SourceLoc
    supported: bool
    reason: str | None
    reason_loc: SourceLoc | None


def _argument_label(datum: Datum) -> str:
    """An argument's name for listings, however it is annotated."""
    if isinstance(datum, Symbol):
        return datum.name
    names = [d.name for d in datum.items[1:] if isinstance(d, Symbol) and not _is_key(d)] \
        if _head(datum) == "!" and isinstance(datum, SList) else []
    return names[-1] if names else _show(datum)


def _cores(source: str, file: str) -> list[_Core]:
    return [_split(datum, index) for index, datum in enumerate(read_data(source, file))]


def read_fpcores(source: str, file: str) -> list[FPCoreEntry]:
    """Every FPCore of a file, each tried against the IR (supported, or why not)."""
    entries = []
    for index, datum in enumerate(read_data(source, file)):
        args: tuple[str, ...] = ()
        name, identifier, kernel_name = f"#{index}", None, f"fpcore_{index}"
        try:
            core = _split(datum, index)
            identifier = core.identifier.name if core.identifier else None
            name, kernel_name = core.display_name, core.kernel_name
            args = tuple(_argument_label(d) for d in core.arguments.items)
            _build(core, tuned=False)
        except PrecisecError as err:
            entries.append(FPCoreEntry(index, name, identifier, kernel_name, args, datum.loc,
                                       False, err.message, err.loc))
        else:
            entries.append(FPCoreEntry(index, name, identifier, kernel_name, args, datum.loc,
                                       True, None, None))
    return entries


def _select(cores: Sequence[_Core], file: str, function: str | None,
            index: int | None) -> _Core:
    start = SourceLoc(file, 1, 1)
    listing = ", ".join(f"'{c.display_name}'" for c in cores) or "none"
    if not cores:
        raise PrecisecError(start, "no FPCore found")
    if index is not None:
        if not 0 <= index < len(cores):
            raise PrecisecError(start, f"no FPCore number {index} (the file has "
                                       f"{len(cores)}, numbered from 0)")
        core = cores[index]
        if function is not None and function not in core.names:
            raise PrecisecError(core.loc, f"FPCore number {index} is "
                                          f"'{core.display_name}', not '{function}'")
        return core
    if function is None:
        if len(cores) == 1:
            return cores[0]
        raise PrecisecError(cores[1].loc, f"several FPCores ({listing}); choose one with "
                                          "--function NAME")
    matches = [c for c in cores if function in c.names]
    if not matches:
        raise PrecisecError(start, f"no FPCore named '{function}' (found: {listing})")
    if len(matches) > 1:
        lines = ", ".join(str(c.loc.line) for c in matches)
        raise PrecisecError(matches[1].loc, f"several FPCores are named '{function}' (at "
                                            f"lines {lines}); choose one by index")
    return matches[0]


def parse_fpcore(source: str, file: str, function: str | None = None,
                 index: int | None = None) -> Kernel:
    """Parse one FPCore of `source` (by :name, identifier or index) into the IR."""
    core = _select(_cores(source, file), file, function, index)
    return _build(core, tuned=False)[0]


def parse_tuned_fpcore(source: str, file: str, function: str | None = None,
                       index: int | None = None) -> tuple[Kernel, dict[int, int]]:
    """Parse an FPCore whose operations carry precision annotations (the emitter's
    output): the IR and the bits of each rounding operation (53 where unannotated)."""
    core = _select(_cores(source, file), file, function, index)
    return _build(core, tuned=True)


def load_fpcore(path: str | Path, function: str | None = None,
                index: int | None = None) -> Kernel:
    """Read and parse an FPCore file."""
    return parse_fpcore(read_source(path), str(path), function, index)
