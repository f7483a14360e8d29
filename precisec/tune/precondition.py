"""Sound evaluation of a kernel's precondition at sample points (docs/method.md §6).

The precondition (`precisec.ir.Precondition`) is evaluated in arb ball arithmetic
(python-flint) at WORKING_BITS: every real value is an interval certain to contain the
exact one, and every comparison and connective is three-valued (true, false, unknown,
Kleene's logic). A point is accepted only when the whole precondition is certainly true,
so a point failing it is never used; a point on which the balls cannot decide (a
comparison of two equal real values reached by different operations, say) is rejected
too, which removes a set of measure zero from uniform sampling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import flint
import numpy as np
from flint import arb

from precisec.ir import BOOL, Eqn, Lit, Precondition, Var
from precisec.semantics.bound_rules import OTHER_RULES as BALL_RULES

WORKING_BITS = 256

Truth = bool | None
Value = arb | Truth


def _cbrt(x: arb) -> arb:
    if x >= 0:
        return x.root(3)
    if x <= 0:
        return -((-x).root(3))
    return arb.nan()


def _pow(x: arb, y: arb) -> arb:
    if y.is_exact() and y.is_integer():
        return x ** int(y.unique_fmpz())
    return x**y


REAL_RULES: dict[str, Callable[..., arb]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "fabs": abs,
    "copy": lambda a: a,
    "sqrt": lambda a: a.sqrt(),
    "cbrt": _cbrt,
    "exp": lambda a: a.exp(),
    "expm1": lambda a: a.expm1(),
    "exp2": lambda a: arb(2) ** a,
    "log": lambda a: a.log(),
    "log1p": lambda a: a.log1p(),
    "log2": lambda a: a.log() / arb(2).log(),
    "log10": lambda a: a.log() / arb(10).log(),
    "pow": _pow,
    "sin": lambda a: a.sin(),
    "cos": lambda a: a.cos(),
    "tan": lambda a: a.tan(),
    "asin": lambda a: a.asin(),
    "acos": lambda a: a.acos(),
    "atan": lambda a: a.atan(),
    "atan2": lambda a, b: arb.atan2(a, b),
    "sinh": lambda a: a.sinh(),
    "cosh": lambda a: a.cosh(),
    "tanh": lambda a: a.tanh(),
    "hypot": lambda a, b: (a * a + b * b).sqrt(),
    "fma": lambda a, b, c: a * b + c,
    "fmin": lambda a, b: a.min(b),
    "fmax": lambda a, b: a.max(b),
}


# Comparisons and connectives, three-valued on balls: the sound bound's rules.
OTHER_RULES: dict[str, Callable[..., Truth]] = {
    name: BALL_RULES[name] for name in ("lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not")}


@contextmanager
def _working_precision() -> Iterator[None]:
    saved = flint.ctx.prec
    flint.ctx.prec = WORKING_BITS
    try:
        yield
    finally:
        flint.ctx.prec = saved


def _literal(lit: Lit) -> Value:
    if lit.type == BOOL:
        return lit.text in ("1", "true", "True")
    return arb(lit.text)


def holds(pre: Precondition, point: np.ndarray) -> bool:
    """Whether the precondition is certainly true at one point."""
    env: dict[Var, Value] = dict(zip(pre.region.params, (arb(float(v)) for v in point),
                                     strict=True))

    def value(atom: Var | Lit) -> Value:
        return _literal(atom) if isinstance(atom, Lit) else env[atom]

    for stmt in pre.region.stmts:
        assert isinstance(stmt, Eqn)
        args = [value(a) for a in stmt.args]
        rule = REAL_RULES.get(stmt.op) or OTHER_RULES[stmt.op]
        env[stmt.out] = rule(*args)
    return value(pre.region.results[0]) is True


def accepted(pre: Precondition, points: np.ndarray) -> np.ndarray:
    """Per row of `points`, whether the precondition certainly holds there."""
    with _working_precision():
        return np.array([holds(pre, row) for row in points], dtype=bool)
