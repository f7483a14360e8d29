"""FPCore's outer forms: cores, properties, arguments, precisions and constants.

`split_core` checks the shape `(FPCore name? (args...) props... body)` without looking
into the body; `parse_argument` reads an argument (`x` or `(! props... x)`);
`precision_bits` reads a `:precision` value. The package docstring lists what is
accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import mpmath

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.fpcore.names import kernel_identifier
from precisec.frontend.fpcore.reader import (
    SIGNIFICANT_DIGITS,
    Datum,
    Number,
    SList,
    String,
    Symbol,
    head,
    is_key,
    rounded_text,
    show,
)

DOUBLE_BITS = 53
FLOAT_BITS = 24

# -- constants ------------------------------------------------------------------------------

CONSTANT_VALUES: dict[str, Callable[[], mpmath.mpf]] = {
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
NON_REAL_CONSTANTS = {"INFINITY": "is not finite", "NAN": "is not a number",
                      "TRUE": "is a boolean", "FALSE": "is a boolean"}


@cache
def constant_text(name: str) -> str:
    """FPCore constant `name` as decimal text with SIGNIFICANT_DIGITS significant digits
    (mpmath at about 4 × 120 bits, then rounded exactly from its binary value)."""
    with mpmath.workprec(4 * SIGNIFICANT_DIGITS):
        mantissa, exponent = CONSTANT_VALUES[name]().man_exp
    return rounded_text(Fraction(int(mantissa)) * Fraction(2) ** int(exponent))


# -- precisions -------------------------------------------------------------------------------

Precision = int | None
"""Bits of the enclosing precision context; None for `real`."""


def precision_bits(value: Datum, tuned: bool, top_level: bool) -> Precision:
    """The precision named by a `:precision` value. Source kernels take binary64 (and
    `real`); `tuned` (the emitter's output) also takes binary32 and `(float E N)`, whose
    significand has N − E bits (the exponent width is not modelled, as in the MPFR
    emulation)."""
    if isinstance(value, Symbol):
        if value.name == "binary64":
            return DOUBLE_BITS
        if value.name == "real" and not tuned:
            return None
        if value.name == "binary32":
            if tuned:
                return FLOAT_BITS
            raise PrecisecError(value.loc, "float kernels (:precision binary32) are not "
                                           "supported yet; only binary64" if top_level else
                                "`:precision binary32` (float operations) is not supported "
                                "yet; only binary64")
        if value.name == "integer":
            raise PrecisecError(value.loc, "integer values (:precision integer) are not "
                                           "supported")
    elif isinstance(value, SList) and head(value) == "float" and len(value.items) == 3 and all(
            isinstance(d, Number) and d.value.denominator == 1 for d in value.items[1:]):
        exponent, width = (int(d.value) for d in value.items[1:] if isinstance(d, Number))
        bits = width - exponent
        if tuned and exponent >= 2 and bits >= 2:
            return bits
        if (exponent, bits) == (11, DOUBLE_BITS):
            return DOUBLE_BITS
    raise PrecisecError(value.loc, f"precision `{show(value)}` is not supported yet; only "
                                   "binary64")


def properties(items: Sequence[Datum], what: str) -> Iterator[tuple[Symbol, Datum]]:
    """The `:key value` pairs of a property list."""
    for position in range(0, len(items), 2):
        key = items[position]
        if not is_key(key):
            raise PrecisecError(key.loc, f"expected a property `:name value` in {what}, "
                                         f"got `{show(key)}`")
        if position + 1 >= len(items):
            raise PrecisecError(key.loc, f"property `{key.name}` has no value")
        yield key, items[position + 1]


def annotation(items: Sequence[Datum], context: Precision, tuned: bool,
               what: str) -> Precision:
    """The precision context inside a `!` annotation with these properties."""
    for key, value in properties(items, what):
        if key.name == ":precision":
            context = precision_bits(value, tuned, top_level=False)
        elif key.name == ":round" and not (isinstance(value, Symbol)
                                           and value.name == "nearestEven"):
            raise PrecisecError(value.loc, f"rounding mode `{show(value)}` is not "
                                           "supported; only nearestEven")
    return context


# -- cores ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Core:
    """One `(FPCore ...)` form split into its parts; `order` is its properties in source
    order."""

    index: int
    identifier: Symbol | None
    arguments: SList
    order: tuple[tuple[Symbol, Datum], ...]
    body: Datum
    loc: SourceLoc

    @property
    def properties(self) -> Mapping[str, tuple[tuple[Symbol, Datum], ...]]:
        grouped: dict[str, list[tuple[Symbol, Datum]]] = {}
        for key, value in self.order:
            grouped.setdefault(key.name, []).append((key, value))
        return {key: tuple(values) for key, values in grouped.items()}

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


def split_core(datum: Datum, index: int) -> Core:
    """Check the outer shape of `(FPCore name? (args...) props... body)`."""
    if head(datum) != "FPCore":
        raise PrecisecError(datum.loc, f"expected (FPCore ...), got `{show(datum)}`")
    assert isinstance(datum, SList)
    items = datum.items
    position = 1
    identifier = None
    first = items[position] if position < len(items) else None
    if isinstance(first, Symbol) and not is_key(first):
        identifier = first
        position += 1
    arguments = items[position] if position < len(items) else None
    if not isinstance(arguments, SList):
        raise PrecisecError(arguments.loc if arguments else datum.loc,
                            "expected the argument list of the FPCore")
    position += 1
    order: list[tuple[Symbol, Datum]] = []
    body: Datum | None = None
    while position < len(items):
        item = items[position]
        if is_key(item):
            if position + 1 >= len(items):
                raise PrecisecError(item.loc, f"property `{item.name}` has no value")
            order.append((item, items[position + 1]))
            position += 2
            continue
        if body is not None:
            raise PrecisecError(item.loc, f"unexpected `{show(item)}` after the body")
        body = item
        position += 1
    if body is None:
        raise PrecisecError(datum.loc, "the FPCore has no body")
    return Core(index, identifier, arguments, tuple(order), body, datum.loc)


# -- arguments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Argument:
    """A scalar argument: its FPCore name and where that name is."""

    name: str
    loc: SourceLoc


def parse_argument(datum: Datum, tuned: bool) -> Argument:
    """An argument: `x`, or `(! props... x)`; arrays `(x n)` are refused."""
    if isinstance(datum, Symbol) and not is_key(datum):
        return Argument(datum.name, datum.loc)
    if head(datum) == "!":
        assert isinstance(datum, SList)
        position = 1
        while position < len(datum.items) and is_key(datum.items[position]):
            position += 2
        name = datum.items[position] if position < len(datum.items) else None
        if not isinstance(name, Symbol):
            raise PrecisecError(datum.loc, "annotated argument without a name")
        if position + 1 < len(datum.items):
            raise PrecisecError(datum.loc, f"array argument `{name.name}` is not supported")
        for key, value in properties(datum.items[1:position], f"argument `{name.name}`"):
            if key.name == ":precision":
                precision_bits(value, tuned, top_level=False)
        return Argument(name.name, name.loc)
    if isinstance(datum, SList) and datum.items and isinstance(datum.items[0], Symbol):
        raise PrecisecError(datum.loc, f"array argument `{datum.items[0].name}` is not "
                                       "supported")
    raise PrecisecError(datum.loc, f"`{show(datum)}` is not an argument name")


def argument_label(datum: Datum) -> str:
    """An argument's name for listings, however it is annotated."""
    if isinstance(datum, Symbol):
        return datum.name
    names = [d.name for d in datum.items[1:] if isinstance(d, Symbol) and not is_key(d)] \
        if head(datum) == "!" and isinstance(datum, SList) else []
    return names[-1] if names else show(datum)


def parse_arguments(core: Core, tuned: bool) -> list[Argument]:
    """The core's arguments, each named once."""
    arguments = [parse_argument(d, tuned) for d in core.arguments.items]
    seen: set[str] = set()
    for argument in arguments:
        if argument.name in seen:
            raise PrecisecError(argument.loc, f"argument `{argument.name}` appears twice")
        seen.add(argument.name)
    return arguments
