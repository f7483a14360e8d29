"""While-loop kernels: built by hand with the IR builder, and random ones for property
tests (shared by the tests of the interpreters, the C emitters and the noise model)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st
from ir_kernels import ALL_OPS, _Generator, loc

from precisec.ir.builder import Builder, real
from precisec.ir.check import verify
from precisec.ir.core import REAL, Atom, Input, Kernel, Var

# exp(x) by its series, summed until the term is below 1e-17 (12 to 28 terms on [-2, 2]).
SERIES_C = """#pragma precisec range(x, -2, 2)
#pragma precisec rmse(1e-12)
double expseries(double x)
{
    double s = 0.0;
    double t = 1.0;
    double k = 1.0;
    while (fabs(t) > 1e-17) {
        s = s + t;
        t = t * x / k;
        k = k + 1.0;
    }
    return s;
}
"""


def newton_sqrt(tolerance: str = "1e-12", cap: int = 1000) -> Kernel:
    """sqrt(a) by Newton's iteration g ← (g + a/g)/2 from g = a, until |g² − a| ≤ tol·a:
    a trip count that depends on a (about 2 + log2 log2 a iterations)."""
    b = Builder()
    a = Var(REAL, (), "a")
    g_test, g = Var(REAL, (), "g"), Var(REAL, (), "g")
    b.push()
    residual = b.op("sub", [b.op("mul", [g_test, g_test], loc(3, 12)), a], loc(3, 16))
    limit = b.op("mul", [real(tolerance), a], loc(3, 30))
    test = b.pop([g_test], [b.op("gt", [b.op("fabs", [residual], loc(3, 8)), limit],
                                     loc(3, 24))])
    b.push()
    half_sum = b.op("add", [g, b.op("div", [a, g], loc(4, 15))], loc(4, 11))
    body = b.pop([g], [b.op("mul", [real("0.5"), half_sum], loc(4, 7))])
    (root,) = b.while_loop([a], test, body, loc(2, 3), cap)
    r = b.op("sub", [root, real("0.1")], loc(5, 10))
    params = [Input("a", (), (1.0,), (1000.0,), loc(1))]
    return verify(b.kernel("newton", loc(1), params, [a], True, [r]))


class _WhileGenerator(_Generator):
    """The random kernels of `tests.ir_kernels`, with every other loop a while loop: a
    real counter n from 0 while n < L (L drawn 0..4) and, half the time, also while a
    carried value stays below a bound (a data-dependent trip count); the body is a random
    block over the carried reals and both arrays, and n + 1."""

    def loop(self, pool: list[Atom], ints: list[Var], arrays: dict[str, Var],
             depth: int) -> None:
        if self.draw(st.booleans()):
            super().loop(pool, ints, arrays, depth)
            return
        inits = [real("0"), *(self.atom(pool) for _ in range(self.draw(st.integers(1, 2))))]
        names = sorted(arrays)

        def carried() -> tuple[list[Var], dict[str, Var]]:
            return ([Var(REAL, (), f"w{k}") for k in range(len(inits))],
                    {n: Var(REAL, arrays[n].shape, n) for n in names})

        tests, test_arrays = carried()
        self.b.push()
        limit = real(str(self.draw(st.integers(0, 4))))
        test = self.b.op("lt", [tests[0], limit], self.loc())
        if self.draw(st.booleans()):
            small = self.b.op("lt", [self.b.op("fabs", [tests[1]], self.loc()), real("3")],
                              self.loc())
            test = self.b.op("and", [test, small], self.loc())
        cond = self.b.pop([*tests, *test_arrays.values()], [test])
        params, body_arrays = carried()
        self.b.push()
        inner = [*pool, *params[1:]]
        inner_arrays = dict(body_arrays)
        self.block(inner, ints, inner_arrays, depth - 1)
        results = [self.b.op("add", [params[0], real("1")], self.loc()),
                   *(self.draw(st.sampled_from([*params[1:], *inner[-3:]]))
                     for _ in params[1:])]
        body = self.b.pop([*params, *body_arrays.values()],
                          [*results, *(inner_arrays[n] for n in names)])
        outs = self.b.while_loop([*inits, *(arrays[n] for n in names)], cond, body,
                                 self.loc(), cap=self.draw(st.sampled_from([3, 1000])))
        pool.extend(outs[1:len(inits)])
        arrays.update(zip(names, outs[len(inits):], strict=True))


@st.composite
def random_while_kernels(draw: st.DrawFn, ops: Sequence[str] = ALL_OPS,
                         precision: str = "double") -> Kernel:
    return _WhileGenerator(draw, ops, precision).kernel()
