"""The defining interpreter: one input point at a time, with gmpy2 (MPFR).

This is the executable form of docs/method.md §1, kept small and obviously right: the
compiled evaluators (`precisec.semantics.compiled`) and the JAX noise model are tested
against it. It is far too slow for real use (one Python call per dynamic operation).

Precision rules:
* In exact mode every operation and every literal uses `exact_bits`.
* Otherwise site s rounds at `site_bits[s]`; a real literal that is an argument of a
  rounding operation is rounded at that operation's precision; any other real literal
  (stored, compared, carried, returned, argument of an exact operation) takes the
  kernel's type precision (53 for double, 24 for float), as C stores it.
* Inputs are exact doubles (floats for a float kernel). Exact operations (negation,
  fabs, fmin, fmax, loads, stores, merges) never round: their result is as wide as it
  needs to be. Results leave rounded to the kernel's type (`point_outputs`).
* With `round_arguments` (the native backend's casts), an argument wider than its
  consumer's precision is rounded to it first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import gmpy2

from precisec.ir.core import REAL, Atom, Cond, Eqn, Kernel, Lit, While
from precisec.ir.walker import ARRAY_OPS, Env, RegionWalker

INPUT_BITS = 53
INT_BITS = 64


@cache
def context(bits: int) -> gmpy2.context:
    return gmpy2.context(precision=bits, round=gmpy2.RoundToNearest)


def _exact(fn: Callable[..., object]) -> Callable[..., object]:
    """An operation that never rounds: computed at its widest argument's precision."""

    def rule(bits: int, *args: object) -> object:
        width = max(a.precision for a in args)  # type: ignore[attr-defined]
        return fn(context(width), *args)

    return rule


def _method(name: str) -> Callable[..., object]:
    return lambda bits, *args: getattr(context(bits), name)(*args)


def _c_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


# Real operations: rule(bits, *args) at the operation's precision.
REAL_RULES: dict[str, Callable[..., object]] = {
    **{name: _method(name) for name in (
        "add", "sub", "mul", "div", "sqrt", "cbrt", "exp", "expm1", "exp2", "log", "log1p",
        "log2", "log10", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh",
        "cosh", "tanh", "hypot", "fma")},
    "pow": _method("pow"),
    "neg": _exact(lambda ctx, a: ctx.minus(a)),
    "fabs": _exact(lambda ctx, a: ctx.abs(a)),
    "copy": _exact(lambda ctx, a: ctx.plus(a)),
    "fmin": _exact(lambda ctx, a, b: ctx.minnum(a, b)),
    "fmax": _exact(lambda ctx, a, b: ctx.maxnum(a, b)),
}

# Everything else: rule(*args) on Python values (bools, ints, gmpy2 reals, lists).
OTHER_RULES: dict[str, Callable[..., object]] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "and": lambda a, b: a and b,
    "or": lambda a, b: a or b,
    "not": lambda a: not a,
    "iadd": lambda a, b: a + b,
    "isub": lambda a, b: a - b,
    "imul": lambda a, b: a * b,
    "idiv": _c_div,
    "imod": lambda a, b: a - b * _c_div(a, b),
    "ineg": lambda a: -a,
    "itof": lambda a: gmpy2.mpfr(a, INT_BITS),
    "zeros": lambda *dims: [gmpy2.mpfr(0)] * math.prod(dims),
}


@dataclass
class Run:
    """One evaluation: its results (gmpy2 reals), branch decisions (2·branch+taken),
    trip counts (per while loop run, in exit order: its number, then its trips; what the
    C programs hash) and the same trip counts in the order the loops start (`starts`,
    for walks of the IR along the run)."""

    results: list[object]
    trace: list[int]
    trips: list[int]
    starts: list[int]


class _Interpreter(RegionWalker):
    def __init__(self, kernel: Kernel, site_bits: Sequence[int] | None, exact_bits: int | None,
                 round_arguments: bool) -> None:
        self.kernel = kernel
        self.site_bits = site_bits
        self.exact_bits = exact_bits
        self.round_arguments = round_arguments
        self.trace: list[int] = []
        self.trips: list[int] = []
        self.starts: list[int] = []

    def literal(self, lit: Lit, bits: int | None) -> object:
        if lit.type != REAL:
            return int(lit.text) if lit.type == "int" else lit.text == "1"
        width = self.exact_bits or bits or self.kernel.baseline_bits
        return gmpy2.mpfr(lit.text, width)

    def value(self, atom: Atom, env: Env, bits: int | None = None) -> object:
        return self.literal(atom, bits) if isinstance(atom, Lit) else env[id(atom)]

    def decide(self, cond: Cond, env: Env) -> bool:
        taken = bool(self.value(cond.pred, env))
        self.trace.append(2 * cond.branch + int(taken))
        return taken

    def while_loop(self, loop: While, env: Env) -> list[object]:
        """The loop's final carried values; its trip count joins `trips`. At the cap the
        loop stops without testing its condition again."""
        carried = [self.value(a, env) for a in loop.init]
        start = len(self.starts)
        self.starts.append(0)
        trips = 0
        while trips < loop.cap and self.region(loop.cond, env, carried)[0]:
            carried = self.region(loop.body, env, carried)
            trips += 1
        self.trips += [loop.number, trips]
        self.starts[start] = trips
        return carried

    def eqn(self, eqn: Eqn, env: Env) -> object:
        if eqn.op in ARRAY_OPS:
            return self.array_eqn(eqn, env)
        if eqn.op not in REAL_RULES:
            return OTHER_RULES[eqn.op](*(self.value(a, env) for a in eqn.args))
        bits = None
        if eqn.site is not None:
            bits = self.exact_bits or self.site_bits[eqn.site]  # type: ignore[index]
        args = [self.value(a, env, bits) for a in eqn.args]
        if self.round_arguments and bits is not None:
            args = [context(bits).plus(a) if a.precision > bits else a for a in args]
        return REAL_RULES[eqn.op](bits or 0, *args)


def run(kernel: Kernel, point: Sequence[float], site_bits: Sequence[int] | None = None, *,
        exact_bits: int | None = None, round_arguments: bool = False) -> Run:
    """Evaluate the kernel at one input point (flat, in `kernel.input_labels` order)."""
    if (site_bits is None) == (exact_bits is None):
        raise ValueError("give exactly one of site_bits and exact_bits")
    interpreter = _Interpreter(kernel, site_bits, exact_bits, round_arguments)
    params: list[object] = []
    position = 0
    for param, var in zip(kernel.params, kernel.body.params, strict=True):
        size = var.size if var.shape else 1
        if param in kernel.inputs:
            values = [gmpy2.mpfr(float(v), INPUT_BITS) for v in point[position:position + size]]
            position += size
            params.append(values if var.shape else values[0])
        else:
            params.append([gmpy2.mpfr(0)] * size)
    results = interpreter.region(kernel.body, {}, params)
    flat: list[object] = []
    for value in results:
        flat.extend(value if isinstance(value, list) else [value])
    return Run(flat, interpreter.trace, interpreter.trips, interpreter.starts)


def point_outputs(kernel: Kernel, point: Sequence[float], site_bits: Sequence[int],
                  round_arguments: bool = False) -> list[float]:
    """The tuned program's outputs at one point, as the kernel's C type returns them."""
    results = run(kernel, point, site_bits, round_arguments=round_arguments).results
    ctx = context(kernel.baseline_bits)
    return [float(ctx.plus(v)) for v in results]
