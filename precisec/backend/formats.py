"""Hardware floating-point formats, as C spells them (docs/native.md, Formats).

A native kernel runs each site in a C type: float (binary32, 24 bits), double (binary64,
53), x87 long double (64, where LDBL_MANT_DIG says so) or _Float128 (113, gcc's
__float128 with libquadmath for its functions). Literals are written as exact hexadecimal
numbers of the value MPFR rounds, so neither gcc's decimal conversion nor a double
rounding through a wider literal is involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import gmpy2

from precisec.toolchain import native_support


@dataclass(frozen=True)
class Format:
    """A hardware floating-point format: its C type, precision and suffixes."""

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


@cache
def available_formats() -> tuple[Format, ...]:
    """float and double always; x87 long double and _Float128 where the compiler has them."""
    support = native_support()
    return tuple(f for f in FORMATS
                 if f in (FLOAT, DOUBLE)
                 or (f is LONG_DOUBLE and support.long_double_bits == LONG_DOUBLE.bits)
                 or (f is FLOAT128 and support.float128))


def covering(bits: int) -> Format:
    """The narrowest format holding `bits` bits."""
    for fmt in FORMATS:
        if fmt.bits >= bits:
            return fmt
    raise ValueError(f"no hardware format has {bits} bits")


def kernel_format(precision: str) -> Format:
    """The format of a kernel's C type ("double" or "float")."""
    return BY_NAME[precision]


def hex_literal(text: str, bits: int, fmt: Format) -> str:
    """A C literal of type `fmt` whose value is the decimal `text` rounded to nearest at
    `bits` (≤ fmt.bits) bits, exact in hexadecimal."""
    value = gmpy2.mpfr(text, bits)
    mantissa, exponent = (int(part) for part in value.as_mantissa_exp())
    while mantissa and mantissa % 2 == 0:
        mantissa, exponent = mantissa // 2, exponent + 1
    sign = "-" if value < 0 or (value == 0 and gmpy2.is_signed(value)) else ""
    literal = f"0x{abs(mantissa):x}p{exponent:+d}{fmt.literal_suffix}"
    return f"({sign}{literal})" if sign else literal
