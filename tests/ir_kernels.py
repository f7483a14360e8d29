"""Kernels built by hand with the IR builder, and random ones for property tests (shared by
the tests of the C emitters and the compiled evaluator).

Random kernels (`random_kernels`) have scalar inputs in [0.5, 1.5], an input array and an
output array, and nest straight-line code, loops (carrying reals and both arrays, counters
stepping up or down) and branches (merging reals and both arrays) two levels deep. Their
operations are total on the reals they meet: a divisor, a square root's or logarithm's
argument is first made positive (`|v| + 0.5`), so the exact reference is always finite.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st

from precisec.errors import SourceLoc
from precisec.ir.builder import Builder, integer, real
from precisec.ir.check import verify
from precisec.ir.core import INT, REAL, Atom, Input, Kernel, Output, Var
from precisec.ops import OPS

FILE = "gen.c"
LITERALS = ("0.1", "3", "-1.25", "1e-3", "2.5", "0.3333")
# Total, bounded-growth operations; div, sqrt and log get a positive argument first.
ALL_OPS = ("add", "sub", "mul", "div", "neg", "fabs", "sqrt", "fma", "fmin", "fmax",
           "hypot", "atan2", "sin", "cos", "atan", "tanh", "cbrt", "log", "exp")
# Correctly rounded in every hardware format (docs/native.md).
NATIVE_OPS = ("add", "sub", "mul", "div", "neg", "fabs", "sqrt", "fma", "fmin", "fmax")
COMPARES = ("lt", "le", "gt", "ge", "eq", "ne")
GUARDED = {"div": 1, "sqrt": 0, "log": 0}


def loc(line: int, col: int = 1) -> SourceLoc:
    return SourceLoc(FILE, line, col)


def bits_of(values: np.ndarray) -> np.ndarray:
    """IEEE patterns, so comparisons are bit-exact (-0.0 differs from 0.0); every NaN is
    one pattern."""
    values = np.where(np.isnan(values), np.nan, values)
    return np.ascontiguousarray(values, dtype="<f8").view("<u8")


class _Generator:
    """Draws one kernel's statements with a Builder."""

    def __init__(self, draw: st.DrawFn, ops: Sequence[str], precision: str) -> None:
        self.draw = draw
        self.ops = ops
        self.precision = precision
        self.b = Builder()
        self.line = 1

    def loc(self) -> SourceLoc:
        self.line += 1
        return loc(self.line, 1 + self.line % 9)

    def atom(self, pool: list[Atom]) -> Atom:
        if self.draw(st.integers(0, 5)) == 0:
            return real(self.draw(st.sampled_from(LITERALS)))
        return self.draw(st.sampled_from(pool))

    def positive(self, atom: Atom) -> Var:
        return self.b.op("add", [self.b.op("fabs", [atom], self.loc()), real("0.5")], self.loc())

    def operation(self, pool: list[Atom]) -> Var:
        name = self.draw(st.sampled_from(self.ops))
        args = [self.atom(pool) for _ in range(OPS[name].arity)]
        if name in GUARDED:
            args[GUARDED[name]] = self.positive(args[GUARDED[name]])
        if name == "exp":
            args[0] = self.b.op("sin", [args[0]], self.loc())
        return self.b.op(name, args, self.loc())

    def index(self, ints: list[Var], extent: int) -> Atom:
        if ints and self.draw(st.booleans()):
            return self.b.op("imod", [self.draw(st.sampled_from(ints)), integer(extent)],
                             self.loc())
        return integer(self.draw(st.integers(0, extent - 1)))

    def block(self, pool: list[Atom], ints: list[Var], arrays: dict[str, Var],
              depth: int) -> None:
        """Statements into the open region; `pool` and `arrays` follow the new values."""
        kinds = ["op", "op", "load", "store"] + (["loop", "cond"] if depth else [])
        for _ in range(self.draw(st.integers(1 + depth, 5))):
            kind = self.draw(st.sampled_from(kinds))
            if kind == "op":
                pool.append(self.operation(pool))
            elif kind == "load":
                name = self.draw(st.sampled_from(sorted(arrays)))
                array = arrays[name]
                pool.append(self.b.op("load", [array, self.index(ints, array.size)], self.loc()))
            elif kind == "store":
                name = self.draw(st.sampled_from(sorted(arrays)))
                array = arrays[name]
                arrays[name] = self.b.op(
                    "store", [array, self.index(ints, array.size), self.atom(pool)], self.loc(),
                    name)
            elif kind == "loop":
                self.loop(pool, ints, arrays, depth)
            else:
                self.cond(pool, ints, arrays, depth)

    def loop(self, pool: list[Atom], ints: list[Var], arrays: dict[str, Var],
             depth: int) -> None:
        trips = self.draw(st.integers(0, 4))
        step = self.draw(st.sampled_from([1, 2, -1]))
        start = (trips - 1) * -step if step < 0 and trips else self.draw(st.integers(0, 2))
        inits = [self.atom(pool) for _ in range(self.draw(st.integers(1, 2)))]
        names = sorted(arrays)
        self.b.push()
        counter = Var(INT, (), "i")
        carried = [Var(REAL, (), f"c{k}") for k in range(len(inits))]
        params = {n: Var(REAL, arrays[n].shape, n) for n in names}
        inner = [*pool, *carried, self.b.op("itof", [counter], self.loc())]
        inner_arrays = dict(params)
        self.block(inner, [*ints, counter], inner_arrays, depth - 1)
        # A result may be another carried value (a swap), or a fresh one.
        results = [self.draw(st.sampled_from([*carried, *inner[-3:]])) for _ in carried]
        body = self.b.pop([counter, *carried, *params.values()],
                          [*results, *(inner_arrays[n] for n in names)])
        outs = self.b.loop(start, step, trips, [*inits, *(arrays[n] for n in names)], body,
                           self.loc())
        pool.extend(outs[:len(carried)])
        arrays.update(zip(names, outs[len(carried):], strict=True))

    def cond(self, pool: list[Atom], ints: list[Var], arrays: dict[str, Var],
             depth: int) -> None:
        left, right = self.atom(pool), self.atom(pool)
        pred = self.b.op(self.draw(st.sampled_from(COMPARES)), [left, right], self.loc())
        if self.draw(st.booleans()):
            other = self.b.op("lt", [self.atom(pool), real("1")], self.loc())
            pred = self.b.op(self.draw(st.sampled_from(["and", "or"])), [pred, other],
                             self.loc())
        count = self.draw(st.integers(0, 2))
        names = sorted(arrays)
        sides = []
        for _ in range(2):
            self.b.push()
            side_pool, side_arrays = list(pool), dict(arrays)
            self.block(side_pool, ints, side_arrays, depth - 1)
            merged = [self.draw(st.sampled_from([*side_pool[-3:], real("0.75")]))
                      for _ in range(count)]
            sides.append(self.b.pop([], [*merged, *(side_arrays[n] for n in names)]))
        outs = self.b.cond(pred, sides[0], sides[1], self.loc())
        pool.extend(outs[:count])
        arrays.update(zip(names, outs[count:], strict=True))

    def kernel(self) -> Kernel:
        scalars = [Var(REAL, (), name) for name in ("x", "y", "z")]
        a, o = Var(REAL, (4,), "a"), Var(REAL, (3,), "o")
        pool: list[Atom] = list(scalars)
        arrays = {"a": a, "o": o}
        self.block(pool, [], arrays, depth=2)
        result = self.operation(pool)
        params = [*(Input(v.hint, (), (0.5,), (1.5,), loc(1)) for v in scalars),
                  Input("a", (4,), (0.5,) * 4, (1.5,) * 4, loc(1)), Output("o", (3,), loc(1))]
        return verify(self.b.kernel("gen", loc(1), params, [*scalars, a, o], True,
                                    [result, arrays["o"]], precision=self.precision))


@st.composite
def random_kernels(draw: st.DrawFn, ops: Sequence[str] = ALL_OPS,
                   precision: str = "double") -> Kernel:
    return _Generator(draw, ops, precision).kernel()


def sample(kernel: Kernel, count: int, seed: int) -> np.ndarray:
    """Uniform inputs in the kernel's box (floats for a float kernel)."""
    rng = np.random.default_rng(seed)
    lows, highs = np.array(kernel.lows), np.array(kernel.highs)
    points = lows + (highs - lows) * rng.random((count, len(lows)))
    if kernel.precision == "float":
        points = points.astype(np.float32).astype(np.float64)
    return points


# -- hand-built kernels --------------------------------------------------------------------

def loop_branch_array(trips: int = 10, precision: str = "double") -> Kernel:
    """A loop over a branch, an input array read through the counter, an output array
    written in the loop, a literal in a comparison: every construct the walker writes."""
    b = Builder()
    x, y = Var(REAL, (), "x"), Var(REAL, (), "y")
    a, out = Var(REAL, (3,), "a"), Var(REAL, (3,), "out")
    t = b.op("mul", [x, real("1.1")], loc(2, 5))
    b.push()
    i, s, o = Var(INT, (), "i"), Var(REAL, (), "s"), Var(REAL, (3,), "out")
    u = b.op("mul", [t, s], loc(4, 9))
    v = b.op("add", [s, u], loc(5, 11))
    c = b.op("gt", [v, real("2")], loc(6, 13))
    b.push()
    then = b.pop([], [b.op("div", [v, real("3")], loc(7, 15))])
    b.push()
    other = b.pop([], [v])
    (m,) = b.cond(c, then, other, loc(6, 9), hints=["s"])
    k = b.op("imod", [i, integer(3)], loc(8, 3))
    z = b.op("fma", [m, b.op("load", [a, k], loc(8, 9)), y], loc(8, 17))
    body = b.pop([i, s, o], [m, b.op("store", [o, k, z], loc(8, 3), "out")])
    s_final, o_final = b.loop(0, 1, trips, [y, out], body, loc(3, 5))
    r = b.op("sqrt", [b.op("fabs", [s_final], loc(9, 20))], loc(9, 12))
    params = [Input("x", (), (0.1,), (1.0,), loc(1)), Input("y", (), (0.1,), (1.0,), loc(1)),
              Input("a", (3,), (0.0,) * 3, (1.0,) * 3, loc(1)), Output("out", (3,), loc(1))]
    return verify(b.kernel("f", loc(1), params, [x, y, a, out], True, [r, o_final],
                           precision=precision))


def chain(name: str, op: str, literal: str, lo: float, hi: float) -> Kernel:
    """f(x) = op(x, literal) (or op(x) for a unary op): one site at 2:3."""
    b = Builder()
    x = Var(REAL, (), "x")
    args = [x, real(literal)][:OPS[op].arity]
    r = b.op(op, args, loc(2, 3))
    params = [Input("x", (), (lo,), (hi,), loc(1))]
    return verify(b.kernel(name, loc(1), params, [x], True, [r]))


def iterated(steps: int, text: str = "3.9") -> Kernel:
    """The logistic map x ← r·x·(1 − x), `steps` times: chaotic for r = 3.9, so it loses
    about a bit per step and its exact value needs ever more working precision."""
    b = Builder()
    x = Var(REAL, (), "x")
    b.push()
    i, s = Var(INT, (), "i"), Var(REAL, (), "s")
    one_minus = b.op("sub", [real("1"), s], loc(3, 20))
    nxt = b.op("mul", [b.op("mul", [real(text), s], loc(3, 10)), one_minus], loc(3, 15))
    body = b.pop([i, s], [nxt])
    (final,) = b.loop(0, 1, steps, [x], body, loc(2, 1))
    params = [Input("x", (), (0.2,), (0.8,), loc(1))]
    return verify(b.kernel("logistic", loc(1), params, [x], True, [final]))
