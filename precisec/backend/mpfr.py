"""The MPFR backend: the tuned kernel as C with one `mpfr_t` per value (docs/method.md,
Backend).

The file defines the kernel's own function (same name, parameter order, `const` input
arrays, output arrays, double or float). Its structure is the IR's, written by the shared
walker (`precisec.semantics.cwalk`) in the MPFR dialect (`precisec.semantics.cmpfr`):
loops stay loops, branches stay branches. Every `mpfr_t` is initialised once at the top,
before any loop, and cleared at the end:

* a site's value at the site's bits, with a comment `/* line:col op, N bits */` (what
  `precisec check` reads the mean bits from);
* inputs exactly: `mpfr_set_d` at 53 bits (`mpfr_set_flt` at 24 for a float kernel);
* a literal from its decimal text, set once, at its consuming site's bits, or at the
  kernel type's precision where no rounding operation consumes it;
* merged, carried and array values, and exact operations, as wide as anything they
  receive, so copies never round;
* results through `mpfr_get_d` (`mpfr_get_flt`) to nearest; output arrays written back.

Every branch goes through `PRECISEC_BRANCH(b, cond)`, `(cond)` unless the verification
build defines it (`precisec.toolchain.run_tuned`).
"""

from __future__ import annotations

from collections.abc import Sequence

from precisec.ir.core import Input, Kernel, Var
from precisec.semantics.cmpfr import MpfrDialect, clears, declarations, initialisations
from precisec.semantics.cwalk import Precisions, Walker, array_groups, compute_widths
from precisec.toolchain import signature

BRANCH_GUARD = ("#ifndef PRECISEC_BRANCH", "#define PRECISEC_BRANCH(b, c) (c)", "#endif")


def emit_mpfr(kernel: Kernel, site_bits: Sequence[int], header_lines: Sequence[str]) -> str:
    """C source of the tuned kernel; `header_lines` go into the leading comment."""
    bits = [int(b) for b in site_bits]
    rule = Precisions.emulation(kernel, bits)
    rule = Precisions(rule.site_bits, rule.literal_bits, input_bits=kernel.baseline_bits)
    groups = array_groups(kernel)
    widths = compute_widths(kernel, groups, rule)
    dialect = MpfrDialect(lambda site: f"{bits[site]} bits")
    walker = Walker(kernel, dialect, groups)
    ctype = kernel.precision
    suffix = "flt" if ctype == "float" else "d"
    prologue: list[str] = []
    for param, var in zip(kernel.params, kernel.body.params, strict=True):
        kind = "in" if isinstance(param, Input) else "out"
        name = walker.reserve(f"pc_{kind}_{param.name}")
        if not var.shape:
            walker.names[id(var)] = dialect.slot(name, ("var", id(var)))
            prologue.append(f"mpfr_set_{suffix}({name}, {param.name}, MPFR_RNDN);")
            continue
        walker.storage[groups[id(var)]] = dialect.slot(name, ("group", groups[id(var)]),
                                                       var.size)
        element = f"mpfr_set_{suffix}({name}[pc_k], {_flat(param.name, var, ctype, True)}" \
                  "[pc_k], MPFR_RNDN);" if kind == "in" else f"mpfr_set_zero({name}[pc_k], 1);"
        prologue.append(f"for (int pc_k = 0; pc_k < {var.size}; pc_k++) {element}")
    walker.run()
    epilogue: list[str] = []
    results = list(kernel.body.results)
    if kernel.returns:
        value = dialect.ref(walker, results.pop(0))
        epilogue.append(f"{ctype} pc_result = mpfr_get_{suffix}({value}, MPFR_RNDN);")
    for out, result in zip(kernel.outputs, results, strict=True):
        var = kernel.body.params[kernel.params.index(out)]
        epilogue.append(f"for (int pc_k = 0; pc_k < {out.size}; pc_k++) "
                        f"{_flat(out.name, var, ctype, False)}[pc_k] = "
                        f"mpfr_get_{suffix}({walker.array(result)}[pc_k], MPFR_RNDN);")
    sets = [f'mpfr_set_str({name}, "{text}", 10, MPFR_RNDN);'
            for name, text in dialect.literal_texts()]
    inits = initialisations(dialect.slots, lambda _, slot: str(widths.bits(slot.key)))
    lines = ["/*", *(f" * {line}".rstrip() for line in header_lines), " */",
             "#include <mpfr.h>", "", *BRANCH_GUARD, "", signature(kernel), "{",
             *(f"    {line}" for line in (*declarations(dialect.slots), *inits, *sets,
                                          *prologue)),
             *walker.lines,
             *(f"    {line}" for line in (*epilogue, *clears(dialect.slots))),
             *(["    return pc_result;"] if kernel.returns else []), "}", ""]
    return "\n".join(lines)


def _flat(name: str, var: Var, ctype: str, const: bool) -> str:
    """A parameter array as a flat pointer (itself when one-dimensional)."""
    if len(var.shape) == 1:
        return name
    return f"(({'const ' if const else ''}{ctype} *) {name})"
