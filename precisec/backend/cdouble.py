"""The double dialect of the C walker: emulation of ≤ 53-bit sites with IEEE doubles, bit
for bit what MPFR computes, for the compiled evaluator's fast path (docs/method.md §5).

Every value of an emulation whose sites all have 2..53 bits fits a double exactly, as long
as it stays in the range where doubles are exact ([2^-900, 2^900], or zero). There a site
+ − × ÷ √ is computed as the double nearest the exact result plus the sign of the
remainder (an error-free transformation: TwoSum, Dekker's product, the division and square
root remainders), and rounded to the site's p bits by integer arithmetic on the double's
bits (ties to even; a tie of the double is broken by the remainder's sign). Exact
operations are exact in doubles; other operations go through MPFR at the site's precision
on exactly converted arguments. Any value outside the safe range sets the unsafe flag, and
the evaluator recomputes that sample with the MPFR kernel, so the results never depend
on which path ran.
"""

from __future__ import annotations

from collections.abc import Callable

from precisec.backend.cwalk import Walker
from precisec.backend.mpfr import RULES
from precisec.ir.core import Atom, Eqn, Lit, Var

# The rounding helpers. Each reports an unsafe value by or-ing 1 into `*bad`, never
# testing it on the way: a tuned file passes a local flag (kept in a register once the
# helpers are inlined, and thread-safe), the evaluator its static `pc_unsafe`.
ROUNDING_C = """\
static inline double pc_safe_at(double r, int *bad)
{
    uint64_t u;
    memcpy(&u, &r, sizeof u);
    const uint64_t x = u << 1;  /* |r| in order: 2^-900 is 0x0F6 << 52, 2^900 0xFD6 << 52 */
    *bad |= (x - UINT64_C(0x0F60000000000000) > UINT64_C(0xE100000000000000)) & (x != 0);
    return r;
}

/* hi rounded to p bits, to nearest even; `lo` is zero or has the sign of (exact - hi).
   Branch-free on the bits of hi: adding half an ulp minus one, plus a tie bit, carries
   into the kept bits exactly when the exact value rounds up. Below or above the midpoint
   the tie bit cannot change the carry; at a midpoint of hi it is 1 if the exact value
   lies beyond hi (lo has hi's sign), 0 if before, and the kept last bit if hi is exact
   (ties to even). A carry out of the significand steps the exponent, as it should. */
static inline double pc_round_d(double hi, double lo, int p)
{
    if (p >= 53) return hi;
    uint64_t u, l;
    memcpy(&u, &hi, sizeof u);
    memcpy(&l, &lo, sizeof l);
    const int shift = 53 - p;
    const uint64_t one = UINT64_C(1) << shift;
    const uint64_t exact = (l << 1) == 0, beyond = ((l ^ u) >> 63) == 0;
    const uint64_t tie = beyond ^ ((beyond ^ (u >> shift)) & 1 & (0 - exact));
    u = (u + (one >> 1) - 1 + tie) & ~(one - 1);
    memcpy(&hi, &u, sizeof u);
    return hi;
}

/* The exact product a*b = *h + *l (no overflow, no underflow): one fused multiply-add
   where the hardware has it, else Dekker's product (gcc contracts a*b+c into an fma only
   where the hardware has one, so Dekker's product is never contracted). */
static inline void pc_two_product(double a, double b, double *h, double *l)
{
#ifdef __FP_FAST_FMA
    *h = a * b;
    *l = fma(a, b, -*h);
#else
    const double ca = 134217729.0 * a, ah = ca - (ca - a), al = a - ah;
    const double cb = 134217729.0 * b, bh = cb - (cb - b), bl = b - bh;
    *h = a * b;
    *l = ((ah * bh - *h) + ah * bl + al * bh) + al * bl;
#endif
}

static inline double pc_add_d(double a, double b, int p, int *bad)
{
    const double s = a + b;
    if (p >= 53) return pc_safe_at(s, bad);
    const double bb = s - a, e = (a - (s - bb)) + (b - bb);
    return pc_safe_at(pc_round_d(s, e, p), bad);
}

static inline double pc_mul_d(double a, double b, int p, int *bad)
{
    double h, l;
    if (p >= 53) return pc_safe_at(a * b, bad);
    pc_two_product(a, b, &h, &l);
    return pc_safe_at(pc_round_d(h, l, p), bad);
}

static inline double pc_div_d(double a, double b, int p, int *bad)
{
    const double q = a / b;
    double h, l;
    if (p >= 53 || q == 0.0) return pc_safe_at(q, bad);
    pc_two_product(q, b, &h, &l);
    const double r = (a - h) - l;
    return pc_safe_at(pc_round_d(q, b > 0 ? r : -r, p), bad);
}

static inline double pc_sqrt_d(double a, int p, int *bad)
{
    const double s = sqrt(a);
    double h, l;
    if (p >= 53 || s == 0.0) return pc_safe_at(s, bad);
    pc_two_product(s, s, &h, &l);
    return pc_safe_at(pc_round_d(s, (a - h) - l, p), bad);
}

/* mpfr_min and mpfr_max: NaN loses, -0 < +0. */
static inline double pc_min_d(double a, double b)
{
    if (isnan(a)) return b;
    if (isnan(b) || a == b) return (isnan(b) || signbit(a)) ? a : b;
    return a < b ? a : b;
}

static inline double pc_max_d(double a, double b)
{
    if (isnan(a)) return b;
    if (isnan(b) || a == b) return (isnan(b) || !signbit(a)) ? a : b;
    return a > b ? a : b;
}

static inline double pc_itof_d(long i, int *bad)
{
    *bad |= i > (1L << 53) || i < -(1L << 53);
    return (double) i;
}

/* x as a double; unsafe unless the double is x itself, in the safe range. */
static inline double pc_from_mpfr_at(mpfr_srcptr x, int *bad)
{
    *bad |= !mpfr_zero_p(x) && (!mpfr_regular_p(x) || mpfr_get_exp(x) < -899
                                || mpfr_get_exp(x) > 900 || mpfr_min_prec(x) > 53);
    return mpfr_get_d(x, MPFR_RNDN);
}
"""
INCLUDES_C = "#include <float.h>\n#include <math.h>\n#include <stdint.h>\n#include <string.h>\n"
# The evaluator's helpers: its flag, and the two helpers it calls itself.
HELPERS_C = f"""{INCLUDES_C}static int pc_unsafe;

{ROUNDING_C}
static inline double pc_safe(double r) {{ return pc_safe_at(r, &pc_unsafe); }}

static inline double pc_from_mpfr(mpfr_srcptr x) {{ return pc_from_mpfr_at(x, &pc_unsafe); }}
"""


def _call(name: str) -> Callable[[list[str], str, str], str]:
    return lambda args, bits, flag: f"{name}({', '.join(args)}, {bits}, {flag})"


# Sites computed in doubles: rule(args, bits expression, flag pointer) -> C expression.
FAST: dict[str, Callable[[list[str], str, str], str]] = {
    "add": _call("pc_add_d"),
    "sub": lambda args, bits, flag: f"pc_add_d({args[0]}, -{args[1]}, {bits}, {flag})",
    "mul": _call("pc_mul_d"),
    "div": _call("pc_div_d"),
    "sqrt": _call("pc_sqrt_d"),
}

# Exact operations: rule(args) -> C expression.
EXACT: dict[str, Callable[[list[str]], str]] = {
    "neg": lambda args: f"-{args[0]}",
    "fabs": lambda args: f"fabs({args[0]})",
    "copy": lambda args: args[0],
    "fmin": lambda args: f"pc_min_d({args[0]}, {args[1]})",
    "fmax": lambda args: f"pc_max_d({args[0]}, {args[1]})",
}


class DoubleDialect:
    """Real values as C doubles. Site s rounds at `pc_bits[s]`; literal k is `pc_lit[k]`,
    set by the evaluator at the precision `literals` records; other operations use the
    MPFR rule table through `pc_fres[s]` (at the site's bits) and `pc_farg[0..2]`.
    The fast backend (`precisec.backend.fast`) overrides the methods that say where bits,
    literals and MPFR scratch come from."""

    # Where the helpers report an unsafe value.
    flag = "&pc_unsafe"

    def __init__(self) -> None:
        self.literals: dict[tuple[str, int | None], str] = {}

    def literal(self, text: str, site: int | None) -> str:
        if (text, site) not in self.literals:
            self.literals[text, site] = f"pc_lit[{len(self.literals)}]"
        return self.literals[text, site]

    def ref(self, walker: Walker, atom: Atom, site: int | None = None) -> str:
        if isinstance(atom, Lit):
            return self.literal(atom.text, site)
        return walker.name(atom)

    def define(self, walker: Walker, var: Var, expr: str) -> None:
        walker.emit(f"const double {walker.define(var)} = {expr};")

    def bits(self, site: int) -> str:
        """A site's precision as a C expression."""
        return f"pc_bits[{site}]"

    def in_doubles(self, eqn: Eqn) -> bool:
        """Whether a site is computed by the double rules (`FAST`)."""
        return eqn.op in FAST

    def argument(self, walker: Walker, eqn: Eqn, atom: Atom) -> str:
        """A site's argument: a literal at the site's bits, a value rounded to them first
        if the emulation rounds arguments."""
        assert eqn.site is not None
        if isinstance(atom, Lit):
            return self.ref(walker, atom, eqn.site)
        name, bits = walker.name(atom), self.bits(eqn.site)
        return f"(pc_round_arguments ? pc_round_d({name}, 0.0, {bits}) : {name})"

    def through_mpfr(self, walker: Walker, eqn: Eqn) -> None:
        """A site that MPFR computes, on exactly converted arguments, at the site's bits."""
        assert eqn.site is not None
        for k, atom in enumerate(eqn.args):
            walker.emit(f"mpfr_set_d(pc_farg[{k}], {self.argument(walker, eqn, atom)}, "
                        "MPFR_RNDN);")
        result = f"pc_fres[{eqn.site}]"
        walker.emit(RULES[eqn.op](result, [f"pc_farg[{k}]" for k in range(len(eqn.args))]))
        self.define(walker, eqn.out, f"pc_from_mpfr_at({result}, {self.flag})")

    # -- the walker's Dialect protocol ------------------------------------------------------
    def note(self, site: int) -> str:
        return f"site {site}"

    def arith(self, walker: Walker, eqn: Eqn) -> None:
        if eqn.op == "itof":
            self.define(walker, eqn.out,
                        f"pc_itof_d({walker.int_ref(eqn.args[0])}, {self.flag})")
            return
        if eqn.site is None:
            self.define(walker, eqn.out, EXACT[eqn.op]([self.ref(walker, a) for a in eqn.args]))
            return
        if self.in_doubles(eqn):
            args = [self.argument(walker, eqn, a) for a in eqn.args]
            self.define(walker, eqn.out, FAST[eqn.op](args, self.bits(eqn.site), self.flag))
            return
        self.through_mpfr(walker, eqn)

    def compare(self, walker: Walker, eqn: Eqn) -> str:
        left, right = (self.ref(walker, a) for a in eqn.args)
        return f"({left} {eqn.spec.c_symbol} {right})"

    def load(self, walker: Walker, eqn: Eqn, array: str, index: str) -> None:
        self.define(walker, eqn.out, f"{array}[{index}]")

    def store(self, walker: Walker, eqn: Eqn, array: str, index: str) -> None:
        walker.emit(f"{array}[{index}] = {self.ref(walker, eqn.args[-1])};")

    def zeros(self, walker: Walker, eqn: Eqn) -> str:
        name = walker.fresh(eqn.out.hint)
        walker.emit(f"double {name}[{eqn.out.size}];")
        walker.emit(f"for (int pc_k = 0; pc_k < {eqn.out.size}; pc_k++) {name}[pc_k] = 0.0;")
        return name

    def declare(self, walker: Walker, var: Var) -> None:
        walker.emit(f"double {walker.define(var)};")

    def assign(self, walker: Walker, target: Var, source: Atom) -> None:
        walker.emit(f"{walker.name(target)} = {self.ref(walker, source)};")

    def temp(self, walker: Walker, temp: Var, source: Var) -> None:
        self.define(walker, temp, walker.name(source))
