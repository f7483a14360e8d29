"""Hardware floating-point formats and what an assignment of formats to operations means.

A native kernel runs each rounding operation in a C type: float (binary32, 24 bits),
double (binary64, 53), x87 long double (64, where LDBL_MANT_DIG says so) or _Float128
(113, gcc's __float128 with libquadmath for math functions). An operation first converts
each argument to its own format (a cast; narrowing casts round to nearest), then computes
one correctly rounded IEEE result, so its emulation is the precision emulator at the
format's bits with `round_arguments=True`. That equality is exact for + − × ÷ √ fma and
the exact operations (`OpSpec.native_exact`), up to exponent range and subnormals; libm's
other functions are not correctly rounded and are only approximated by the emulator.

Values have a format too: inputs are double, an exact operation (negation, fabs, fmin,
fmax) takes its widest argument's format, and a constant takes its consumer's (it is
written as an exact hexadecimal literal of the correctly rounded value, never cast).

A cast is one converted copy of a value: each distinct (value, format) pair that some
operation consumes in a format other than the value's own, plus the final conversion to
double when the output is in another format. Two operations consuming the same value in
the same format share one cast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np

from precisec.errors import PrecisecError
from precisec.ir import Const, Input, Kernel, Op
from precisec.reference import emulate
from precisec.toolchain import native_support


@dataclass(frozen=True)
class Format:
    """A hardware floating-point format as C spells it."""

    name: str
    c_type: str
    bits: int
    literal_suffix: str
    function_suffix: str
    quadmath: bool = False


FLOAT = Format("float", "float", 24, "f", "f")
DOUBLE = Format("double", "double", 53, "", "")
LONG_DOUBLE = Format("long double", "long double", 64, "L", "l")
FLOAT128 = Format("_Float128", "__float128", 113, "Q", "q", quadmath=True)
FORMATS = (FLOAT, DOUBLE, LONG_DOUBLE, FLOAT128)
BY_NAME = {f.name: f for f in FORMATS}

Assignment = Mapping[int, Format]


@cache
def available_formats() -> tuple[Format, ...]:
    """float and double always; x87 long double and _Float128 where the compiler has them."""
    support = native_support()
    return tuple(f for f in FORMATS
                 if f in (FLOAT, DOUBLE)
                 or (f is LONG_DOUBLE and support.long_double_bits == LONG_DOUBLE.bits)
                 or (f is FLOAT128 and support.float128))


def snap(kernel: Kernel, bits: Mapping[int, int],
         formats: tuple[Format, ...] | None = None) -> dict[int, Format]:
    """The cheapest format whose precision covers each operation's bits (snapping up)."""
    formats = formats or available_formats()
    snapped: dict[int, Format] = {}
    for index in kernel.rounding_ops:
        covering = [f for f in formats if f.bits >= bits[index]]
        if not covering:
            node = kernel.nodes[index]
            assert isinstance(node, Op)
            raise PrecisecError(node.loc, f"'{node.spec.name}' needs {bits[index]} bits, more "
                                          f"than any hardware format ({formats[-1].bits}); "
                                          "use --backend mpfr")
        snapped[index] = covering[0]
    return snapped


def uniform(kernel: Kernel, fmt: Format) -> dict[int, Format]:
    return dict.fromkeys(kernel.rounding_ops, fmt)


def value_formats(kernel: Kernel, assignment: Assignment) -> dict[int, Format]:
    """Format of every input and operation value (constants have none of their own)."""
    formats: dict[int, Format] = {}
    for index, node in enumerate(kernel.nodes):
        if isinstance(node, Input):
            formats[index] = DOUBLE
        elif isinstance(node, Op):
            if node.spec.rounds:
                formats[index] = assignment[index]
            else:
                formats[index] = max((formats.get(a, DOUBLE) for a in node.args),
                                     key=lambda f: f.bits)
    return formats


def conversions(kernel: Kernel, assignment: Assignment) -> tuple[tuple[int, Format], ...]:
    """The casts: (value, format) pairs consumed in a format other than the value's;
    the output's conversion back to double is (output, DOUBLE)."""
    formats = value_formats(kernel, assignment)
    casts: set[tuple[int, str]] = set()
    for index, node in enumerate(kernel.nodes):
        if isinstance(node, Op):
            for arg in node.args:
                if not isinstance(kernel.nodes[arg], Const) and formats[arg] != formats[index]:
                    casts.add((arg, formats[index].name))
    output = kernel.nodes[kernel.output]
    if not isinstance(output, Const) and formats[kernel.output] != DOUBLE:
        casts.add((kernel.output, DOUBLE.name))
    return tuple((index, BY_NAME[name]) for index, name in sorted(casts))


def count_casts(kernel: Kernel, assignment: Assignment) -> int:
    return len(conversions(kernel, assignment))


@dataclass(frozen=True)
class CostModel:
    """Estimated cost of a native kernel: a weight per operation by format, plus casts.

    float is half of double because that is what it buys where it buys anything: twice
    the lanes per SIMD instruction (scalar SSE float and double cost the same). x87 long
    double cannot vectorise; _Float128 is software-emulated. Casts come in two kinds,
    fitted to the kernels timed in docs/native.md: a boundary cast (an input converted on
    entry, the result converted on return) costs about one operation, but an interior
    cast between float and double vectors costs about 4: the two mixed kernels built with
    interior casts at cost 1 (jet, sqroot) ran 1.4-1.5 times slower than all double,
    while all-float kernels with only boundary casts ran up to 3 times faster.
    """

    float_: float = 1.0
    double: float = 2.0
    long_double: float = 6.0
    float128: float = 40.0
    cast: float = 4.0
    boundary_cast: float = 1.0

    def weight(self, fmt: Format) -> float:
        return {FLOAT: self.float_, DOUBLE: self.double, LONG_DOUBLE: self.long_double,
                FLOAT128: self.float128}[fmt]

    def cost(self, kernel: Kernel, assignment: Assignment) -> float:
        casts = conversions(kernel, assignment)
        boundary = sum(1 for index, fmt in casts if index in kernel.inputs
                       or (index == kernel.output and fmt == DOUBLE))
        return (sum(self.weight(assignment[i]) for i in kernel.rounding_ops)
                + self.boundary_cast * boundary + self.cast * (len(casts) - boundary))


def assignment_bits(assignment: Assignment) -> dict[int, int]:
    return {index: fmt.bits for index, fmt in assignment.items()}


def emulate_native(kernel: Kernel, assignment: Assignment, inputs: np.ndarray) -> np.ndarray:
    """Outputs of the native kernel as the emulator computes them (casts round)."""
    return emulate(kernel, assignment_bits(assignment), inputs, round_arguments=True)


def float_fraction(assignment: Assignment) -> float:
    """Share of the rounding operations that run in float."""
    return sum(f is FLOAT for f in assignment.values()) / len(assignment) if assignment else 0.0
