"""The one table of operation semantics.

Every stage reads this table and nothing else to learn what an operation means: the C
and FPCore frontends (how it is spelled), the noise model (its JAX function and how a
perturbation of its arguments propagates), the exact reference and the precision emulator
(its gmpy2 context method: correctly rounded at the context's precision, so the same
method is the exact function at 300+ bits and the emulator at p bits), and the MPFR
backend (the C function it emits). The native backend spells an operation with its C
operator or its libm name plus the format's suffix (sinf, sin, sinl, sinq) and reads
`native_exact` to know whether the hardware result equals the emulator's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gmpy2
import jax
import jax.numpy as jnp

Array = jax.Array
DeltaFn = Callable[[Sequence[Array], Sequence[Array]], Array]


@dataclass(frozen=True)
class OpSpec:
    """Semantics of one operation.

    rounds: whether the result is rounded (negation, fabs, fmin and fmax are exact).
    c_symbol: the C operator spelling for operators, c_function the libm name for calls.
    delta: given argument values and argument perturbations, the perturbation of the
      result, computed without cancellation against the values (None: first order via jvp).
    native_exact: whether float, double, long double and _Float128 hardware/libm results
      are correctly rounded (IEEE + - × ÷ √ fma, and the exact operations); other libm
      functions are not, so the emulator only approximates their native results.
    """

    name: str
    arity: int
    rounds: bool
    jax_fn: Callable[..., Array]
    gmpy2_method: str
    mpfr_function: str
    fpcore: str
    c_symbol: str | None = None
    c_function: str | None = None
    delta: DeltaFn | None = None
    kind: str = "arith"
    gmpy2_fn: Callable[..., object] | None = None

    def gmpy2(self, context: object) -> Callable[..., object]:
        """The exact/emulated evaluator at `context`'s precision (for non-arithmetic
        kinds a plain function on gmpy2 values that never rounds)."""
        if self.gmpy2_fn is not None:
            return self.gmpy2_fn
        return getattr(context, self.gmpy2_method)
    native_exact: bool = False

    def propagate(self, values: Sequence[Array], deltas: Sequence[Array]) -> Array:
        """Perturbation of the result when each argument moves by its delta."""
        if self.delta is not None:
            return self.delta(values, deltas)
        _, tangent = jax.jvp(self.jax_fn, tuple(values), tuple(deltas))
        return tangent


def _mul_delta(v: Sequence[Array], d: Sequence[Array]) -> Array:
    return v[0] * d[1] + d[0] * v[1] + d[0] * d[1]


def _div_delta(v: Sequence[Array], d: Sequence[Array]) -> Array:
    return (d[0] * v[1] - v[0] * d[1]) / (v[1] * (v[1] + d[1]))


def _sqrt_delta(v: Sequence[Array], d: Sequence[Array]) -> Array:
    return d[0] / (jnp.sqrt(v[0] + d[0]) + jnp.sqrt(v[0]))


def _fma_delta(v: Sequence[Array], d: Sequence[Array]) -> Array:
    return _mul_delta(v[:2], d[:2]) + d[2]


_ONE = gmpy2.mpfr(1)
_ZERO = gmpy2.mpfr(0)


def _truth(value: bool) -> object:
    return _ONE if value else _ZERO


def _no_delta(v: Sequence[Array], d: Sequence[Array]) -> Array:
    return jnp.zeros_like(v[0], dtype=jnp.float64)


def _flag(fn: Callable[..., Array]) -> Callable[..., Array]:
    """A JAX predicate as a 0.0/1.0 float64 value."""
    return lambda *a: fn(*a).astype(jnp.float64)


def _compare(name: str, symbol: str, fpcore: str, jax_fn: Callable[..., Array],
             test: Callable[[object, object], bool], mpfr: str) -> OpSpec:
    """A comparison of two doubles: exact, boolean (1 or 0), never rounds."""
    return OpSpec(name, 2, False, _flag(jax_fn), "", mpfr, fpcore, c_symbol=symbol,
                  delta=_no_delta, kind="compare",
                  gmpy2_fn=lambda a, b: _truth(test(a, b)))


# Branches (docs/real-kernels.md): comparisons and logic give 1/0, `select(c, a, b)` picks
# a where c is nonzero and b elsewhere without rounding; `hold` materialises a constant as
# a double (a constant stored in a variable of a structured kernel). None of them rounds.
_BRANCH_OPS = (
    _compare("lt", "<", "<", jnp.less, lambda a, b: a < b, "mpfr_less_p"),
    _compare("le", "<=", "<=", jnp.less_equal, lambda a, b: a <= b, "mpfr_lessequal_p"),
    _compare("gt", ">", ">", jnp.greater, lambda a, b: a > b, "mpfr_greater_p"),
    _compare("ge", ">=", ">=", jnp.greater_equal, lambda a, b: a >= b, "mpfr_greaterequal_p"),
    _compare("eq", "==", "==", jnp.equal, lambda a, b: a == b, "mpfr_equal_p"),
    _compare("ne", "!=", "!=", jnp.not_equal, lambda a, b: a != b, "!mpfr_equal_p"),
    OpSpec("and", 2, False, _flag(lambda a, b: (a != 0) & (b != 0)), "", "&&", "and",
           c_symbol="&&", delta=_no_delta, kind="logic",
           gmpy2_fn=lambda a, b: _truth(bool(a) and bool(b))),
    OpSpec("or", 2, False, _flag(lambda a, b: (a != 0) | (b != 0)), "", "||", "or",
           c_symbol="||", delta=_no_delta, kind="logic",
           gmpy2_fn=lambda a, b: _truth(bool(a) or bool(b))),
    OpSpec("not", 1, False, _flag(lambda a: a == 0), "", "!", "not", c_symbol="!",
           delta=_no_delta, kind="logic", gmpy2_fn=lambda a: _truth(not a)),
    OpSpec("select", 3, False, lambda c, a, b: jnp.where(c != 0, a, b), "", "", "if",
           delta=lambda v, d: jnp.where(v[0] != 0, d[1], d[2]), kind="select",
           gmpy2_fn=lambda c, a, b: a if c else b),
    OpSpec("hold", 1, False, lambda a: a, "plus", "mpfr_set", "hold",
           delta=lambda v, d: d[0], kind="copy"),
)


def _call(name: str, arity: int, jax_fn: Callable[..., Array], gmpy2_method: str | None = None,
          mpfr: str | None = None, rounds: bool = True, delta: DeltaFn | None = None,
          native_exact: bool = False) -> OpSpec:
    """A libm function whose C, FPCore and MPFR names agree unless given."""
    return OpSpec(name=name, arity=arity, rounds=rounds, jax_fn=jax_fn,
                  gmpy2_method=gmpy2_method or name, mpfr_function=f"mpfr_{mpfr or name}",
                  fpcore=name, c_function=name, delta=delta,
                  native_exact=native_exact or not rounds)


OPS: dict[str, OpSpec] = {spec.name: spec for spec in (
    OpSpec("add", 2, True, jnp.add, "add", "mpfr_add", "+", c_symbol="+",
           delta=lambda v, d: d[0] + d[1], native_exact=True),
    OpSpec("sub", 2, True, jnp.subtract, "sub", "mpfr_sub", "-", c_symbol="-",
           delta=lambda v, d: d[0] - d[1], native_exact=True),
    OpSpec("mul", 2, True, jnp.multiply, "mul", "mpfr_mul", "*", c_symbol="*",
           delta=_mul_delta, native_exact=True),
    OpSpec("div", 2, True, jnp.divide, "div", "mpfr_div", "/", c_symbol="/",
           delta=_div_delta, native_exact=True),
    OpSpec("neg", 1, False, jnp.negative, "minus", "mpfr_neg", "neg", c_symbol="-",
           delta=lambda v, d: -d[0], native_exact=True),
    _call("fabs", 1, jnp.abs, "abs", "abs", rounds=False),
    _call("sqrt", 1, jnp.sqrt, delta=_sqrt_delta, native_exact=True),
    _call("cbrt", 1, jnp.cbrt),
    _call("exp", 1, jnp.exp),
    _call("expm1", 1, jnp.expm1),
    _call("exp2", 1, jnp.exp2),
    _call("log", 1, jnp.log),
    _call("log1p", 1, jnp.log1p),
    _call("log2", 1, jnp.log2),
    _call("log10", 1, jnp.log10),
    _call("pow", 2, jnp.power),
    _call("sin", 1, jnp.sin),
    _call("cos", 1, jnp.cos),
    _call("tan", 1, jnp.tan),
    _call("asin", 1, jnp.arcsin),
    _call("acos", 1, jnp.arccos),
    _call("atan", 1, jnp.arctan),
    _call("atan2", 2, jnp.arctan2),
    _call("sinh", 1, jnp.sinh),
    _call("cosh", 1, jnp.cosh),
    _call("tanh", 1, jnp.tanh),
    _call("hypot", 2, jnp.hypot),
    _call("fma", 3, lambda a, b, c: a * b + c, delta=_fma_delta, native_exact=True),
    _call("fmin", 2, jnp.fmin, "minnum", "min", rounds=False),
    _call("fmax", 2, jnp.fmax, "maxnum", "max", rounds=False),
    *_BRANCH_OPS,
)}

BINARY_OPERATORS: dict[str, OpSpec] = {
    s.c_symbol: s for s in OPS.values()
    if s.c_symbol is not None and s.arity == 2 and s.kind == "arith"}
UNARY_OPERATORS: dict[str, OpSpec] = {
    s.c_symbol: s for s in OPS.values()
    if s.c_symbol is not None and s.arity == 1 and s.kind == "arith"}
COMPARISON_OPERATORS: dict[str, OpSpec] = {
    s.c_symbol: s for s in OPS.values() if s.c_symbol is not None and s.kind == "compare"}
LOGICAL_OPERATORS: dict[str, OpSpec] = {
    s.c_symbol: s for s in OPS.values() if s.c_symbol is not None and s.kind == "logic"}
C_FUNCTIONS: dict[str, OpSpec] = {s.c_function: s for s in OPS.values() if s.c_function}
FPCORE_OPERATIONS: dict[str, OpSpec] = {s.fpcore: s for s in OPS.values()}
