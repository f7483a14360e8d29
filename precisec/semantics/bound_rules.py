"""Ball rules of the sound error bound (docs/method.md §8): value and partial derivatives
of every operation on python-flint `arb` balls.

Each real operation has a `BallRule`: its value on balls and one partial-derivative rule
per argument, `partial(out, *args)`. A ball outside an operation's domain gives NaN
(arb's convention), which the tape turns into "undefined on this box". Comparisons and
logic are three-valued (True, False, None = undecided on this box); integer operations
reuse the defining interpreter's rules (loop counters and indices are exact integers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flint import arb

from precisec.semantics.interpret import OTHER_RULES as EXACT_OTHER_RULES

Partial = Callable[..., arb]

ONE = arb(1)
UNIT_INTERVAL = arb(0.5, 0.5)  # [0, 1]: the Clarke derivative of min/max at a tie


@dataclass(frozen=True)
class BallRule:
    """value(*args) -> out; partials[k](out, *args) -> ∂out/∂args[k]."""

    value: Callable[..., arb]
    partials: tuple[Partial, ...]


def _domain(ok: Callable[..., bool], fn: Callable[..., arb]) -> Callable[..., arb]:
    """A rule that is NaN unless every point of the balls is in the domain."""
    return lambda *args: fn(*args) if ok(*args) else arb.nan()


def _cbrt(a: arb) -> arb:
    if a > 0:
        return a.root(3)
    if a < 0:
        return -((-a).root(3))
    return arb.nan()  # its derivative is infinite at 0


def _pow(a: arb, b: arb) -> arb:
    if a > 0:
        return a**b
    if b.is_exact() and b.is_integer():
        return a ** int(b.unique_fmpz())
    return arb.nan()


def _pow_base(out: arb, a: arb, b: arb) -> arb:
    if b.is_exact() and b.is_integer():
        n = int(b.unique_fmpz())
        return n * a ** (n - 1) if n != 0 else arb(0)
    return b * out / a


def _min_partial(first: bool) -> Partial:
    def rule(out: arb, a: arb, b: arb) -> arb:
        if a < b:
            return ONE if first else arb(0)
        if a > b:
            return arb(0) if first else ONE
        return UNIT_INTERVAL

    return rule


def _ln(base: int) -> arb:
    return arb(base).log()


RULES: dict[str, BallRule] = {
    "add": BallRule(lambda a, b: a + b, (lambda o, a, b: ONE, lambda o, a, b: ONE)),
    "sub": BallRule(lambda a, b: a - b, (lambda o, a, b: ONE, lambda o, a, b: -ONE)),
    "mul": BallRule(lambda a, b: a * b, (lambda o, a, b: b, lambda o, a, b: a)),
    "div": BallRule(lambda a, b: a / b, (lambda o, a, b: 1 / b, lambda o, a, b: -o / b)),
    "neg": BallRule(lambda a: -a, (lambda o, a: -ONE,)),
    "fabs": BallRule(abs, (lambda o, a: a.sgn() if (a > 0 or a < 0) else arb(0, 1),)),
    "copy": BallRule(lambda a: a, (lambda o, a: ONE,)),
    "sqrt": BallRule(_domain(lambda a: a >= 0, arb.sqrt), (lambda o, a: 1 / (2 * o),)),
    "cbrt": BallRule(_cbrt, (lambda o, a: 1 / (3 * o * o),)),
    "exp": BallRule(arb.exp, (lambda o, a: o,)),
    "expm1": BallRule(arb.expm1, (lambda o, a: o + 1,)),
    "exp2": BallRule(lambda a: arb(2) ** a, (lambda o, a: o * _ln(2),)),
    "log": BallRule(_domain(lambda a: a > 0, arb.log), (lambda o, a: 1 / a,)),
    "log1p": BallRule(_domain(lambda a: a > -1, arb.log1p), (lambda o, a: 1 / (1 + a),)),
    "log2": BallRule(_domain(lambda a: a > 0, lambda a: a.log() / _ln(2)),
                     (lambda o, a: 1 / (a * _ln(2)),)),
    "log10": BallRule(_domain(lambda a: a > 0, lambda a: a.log() / _ln(10)),
                      (lambda o, a: 1 / (a * _ln(10)),)),
    "pow": BallRule(_pow, (_pow_base, lambda o, a, b: o * a.log())),
    "sin": BallRule(arb.sin, (lambda o, a: a.cos(),)),
    "cos": BallRule(arb.cos, (lambda o, a: -a.sin(),)),
    "tan": BallRule(arb.tan, (lambda o, a: 1 + o * o,)),
    "asin": BallRule(_domain(lambda a: abs(a) <= 1, arb.asin),
                     (lambda o, a: 1 / (1 - a * a).sqrt(),)),
    "acos": BallRule(_domain(lambda a: abs(a) <= 1, arb.acos),
                     (lambda o, a: -1 / (1 - a * a).sqrt(),)),
    "atan": BallRule(arb.atan, (lambda o, a: 1 / (1 + a * a),)),
    "atan2": BallRule(lambda y, x: arb.atan2(y, x),
                      (lambda o, y, x: x / (x * x + y * y), lambda o, y, x: -y / (x * x + y * y))),
    "sinh": BallRule(arb.sinh, (lambda o, a: a.cosh(),)),
    "cosh": BallRule(arb.cosh, (lambda o, a: a.sinh(),)),
    "tanh": BallRule(arb.tanh, (lambda o, a: 1 - o * o,)),
    "hypot": BallRule(lambda a, b: (a * a + b * b).sqrt(),
                      (lambda o, a, b: a / o, lambda o, a, b: b / o)),
    "fma": BallRule(lambda a, b, c: a * b + c,
                    (lambda o, a, b, c: b, lambda o, a, b, c: a, lambda o, a, b, c: ONE)),
    "fmin": BallRule(lambda a, b: a.min(b), (_min_partial(True), _min_partial(False))),
    "fmax": BallRule(lambda a, b: a.max(b), (_min_partial(False), _min_partial(True))),
}


def _decide(surely: Callable[[object, object], bool], surely_not: Callable[[object, object], bool]
            ) -> Callable[[object, object], bool | None]:
    """A comparison: exact on integers, three-valued on balls."""

    def rule(a: object, b: object) -> bool | None:
        if surely(a, b):
            return True
        if surely_not(a, b):
            return False
        return None

    return rule


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return True if a and b else None


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return False if a is False and b is False else None


# Comparisons, logic and integer operations: rule(*args) on balls, integers and tri-state
# booleans. `itof` and `zeros` build tape leaves and are the tape's own.
OTHER_RULES: dict[str, Callable[..., object]] = {
    "lt": _decide(lambda a, b: a < b, lambda a, b: a >= b),
    "le": _decide(lambda a, b: a <= b, lambda a, b: a > b),
    "gt": _decide(lambda a, b: a > b, lambda a, b: a <= b),
    "ge": _decide(lambda a, b: a >= b, lambda a, b: a < b),
    "eq": _decide(lambda a, b: a == b, lambda a, b: a != b),
    "ne": _decide(lambda a, b: a != b, lambda a, b: a == b),
    "and": _and,
    "or": _or,
    "not": lambda a: None if a is None else not a,
    **{name: EXACT_OTHER_RULES[name] for name in ("iadd", "isub", "imul", "idiv", "imod",
                                                  "ineg")},
}
