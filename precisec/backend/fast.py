"""The fast backend: the tuned kernel in plain C doubles, bit for bit the MPFR file
(docs/fast.md).

The body is the compiled evaluator's double kernel (`precisec.backend.cdouble`) with the
allocation written in: a site of p ≤ 53 bits computes + − × ÷ √ as the double nearest the
exact result plus the sign of the remainder (TwoSum, the fused or Dekker product, the
division and square-root residuals) and rounds it once to p bits, ties to even; exact
operations are exact in doubles; literals are hexadecimal doubles of the decimal rounded
by MPFR at the consuming site's bits. Other sites (math functions, and any site above 53
bits) call MPFR for that operation alone, on stack-allocated `mpfr_t`s
(`MPFR_DECL_INIT`), correctly rounded; a result that is not exactly a double is unsafe.

Every value is checked to stay where doubles are exact ([2^-900, 2^900] or zero, finite);
if one leaves it (overflow, underflow, NaN, an MPFR result wider than a double), the call
is recomputed by the MPFR kernel (`precisec.backend.mpfr.mpfr_function`), a static
function of the same file, before any output is written. So the file's results are the
MPFR file's in every case; only the time differs.
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2

from precisec.backend.cdouble import INCLUDES_C, ROUNDING_C, DoubleDialect, input_check
from precisec.backend.cwalk import Walker, flat_pointer
from precisec.backend.entry import DOUBLES, batchable
from precisec.backend.formats import DOUBLE, hex_literal
from precisec.backend.mpfr import BRANCH_GUARD, RULES, mpfr_function
from precisec.backend.storage import array_groups
from precisec.ir.core import Atom, Eqn, Input, Kernel, Lit, Var
from precisec.toolchain import signature

# The largest precision the double rules serve; above it a site goes through MPFR.
DOUBLE_BITS = 53
# Where every double is exact and every remainder of the double rules is too.
SAFE_EXPONENT = 900

# What `precisec check` recognises a fast file by.
FAST_MARK = "precisec fast backend:"
GUARDS_C = f"""\
#if FLT_EVAL_METHOD != 0
#error "{FAST_MARK} needs FLT_EVAL_METHOD == 0 (SSE2 doubles, no x87 excess precision)"
#endif
#ifdef __FAST_MATH__
#error "{FAST_MARK} -ffast-math breaks the error-free transformations"
#endif
#if defined(__GNUC__)
#define PC_INLINE __attribute__((always_inline))
#else
#define PC_INLINE
#endif
"""

FLOAT_OUT_C = """
/* A float result: unsafe outside float's normal range, where the conversion could
   differ from mpfr_get_flt's treatment of overflow and subnormals. */
static inline float pc_to_float(double v, int *bad)
{
    const double m = fabs(v);
    *bad |= v != 0.0 && !(m >= 0x1p-126 && m <= 0x1.fffffep127);
    return (float) v;
}
"""


class FastDialect(DoubleDialect):
    """The double dialect at fixed bits: constant precisions, hexadecimal literals, MPFR
    scratch on the stack, the function's local flag `pc_bad`. `unsafe_literal` is set if
    a literal lies outside the safe range (then every call takes the MPFR kernel)."""

    flag = "&pc_bad"
    literals_in_range = True  # else `unsafe_literal` flags every call

    def __init__(self, site_bits: Sequence[int], literal_bits: int) -> None:
        super().__init__()
        self.site_bits = list(site_bits)
        self.literal_bits = literal_bits
        self.unsafe_literal = False

    def literal(self, text: str, site: int | None) -> str:
        bits = self.literal_bits if site is None else min(self.site_bits[site], DOUBLE_BITS)
        value = gmpy2.mpfr(text, bits)
        if value != 0 and not (2.0**-SAFE_EXPONENT <= abs(value) <= 2.0**SAFE_EXPONENT):
            self.unsafe_literal = True
        return hex_literal(text, bits, DOUBLE)

    def define(self, walker: Walker, var: Var, expr: str) -> None:
        super().define(walker, var, expr)
        if not walker.is_used(var):
            walker.emit(f"(void) {walker.name(var)};")

    def bits(self, site: int) -> str:
        return str(self.site_bits[site])

    def in_doubles(self, eqn: Eqn) -> bool:
        assert eqn.site is not None
        return super().in_doubles(eqn) and self.site_bits[eqn.site] <= DOUBLE_BITS

    def argument(self, walker: Walker, eqn: Eqn, atom: Atom) -> str:
        return self.ref(walker, atom, eqn.site)

    def through_mpfr(self, walker: Walker, eqn: Eqn) -> None:
        """One MPFR operation on stack `mpfr_t`s: a literal argument set from its decimal
        at the site's bits (as the MPFR file sets it), a double exactly at 53."""
        assert eqn.site is not None
        bits = self.site_bits[eqn.site]
        name = walker.define(eqn.out)
        walker.emit(f"double {name};")
        walker.emit("{")
        walker.depth += 1
        walker.emit(f"MPFR_DECL_INIT(pc_r, {bits});")
        for k, atom in enumerate(eqn.args):
            if isinstance(atom, Lit):
                walker.emit(f"MPFR_DECL_INIT(pc_a{k}, {bits});")
                walker.emit(f'mpfr_set_str(pc_a{k}, "{atom.text}", 10, MPFR_RNDN);')
            else:
                walker.emit(f"MPFR_DECL_INIT(pc_a{k}, {DOUBLE_BITS});")
                walker.emit(f"mpfr_set_d(pc_a{k}, {walker.name(atom)}, MPFR_RNDN);")
        walker.emit(RULES[eqn.op]("pc_r", [f"pc_a{k}" for k in range(len(eqn.args))]))
        walker.emit(f"{name} = pc_from_mpfr_at(pc_r, {self.flag});")
        walker.depth -= 1
        walker.emit("}")
        if not walker.is_used(eqn.out):
            walker.emit(f"(void) {name};")

    def note(self, site: int) -> str:
        how = "in doubles" if self.site_bits[site] <= DOUBLE_BITS else "through MPFR"
        return f"{self.site_bits[site]} bits {how}"


def _fast_function(kernel: Kernel, site_bits: Sequence[int]) -> list[str]:
    """The kernel's own function: the double body, the MPFR kernel if a value was unsafe,
    then the outputs."""
    groups = array_groups(kernel)
    dialect = FastDialect(site_bits, kernel.baseline_bits)
    walker = Walker(kernel, dialect, groups)
    ctype = kernel.precision
    prologue: list[str] = []
    args: list[str] = []
    for param, var in zip(kernel.params, kernel.body.params, strict=True):
        args.append(param.name)
        if not var.shape:
            walker.names[id(var)] = walker.reserve(param.name)
            prologue += input_check(kernel.body, var, site_bits,
                                    f"pc_safe_at({param.name}, &pc_bad);")
            continue
        kind = "in" if isinstance(param, Input) else "out"
        name = walker.reserve(f"pc_{kind}_{param.name}")
        walker.storage[groups[id(var)]] = name
        value = f"pc_safe_at({flat_pointer(param.name, var, ctype, True)}[pc_k], &pc_bad)" \
            if kind == "in" else "0.0"
        prologue += [f"double {name}[{var.size}]; (void) {name};",
                     f"for (int pc_k = 0; pc_k < {var.size}; pc_k++) {name}[pc_k] = {value};"]
    walker.run()
    results = list(kernel.body.results)
    finals: list[str] = []
    if kernel.returns:
        value = dialect.ref(walker, results.pop(0))
        value = f"pc_to_float({value}, &pc_bad)" if ctype == "float" else value
        finals.append(f"const {ctype} pc_result = {value};")
    writes: list[str] = []
    for out, result in zip(kernel.outputs, results, strict=True):
        var = kernel.body.params[kernel.params.index(out)]
        element = f"{walker.array(result)}[pc_k]"
        if ctype == "float":
            finals.append(f"for (int pc_k = 0; pc_k < {out.size}; pc_k++) "
                          f"(void) pc_to_float({element}, &pc_bad);")
        writes.append(f"for (int pc_k = 0; pc_k < {out.size}; pc_k++) "
                      f"{flat_pointer(out.name, var, ctype, False)}[pc_k] = "
                      f"({ctype}) {element};")
    hashed = kernel.n_branches > 0
    fallback = f"pc_mpfr_{kernel.name}({', '.join(args)})"
    start = ["#ifdef PC_HASH_START", "const uint64_t pc_hash = pc_branch_hash;", "#endif"]
    restore = ["#ifdef PC_HASH_START", "    pc_branch_hash = pc_hash;", "#endif"]
    flag = f"int pc_bad = {int(dialect.unsafe_literal)};"
    if batchable(kernel):
        # the double kernel on its own, without a call in it, so that a caller's loop
        # (NAME_batch, an inlined map) can be vectorised
        own = signature(kernel)
        params = own[own.index("(") + 1:-1]
        params = "" if params == "void" else f"{params}, "
        doubles = [f"static inline PC_INLINE {ctype} {DOUBLES}{kernel.name}"
                   f"({params}int *pc_unsafe)",
                   "{", f"    {flag}", *(f"    {line}" for line in prologue), *walker.lines,
                   *(f"    {line}" for line in finals), "    *pc_unsafe = pc_bad;",
                   "    return pc_result;", "}", ""]
        call = f"{DOUBLES}{kernel.name}({', '.join([*args, '&pc_bad'])})"
        body = ["int pc_bad;", *(start if hashed else []),
                f"const {ctype} pc_result = {call};", "if (pc_bad) {",
                *(restore if hashed else []), f"    return {fallback};", "}",
                "return pc_result;"]
        return [*doubles, own, "{", *(f"    {line}" for line in body), "}", ""]
    lines = [flag, *(start if hashed else []), *prologue]
    tail = [*finals, "if (pc_bad) {", *(restore if hashed else []),
            f"    {'return ' if kernel.returns else ''}{fallback};",
            *([] if kernel.returns else ["    return;"]), "}", *writes,
            *(["return pc_result;"] if kernel.returns else [])]
    return [signature(kernel), "{", *(f"    {line}" for line in lines), *walker.lines,
            *(f"    {line}" for line in tail), "}", ""]


def emit_fast(kernel: Kernel, site_bits: Sequence[int], header_lines: Sequence[str]) -> str:
    """C source of the fast tuned kernel; `header_lines` go into the leading comment."""
    bits = [int(b) for b in site_bits]
    declarator = "static " + signature(kernel).replace(
        f" {kernel.name}(", f" pc_mpfr_{kernel.name}(", 1)
    lines = ["/*", *(f" * {line}".rstrip() for line in header_lines), " */",
             INCLUDES_C + "#include <mpfr.h>", "", *BRANCH_GUARD, "", GUARDS_C, ROUNDING_C,
             *([FLOAT_OUT_C] if kernel.precision == "float" else []),
             "/* The MPFR kernel: the same results wherever a value leaves the safe range. */",
             *mpfr_function(kernel, bits, declarator), *_fast_function(kernel, bits)]
    return "\n".join(lines)
