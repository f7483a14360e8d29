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
)}

BINARY_OPERATORS: dict[str, OpSpec] = {
    s.c_symbol: s for s in OPS.values() if s.c_symbol is not None and s.arity == 2}
UNARY_OPERATORS: dict[str, OpSpec] = {
    s.c_symbol: s for s in OPS.values() if s.c_symbol is not None and s.arity == 1}
C_FUNCTIONS: dict[str, OpSpec] = {s.c_function: s for s in OPS.values() if s.c_function}
FPCORE_OPERATIONS: dict[str, OpSpec] = {s.fpcore: s for s in OPS.values()}
