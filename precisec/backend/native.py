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
values in the widest format they receive, so those copies never round
(`precisec.backend.casts`). Each conversion is one named `const` temporary written right
after the value it converts (for a loop-carried value, at the top of each iteration), so
the casts in the file are exactly the ones `NativeTypes` counts for the tuner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from precisec.backend.casts import NativeTypes
from precisec.backend.cwalk import Walker, flat_pointer
from precisec.backend.formats import FLOAT128, Format, hex_literal
from precisec.backend.mpfr import BRANCH_GUARD
from precisec.backend.storage import array_groups
from precisec.ir.core import Atom, Cond, Eqn, Input, Kernel, Lit, Loop, Region, Var, While
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
    "copy": lambda args, fmt: args[0],
}


# Suffixes of cast temporaries' names, by format.
CAST_SUFFIX = {"float": "f", "double": "d", "long double": "ld", "_Float128": "q"}


class NativeDialect:
    """Real values as C variables of hardware formats."""

    def __init__(self, types: NativeTypes) -> None:
        self.types = types
        self.site_formats = types.site_formats
        self.base = types.base
        self.temps: dict[int, Var] = {}
        self.cast_names: dict[tuple[int, str], str] = {}

    def format_of(self, atom: Atom) -> Format:
        return self.types.format_of(self.temps.get(id(atom), atom))

    def convert(self, walker: Walker, atom: Atom, fmt: Format, literal_bits: int) -> str:
        """`atom` in `fmt`: a literal rounded at `literal_bits`, a value or its cast."""
        if isinstance(atom, Lit):
            return f"{hex_literal(atom.text, literal_bits, fmt)} /* {atom.text} */"
        if self.format_of(atom) == fmt:
            return walker.name(atom)
        return self.cast_names[(id(self.temps.get(id(atom), atom)), fmt.name)]

    def casts(self, walker: Walker, var: Var) -> None:
        """The cast temporaries of a value, right where it is defined."""
        for cast in self.types.casts_of(var):
            name = walker.fresh(f"{var.hint}_{CAST_SUFFIX[cast.fmt.name]}")
            self.cast_names[(id(var), cast.fmt.name)] = name
            walker.emit(f"const {cast.fmt.c_type} {name} = ({cast.fmt.c_type}) "
                        f"{walker.name(var)};")

    def define(self, walker: Walker, var: Var, expr: str) -> None:
        name = walker.define(var)
        walker.emit(f"const {self.format_of(var).c_type} {name} = {expr};")
        if not walker.is_used(var):
            walker.emit(f"(void) {name};")
        self.casts(walker, var)

    # -- the walker's Dialect protocol ------------------------------------------------------
    def note(self, site: int) -> str:
        return f"{self.site_formats[site].bits} bits"

    def arith(self, walker: Walker, eqn: Eqn) -> None:
        if eqn.op == "itof":
            self.define(walker, eqn.out, f"({self.base.c_type}) {walker.int_ref(eqn.args[0])}")
            return
        fmt = self.types.site_format(eqn)
        literal_bits = fmt.bits if eqn.site is not None else self.base.bits
        args = [self.convert(walker, a, fmt, literal_bits) for a in eqn.args]
        self.define(walker, eqn.out, RULES[eqn.op](args, fmt))

    def compare(self, walker: Walker, eqn: Eqn) -> str:
        fmt = self.types.compare_format(eqn)
        left, right = (self.convert(walker, a, fmt, self.base.bits) for a in eqn.args)
        return f"({left} {eqn.spec.c_symbol} {right})"

    def load(self, walker: Walker, eqn: Eqn, array: str, index: str) -> None:
        self.define(walker, eqn.out, f"{array}[{index}]")

    def store(self, walker: Walker, eqn: Eqn, array: str, index: str) -> None:
        value = self.convert(walker, eqn.args[-1], self.format_of(eqn.args[0]), self.base.bits)
        walker.emit(f"{array}[{index}] = {value};")

    def zeros(self, walker: Walker, eqn: Eqn) -> str:
        name = walker.fresh(eqn.out.hint)
        # (void): an array only ever stored into is still not an unused variable
        walker.emit(f"{self.format_of(eqn.out).c_type} {name}[{eqn.out.size}]; (void) {name};")
        walker.emit(f"for (int pc_k = 0; pc_k < {eqn.out.size}; pc_k++) {name}[pc_k] = 0;")
        return name

    def declare(self, walker: Walker, var: Var) -> None:
        walker.emit(f"{self.format_of(var).c_type} {walker.define(var)};")

    def assign(self, walker: Walker, target: Var, source: Atom) -> None:
        value = self.convert(walker, source, self.format_of(target), self.base.bits)
        walker.emit(f"{walker.name(target)} = {value};")

    def temp(self, walker: Walker, temp: Var, source: Var) -> None:
        """A copy of a carried value; its casts are the source's (emitted at the top of the
        iteration, when the source already had the value the copy keeps)."""
        self.temps[id(temp)] = source
        walker.emit(f"const {self.format_of(source).c_type} {walker.define(temp)} = "
                    f"{walker.name(source)};")


class NativeWalker(Walker):
    """The shared walker, writing cast temporaries of loop-carried, loop-final and merged
    values where they take their value."""

    def __init__(self, kernel: Kernel, dialect: NativeDialect, groups: dict[int, int]) -> None:
        super().__init__(kernel, dialect, groups)
        self.native = dialect

    def region(self, region: Region) -> None:
        for param in region.params:
            self.native.casts(self, param)
        super().region(region)

    def loop(self, loop: Loop) -> None:
        super().loop(loop)
        for out in loop.outs:
            self.native.casts(self, out)

    def while_loop(self, loop: While) -> None:
        super().while_loop(loop)
        for out in loop.outs:
            self.native.casts(self, out)

    def cond(self, cond: Cond) -> None:
        super().cond(cond)
        for out in cond.outs:
            self.native.casts(self, out)


def emit_native(kernel: Kernel, site_formats: Sequence[Format],
                header_lines: Sequence[str]) -> str:
    """C source of the native tuned kernel; `header_lines` go into the leading comment."""
    formats = list(site_formats)
    groups = array_groups(kernel)
    types = NativeTypes(kernel, formats, groups)
    base = types.base
    dialect = NativeDialect(types)
    walker = NativeWalker(kernel, dialect, groups)
    prologue: list[str] = []
    for param, var in zip(kernel.params, kernel.body.params, strict=True):
        if not var.shape:
            walker.names[id(var)] = param.name
            if not walker.is_used(var):
                prologue.append(f"(void) {param.name};")
            dialect.casts(walker, var)
            continue
        kind = "in" if isinstance(param, Input) else "out"
        name = walker.reserve(f"pc_{kind}_{param.name}")
        walker.storage[groups[id(var)]] = name
        fmt = dialect.format_of(var)
        prologue.append(f"{fmt.c_type} {name}[{var.size}]; (void) {name};")
        value = "0"
        if kind == "in":
            value = f"{flat_pointer(param.name, var, base.c_type, True)}[pc_k]"
            value = value if fmt == base else f"({fmt.c_type}) {value}"
        prologue.append(f"for (int pc_k = 0; pc_k < {var.size}; pc_k++) {name}[pc_k] = {value};")
    walker.run()
    epilogue: list[str] = []
    results = list(kernel.body.results)
    returned = dialect.convert(walker, results.pop(0), base, base.bits) \
        if kernel.returns else None
    for out, result in zip(kernel.outputs, results, strict=True):
        var = kernel.body.params[kernel.params.index(out)]
        element = f"{walker.array(result)}[pc_k]"
        element = element if dialect.format_of(result) == base else \
            f"({base.c_type}) {element}"
        epilogue.append(f"for (int pc_k = 0; pc_k < {out.size}; pc_k++) "
                        f"{flat_pointer(out.name, var, base.c_type, False)}[pc_k] = {element};")
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
