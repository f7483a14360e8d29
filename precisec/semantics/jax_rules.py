"""The JAX noise model's rule table: per operation, its float64 function and how a
perturbation of its arguments moves its result (docs/method.md §2).

A real operation's rule computes the result's perturbation from the clean argument values
and their perturbations without subtracting two nearby values, so the perturbation stays
exact in relative terms however small it is: exact formulas for + − × ÷ √ and fma, first
order (`jax.jvp`) for the other functions, whose rounding noise is what matters there.
Comparisons, logic, integer index arithmetic and conversions act on clean values only:
the noise model follows the clean program's branches and indices. Loads and stores are
the interpreter's (`precisec.semantics.noise`), which owns the array layout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array
DeltaFn = Callable[[Sequence[Array], Sequence[Array]], Array]


@dataclass(frozen=True)
class RealRule:
    """A real operation: `fn` on clean values; `delta` (values, deltas) -> the result's
    perturbation, or None for first order through `jax.jvp`."""

    fn: Callable[..., Array]
    delta: DeltaFn | None = None

    def propagate(self, values: Sequence[Array], deltas: Sequence[Array]) -> Array:
        if self.delta is not None:
            return self.delta(values, deltas)
        _, tangent = jax.jvp(self.fn, tuple(values), tuple(deltas))
        return tangent


def _mul_delta(v: Sequence[Array], d: Sequence[Array]) -> Array:
    return v[0] * d[1] + d[0] * v[1] + d[0] * d[1]


def _div_delta(v: Sequence[Array], d: Sequence[Array]) -> Array:
    return (d[0] * v[1] - v[0] * d[1]) / (v[1] * (v[1] + d[1]))


def _sqrt_delta(v: Sequence[Array], d: Sequence[Array]) -> Array:
    return d[0] / (jnp.sqrt(v[0] + d[0]) + jnp.sqrt(v[0]))


def _fma_delta(v: Sequence[Array], d: Sequence[Array]) -> Array:
    return _mul_delta(v[:2], d[:2]) + d[2]


REAL_RULES: dict[str, RealRule] = {
    "add": RealRule(jnp.add, lambda v, d: d[0] + d[1]),
    "sub": RealRule(jnp.subtract, lambda v, d: d[0] - d[1]),
    "mul": RealRule(jnp.multiply, _mul_delta),
    "div": RealRule(jnp.divide, _div_delta),
    "neg": RealRule(jnp.negative, lambda v, d: -d[0]),
    "fabs": RealRule(jnp.abs),
    "copy": RealRule(lambda a: a, lambda v, d: d[0]),
    "sqrt": RealRule(jnp.sqrt, _sqrt_delta),
    "cbrt": RealRule(jnp.cbrt),
    "exp": RealRule(jnp.exp),
    "expm1": RealRule(jnp.expm1),
    "exp2": RealRule(jnp.exp2),
    "log": RealRule(jnp.log),
    "log1p": RealRule(jnp.log1p),
    "log2": RealRule(jnp.log2),
    "log10": RealRule(jnp.log10),
    "pow": RealRule(jnp.power),
    "sin": RealRule(jnp.sin),
    "cos": RealRule(jnp.cos),
    "tan": RealRule(jnp.tan),
    "asin": RealRule(jnp.arcsin),
    "acos": RealRule(jnp.arccos),
    "atan": RealRule(jnp.arctan),
    "atan2": RealRule(jnp.arctan2),
    "sinh": RealRule(jnp.sinh),
    "cosh": RealRule(jnp.cosh),
    "tanh": RealRule(jnp.tanh),
    "hypot": RealRule(jnp.hypot),
    "fma": RealRule(lambda a, b, c: a * b + c, _fma_delta),
    "fmin": RealRule(jnp.fmin),
    "fmax": RealRule(jnp.fmax),
}

# Clean-value operations: booleans, int64 index arithmetic with C's truncating division,
# and int -> real conversion (whose perturbation is zero).
OTHER_RULES: dict[str, Callable[..., Array]] = {
    "lt": jnp.less,
    "le": jnp.less_equal,
    "gt": jnp.greater,
    "ge": jnp.greater_equal,
    "eq": jnp.equal,
    "ne": jnp.not_equal,
    "and": jnp.logical_and,
    "or": jnp.logical_or,
    "not": jnp.logical_not,
    "iadd": jnp.add,
    "isub": jnp.subtract,
    "imul": jnp.multiply,
    "idiv": lax.div,
    "imod": lax.rem,
    "ineg": jnp.negative,
    "itof": lambda a: a.astype(jnp.float64),
}
