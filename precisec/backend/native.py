"""The native backend: the tuned kernel in hardware types, one format per site
(docs/native.md).

The shared walker (`precisec.backend.cwalk`) writes the structure; this dialect makes
every real value a C variable of a `Format`. A site computes in its format after
converting each argument to it with an explicit cast (narrowing casts round to nearest);
its literal is the exact hexadecimal of the decimal rounded (by MPFR) to that format. So
the file computes `interpret` with `round_arguments=True` at each format's precision,
bit for bit for the correctly rounded operations (+ − × ÷, sqrt, fma, and the exact ones:
`OpSpec.native_exact`) apart from exponent range and subnormals; other libm functions
are not correctly rounded and only approximated by that emulation.

Everything else follows the MPFR backend's width rule (`cwalk.compute_widths`) mapped to
the narrowest covering format: inputs and literals outside sites are the kernel's type,
an exact operation computes in its widest argument's format, merged, carried and array
values in the widest format they receive, so those copies never round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from precisec.backend.cwalk import (
    Precisions,
    Walker,
    Widths,
    array_groups,
    compute_widths,
    flat_pointer,
)
from precisec.backend.formats import FLOAT128, Format, covering, hex_literal, kernel_format
from precisec.backend.mpfr import BRANCH_GUARD
from precisec.ir.core import Atom, Eqn, Input, Kernel, Lit, Var
from precisec.ops import OPS
from precisec.toolchain import signature


def _infix(symbol: str) -> Callable[[list[str], Format], str]:
    return lambda args, fmt: f"{args[0]} {symbol} {args[1]}"


def _function(name: str) -> Callable[[list[str], Format], str]:
    return lambda args, fmt: f"{name}{fmt.function_suffix}({', '.join(args)})"


# Real operations: rule(args, format) -> C expression in that format.
RULES: dict[str, Callable[[list[str], Format], str]] = {
    **{name: _infix(spec.c_symbol) for name, spec in OPS.items()
       if spec.kind == "arith" and spec.arity == 2 and spec.c_symbol},
    **{name: _function(spec.c_function) for name, spec in OPS.items()
       if spec.kind == "arith" and spec.c_function},
    "neg": lambda args, fmt: f"-{args[0]}",
}


class NativeDialect:
    """Real values as C variables of hardware formats."""

    def __init__(self, kernel: Kernel, site_formats: Sequence[Format], widths: Widths,
                 groups: dict[int, int]) -> None:
        self.site_formats = site_formats
        self.widths = widths
        self.groups = groups
        self.base = kernel_format(kernel.precision)
        self.temps: dict[int, Format] = {}

    def format_of(self, atom: Atom) -> Format:
        if isinstance(atom, Lit):
            return self.base
        if atom.shape:
            return covering(self.widths.groups[self.groups[id(atom)]])
        return self.temps.get(id(atom)) or covering(self.widths.scalars[id(atom)])

    def convert(self, walker: Walker, atom: Atom, fmt: Format, literal_bits: int) -> str:
        """`atom` in `fmt`: a literal rounded at `literal_bits`, a value cast if needed."""
        if isinstance(atom, Lit):
            return f"{hex_literal(atom.text, literal_bits, fmt)} /* {atom.text} */"
        name = walker.name(atom)
        return name if self.format_of(atom) == fmt else f"({fmt.c_type}) {name}"

    def define(self, walker: Walker, var: Var, expr: str) -> None:
        name = walker.define(var)
        walker.emit(f"const {self.format_of(var).c_type} {name} = {expr};")
        if not walker.is_used(var):
            walker.emit(f"(void) {name};")

    # -- the walker's Dialect protocol ------------------------------------------------------
    def note(self, site: int) -> str:
        return f"{self.site_formats[site].bits} bits"

    def arith(self, walker: Walker, eqn: Eqn) -> None:
        if eqn.op == "itof":
            self.define(walker, eqn.out, f"({self.base.c_type}) {walker.int_ref(eqn.args[0])}")
            return
        if eqn.site is not None:
            fmt, literal_bits = self.site_formats[eqn.site], self.site_formats[eqn.site].bits
        else:
            fmt, literal_bits = self.format_of(eqn.out), self.base.bits
        args = [self.convert(walker, a, fmt, literal_bits) for a in eqn.args]
        self.define(walker, eqn.out, RULES[eqn.op](args, fmt))

    def compare(self, walker: Walker, eqn: Eqn) -> str:
        fmt = max((self.format_of(a) for a in eqn.args), key=lambda f: f.bits)
        left, right = (self.convert(walker, a, fmt, self.base.bits) for a in eqn.args)
        return f"({left} {eqn.spec.c_symbol} {right})"

    def load(self, walker: Walker, eqn: Eqn, array: str, index: str) -> None:
        self.define(walker, eqn.out, f"{array}[{index}]")

    def store(self, walker: Walker, eqn: Eqn, array: str, index: str) -> None:
        value = self.convert(walker, eqn.args[-1], self.format_of(eqn.args[0]), self.base.bits)
        walker.emit(f"{array}[{index}] = {value};")

    def zeros(self, walker: Walker, eqn: Eqn) -> str:
        name = walker.fresh(eqn.out.hint)
        walker.emit(f"{self.format_of(eqn.out).c_type} {name}[{eqn.out.size}];")
        walker.emit(f"for (int pc_k = 0; pc_k < {eqn.out.size}; pc_k++) {name}[pc_k] = 0;")
        return name

    def declare(self, walker: Walker, var: Var) -> None:
        walker.emit(f"{self.format_of(var).c_type} {walker.define(var)};")

    def assign(self, walker: Walker, target: Var, source: Atom) -> None:
        value = self.convert(walker, source, self.format_of(target), self.base.bits)
        walker.emit(f"{walker.name(target)} = {value};")

    def temp(self, walker: Walker, temp: Var, source: Var) -> None:
        self.temps[id(temp)] = self.format_of(source)
        walker.emit(f"const {self.temps[id(temp)].c_type} {walker.define(temp)} = "
                    f"{walker.name(source)};")


def emit_native(kernel: Kernel, site_formats: Sequence[Format],
                header_lines: Sequence[str]) -> str:
    """C source of the native tuned kernel; `header_lines` go into the leading comment."""
    formats = list(site_formats)
    if len(formats) != len(kernel.sites):
        raise ValueError(f"{len(formats)} formats for {len(kernel.sites)} sites")
    base = kernel_format(kernel.precision)
    rule = Precisions(tuple(f.bits for f in formats), base.bits, input_bits=base.bits,
                      int_bits=base.bits)
    groups = array_groups(kernel)
    widths = compute_widths(kernel, groups, rule)
    dialect = NativeDialect(kernel, formats, widths, groups)
    walker = Walker(kernel, dialect, groups)
    prologue: list[str] = []
    for param, var in zip(kernel.params, kernel.body.params, strict=True):
        if not var.shape:
            walker.names[id(var)] = param.name
            if not walker.is_used(var):
                prologue.append(f"(void) {param.name};")
            continue
        kind = "in" if isinstance(param, Input) else "out"
        name = walker.reserve(f"pc_{kind}_{param.name}")
        walker.storage[groups[id(var)]] = name
        fmt = dialect.format_of(var)
        prologue.append(f"{fmt.c_type} {name}[{var.size}];")
        value = f"({fmt.c_type}) {flat_pointer(param.name, var, base.c_type, True)}[pc_k]" \
            if kind == "in" else "0"
        prologue.append(f"for (int pc_k = 0; pc_k < {var.size}; pc_k++) {name}[pc_k] = {value};")
    walker.run()
    epilogue: list[str] = []
    results = list(kernel.body.results)
    returned = dialect.convert(walker, results.pop(0), base, base.bits) \
        if kernel.returns else None
    for out, result in zip(kernel.outputs, results, strict=True):
        var = kernel.body.params[kernel.params.index(out)]
        epilogue.append(f"for (int pc_k = 0; pc_k < {out.size}; pc_k++) "
                        f"{flat_pointer(out.name, var, base.c_type, False)}[pc_k] = "
                        f"({base.c_type}) {walker.array(result)}[pc_k];")
    if returned is not None:
        epilogue.append(f"return {returned};")
    includes = ["#include <math.h>"]
    if FLOAT128 in formats:
        includes.append("#include <quadmath.h>")
    lines = ["/*", *(f" * {line}".rstrip() for line in header_lines), " */",
             *includes, "", *BRANCH_GUARD, "", signature(kernel), "{",
             *(f"    {line}" for line in prologue), *walker.lines,
             *(f"    {line}" for line in epilogue), "}", ""]
    return "\n".join(lines)

