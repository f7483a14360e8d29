"""The native backend: the tuned kernel as plain C over float, double, long double and
__float128, one `const` temporary per value.

Every conversion is an explicit cast into a named temporary, emitted once right after the
value it converts (see `precisec.native.conversions`). A constant is written as the exact
hexadecimal literal of its decimal value correctly rounded (by MPFR) to the consuming
operation's format, with that format's suffix, so neither gcc's decimal conversion nor a
double rounding through a wider literal is involved. Math functions are the libm ones
with the format's suffix (sinf, sin, sinl) and libquadmath's for __float128 (sinq).
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2

from precisec.ir import Const, Input, Kernel, Op
from precisec.native import (
    DOUBLE,
    Assignment,
    Format,
    conversions,
    value_formats,
)

_CAST_SUFFIX = {"float": "f", "double": "d", "long double": "ld", "_Float128": "q"}


def hex_literal(text: str, fmt: Format) -> str:
    """C literal of the decimal `text` correctly rounded to `fmt` (exact in hexadecimal)."""
    value = gmpy2.mpfr(text, fmt.bits)
    mantissa, exponent = (int(part) for part in value.as_mantissa_exp())
    while mantissa and mantissa % 2 == 0:
        mantissa, exponent = mantissa // 2, exponent + 1
    sign = "-" if value < 0 or (value == 0 and gmpy2.is_signed(value)) else ""
    literal = f"0x{abs(mantissa):x}p{exponent:+d}{fmt.literal_suffix}"
    literal = f"({sign}{literal})" if sign else literal
    return f"{literal} /* {text} */"


def _value_name(kernel: Kernel, index: int, prefix: str = "") -> str:
    node = kernel.nodes[index]
    return node.name if isinstance(node, Input) else f"{prefix}t{index}"


def _prefix(kernel: Kernel) -> str:
    """'' unless a parameter's name could clash with a generated temporary's."""
    clash = any((name[:1] == "t" and name[1:].isdigit()) or "_" in name
                for name in kernel.input_names)
    return "pc_" if clash else ""


def _expression(node: Op, args: list[str], fmt: Format) -> str:
    spec = node.spec
    if spec.c_symbol is not None:
        if spec.arity == 1:
            return f"{spec.c_symbol}{args[0]}"
        return f"{args[0]} {spec.c_symbol} {args[1]}"
    return f"{spec.c_function}{fmt.function_suffix}({', '.join(args)})"


def emit_native(kernel: Kernel, assignment: Assignment, header: Sequence[str]) -> str:
    """C source of the native tuned kernel; `header` lines go into the leading comment."""
    formats = value_formats(kernel, assignment)
    prefix = _prefix(kernel)

    def name(index: int) -> str:
        return _value_name(kernel, index, prefix)

    casts: dict[int, list[Format]] = {}
    for index, fmt in conversions(kernel, assignment):
        if not (index == kernel.output and fmt == DOUBLE):
            casts.setdefault(index, []).append(fmt)
    cast_name = {(i, f.name): f"{prefix if i in kernel.inputs else ''}{name(i)}_"
                              f"{_CAST_SUFFIX[f.name]}"
                 for i, fs in casts.items() for f in fs}
    body: list[str] = []
    libm = quadmath = False
    used: set[int] = set()

    def emit_casts(index: int) -> None:
        for fmt in casts.get(index, []):
            body.append(f"    const {fmt.c_type} {cast_name[index, fmt.name]} = "
                        f"({fmt.c_type}){name(index)};")

    for index in kernel.inputs:
        emit_casts(index)
    for index, node in enumerate(kernel.nodes):
        if not isinstance(node, Op):
            continue
        fmt = formats[index]
        kind = f"{fmt.bits} bits" if node.spec.rounds else "exact"
        body.append(f"    /* {node.loc.line}:{node.loc.col} {node.spec.name}, {kind} */")
        args: list[str] = []
        for arg in node.args:
            const = kernel.nodes[arg]
            used.add(arg)
            if isinstance(const, Const):
                args.append(hex_literal(const.text, fmt))
            elif formats[arg] != fmt:
                args.append(cast_name[arg, fmt.name])
            else:
                args.append(name(arg))
        if node.spec.c_function is not None:
            quadmath |= fmt.quadmath
            libm |= not fmt.quadmath
        body.append(f"    const {fmt.c_type} {name(index)} = "
                    f"{_expression(node, args, fmt)};")
        emit_casts(index)
    output = kernel.nodes[kernel.output]
    used.add(kernel.output)
    if isinstance(output, Const):
        result = hex_literal(output.text, DOUBLE)
    elif formats[kernel.output] != DOUBLE:
        result = f"(double){name(kernel.output)}"
    else:
        result = name(kernel.output)
    unused = [f"    (void){kernel.nodes[i].name};" for i in kernel.inputs if i not in used]
    params = ", ".join(f"double {kernel.input(i).name}" for i in range(len(kernel.inputs)))
    includes = [*(["#include <math.h>"] if libm else []),
                *(["#include <quadmath.h>"] if quadmath else [])]
    lines = ["/*", *(f" * {line}".rstrip() for line in header), " */",
             *includes, *([""] if includes else []),
             f"double {kernel.name}({params or 'void'})", "{",
             *unused, *body, f"    return {result};", "}", ""]
    return "\n".join(lines)
