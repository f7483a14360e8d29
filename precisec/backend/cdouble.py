"""The double dialect of the C walker: emulation of ≤ 53-bit sites with IEEE doubles, bit
for bit what MPFR computes, for the compiled evaluator's fast path (docs/method.md §5).

Every value of an emulation whose sites all have 2..53 bits fits a double exactly, as long
as it stays in the range where doubles are exact ([2^-900, 2^900], or zero). There a site
+ − × ÷ √ is computed as the double nearest the exact result plus the sign of the
remainder (an error-free transformation: TwoSum, Dekker's product, the division and square
root remainders), and rounded to the site's p bits by Veltkamp's split, in floating-point
registers (ties to even; a double on a midpoint of the grid goes to the neighbour on the
remainder's side) (docs/fast.md, "The rounding and why it is exact"). Exact
operations are exact in doubles; other operations go through MPFR at the site's precision
on exactly converted arguments. Any value outside the safe range sets the unsafe flag, and
the evaluator recomputes that sample with the MPFR kernel, so the results never depend
on which path ran.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from precisec.backend.cwalk import Walker
from precisec.backend.mpfr import RULES
from precisec.ir.core import Atom, Cond, Eqn, Lit, Loop, Region, Var, While

# The rounding helpers. Each reports an unsafe value by or-ing 1 into `*bad`, never
# testing it on the way: a tuned file passes a local flag (kept in a register once the
# helpers are inlined, and thread-safe), the evaluator its static `pc_unsafe`.
ROUNDING_C = """\
static inline uint64_t pc_bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline double pc_of_bits(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#if defined(__GNUC__)
#define PC_RARE(c) __builtin_expect(!!(c), 0)
#else
#define PC_RARE(c) (c)
#endif

/* Flags the double of bits u unless it is in the safe range, or zero where `exact_zero`
   says a zero is exact (a product or quotient of tiny operands underflows to zero). The
   zero case is a branch, rarely taken, so `exact_zero` costs nothing otherwise. */
static inline void pc_check_bits(uint64_t u, int exact_zero, int *bad)
{
    const uint64_t x = u << 1;  /* |v| in order: 2^-900 is 0x0F6 << 52, 2^900 0xF06 << 52 */
    if (PC_RARE(x == 0)) *bad |= !exact_zero;
    else *bad |= x - UINT64_C(0x0F60000000000000) > UINT64_C(0xE100000000000000);
}

static inline double pc_safe_at(double r, int *bad)
{
    pc_check_bits(pc_bits_of(r), 1, bad);
    return r;
}

/* hi (bits u, in the safe range or zero) rounded to p < 53 bits, to nearest even, where
   `lo` is zero or has the sign of (exact - hi). Rounding hi alone is right unless hi is a
   midpoint of the p-bit grid and lo is not zero: then the exact value lies strictly
   between hi and the neighbour on lo's side, which is hi + copysign(half a grid step, lo).
   hi alone is rounded by Veltkamp's split, c = RN(hi (2^shift + 1)), c - (c - hi), in
   floating-point registers (one fused multiply-add forms c where the hardware has it, so
   nothing is left for the compiler to contract); the midpoint test is on the bits of hi,
   beside the rounding, not after it. */
static inline double pc_round_bits(double hi, uint64_t u, double lo, int p)
{
    const int shift = 53 - p;
    const double half = pc_of_bits((u & UINT64_C(0x7FF0000000000000)) - ((uint64_t) p << 52));
#ifdef __FP_FAST_FMA
    const double c = fma(hi, (double) (UINT64_C(1) << shift), hi);
#else
    const double c = hi * (double) ((UINT64_C(1) << shift) + 1);
#endif
    const double nearest = c - (c - hi);
    const int midpoint = (u & ((UINT64_C(1) << shift) - 1)) == UINT64_C(1) << (shift - 1);
    return midpoint & (lo != 0.0) ? hi + copysign(half, lo) : nearest;
}

/* hi rounded to p bits, to nearest even; `lo` is zero or has the sign of (exact - hi). */
static inline double pc_round_d(double hi, double lo, int p)
{
    return p >= 53 ? hi : pc_round_bits(hi, pc_bits_of(hi), lo, p);
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

/* Each rule checks the double nearest its exact result, hi: the p-bit result is in the
   safe range exactly when hi is (rounding is monotone and the bounds are p-bit numbers),
   save for hi just outside a bound that rounds onto it, which is flagged needlessly. */
/* a + b rounded to p bits, unchecked: for operands in the safe range, whose sum is zero or
   within [2^-952, 2^901] (a multiple of the smaller operand's ulp), where this rule and
   every rule taking the sum as an operand are still exact (docs/fast.md). */
static inline double pc_sum_d(double a, double b, int p)
{
    const double s = a + b;
    if (p >= 53) return s;
    const double bb = s - a, e = (a - (s - bb)) + (b - bb);
    return pc_round_bits(s, pc_bits_of(s), e, p);
}

static inline double pc_add_d(double a, double b, int p, int *bad)
{
    pc_check_bits(pc_bits_of(a + b), 1, bad);
    return pc_sum_d(a, b, p);
}

static inline double pc_mul_d(double a, double b, int p, int *bad)
{
    double h, l;
    pc_two_product(a, b, &h, &l);
    const uint64_t u = pc_bits_of(h);
    pc_check_bits(u, (a == 0.0) | (b == 0.0), bad);
    return p >= 53 ? h : pc_round_bits(h, u, l, p);
}

static inline double pc_div_d(double a, double b, int p, int *bad)
{
    const double q = a / b;
    const uint64_t u = pc_bits_of(q);
    double h, l;
    pc_check_bits(u, a == 0.0, bad);
    if (p >= 53 || q == 0.0) return q;
    pc_two_product(q, b, &h, &l);
    const double r = (a - h) - l;
    return pc_round_bits(q, u, b > 0 ? r : -r, p);
}

static inline double pc_sqrt_d(double a, int p, int *bad)
{
    const double s = sqrt(a);
    const uint64_t u = pc_bits_of(s);
    double h, l;
    pc_check_bits(u, 1, bad);
    if (p >= 53 || s == 0.0) return s;
    pc_two_product(s, s, &h, &l);
    return pc_round_bits(s, u, (a - h) - l, p);
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
# The double rules exact for any finite operands, their result's check deciding alone
# (TwoSum; the product whose remainder is one fused multiply-add), with the C macro they need.
ANY_OPERANDS: dict[str, str | None] = {"add": None, "sub": None, "mul": "__FP_FAST_FMA"}


def _references(region: Region) -> Iterator[tuple[Eqn | None, Atom]]:
    """Every use of an atom in a region and its sub-regions, with its equation if any."""
    for stmt in region.stmts:
        if isinstance(stmt, Eqn):
            yield from ((stmt, atom) for atom in stmt.args)
            continue
        if isinstance(stmt, Cond):
            yield None, stmt.pred
            yield from _references(stmt.then)
            yield from _references(stmt.other)
            continue
        yield from ((None, atom) for atom in stmt.init)
        if isinstance(stmt, While):
            yield from _references(stmt.cond)
        assert isinstance(stmt, Loop | While)
        yield from _references(stmt.body)
    yield from ((None, atom) for atom in region.results)


def input_check(body: Region, var: Var, site_bits: Sequence[int], line: str) -> list[str]:
    """`line`, the check of a scalar input, under the C condition that it is needed: not
    at all if every use is an argument of a rule in `ANY_OPERANDS` at <= 53 bits (whose
    own check covers an input out of range: docs/fast.md), always if some site is wider
    (its rules take their arguments in the safe range)."""
    if max(site_bits, default=0) > 53:
        return [line]
    needs: set[str | None] = set()
    for eqn, atom in _references(body):
        if atom is not var:
            continue
        if eqn is None or eqn.op not in ANY_OPERANDS or eqn.site is None:
            return [line]
        needs.add(ANY_OPERANDS[eqn.op])
    macros = sorted(macro for macro in needs if macro is not None)
    if not macros:
        return []
    return [f"#if {' || '.join(f'!defined({macro})' for macro in macros)}", line, "#endif"]


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

# Sums of operands in the safe range, unchecked: rule(args, bits expression) -> C expression.
SUMS: dict[str, Callable[[list[str], str], str]] = {
    "add": lambda args, bits: f"pc_sum_d({args[0]}, {args[1]}, {bits})",
    "sub": lambda args, bits: f"pc_sum_d({args[0]}, -{args[1]}, {bits})",
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
    # Whether every literal lies in the safe range (else the call is flagged at once).
    literals_in_range = False

    def __init__(self) -> None:
        self.literals: dict[tuple[str, int | None], str] = {}
        # Values known to lie in the safe range: a checked rule's results, exact
        # operations on them.
        self.in_range: set[int] = set()

    def known_in_range(self, atom: Atom) -> bool:
        return self.literals_in_range if isinstance(atom, Lit) else id(atom) in self.in_range

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
        known = all(self.known_in_range(a) for a in eqn.args)
        if eqn.site is None:
            self.define(walker, eqn.out, EXACT[eqn.op]([self.ref(walker, a) for a in eqn.args]))
            if known:
                self.in_range.add(id(eqn.out))
            return
        if self.in_doubles(eqn):
            args = [self.argument(walker, eqn, a) for a in eqn.args]
            if eqn.op in SUMS and known:
                self.define(walker, eqn.out, SUMS[eqn.op](args, self.bits(eqn.site)))
                return
            self.define(walker, eqn.out, FAST[eqn.op](args, self.bits(eqn.site), self.flag))
            self.in_range.add(id(eqn.out))
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
