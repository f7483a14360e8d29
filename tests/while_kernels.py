"""While-loop kernels built by hand with the IR builder (shared by the tests of the
interpreters, the C emitters and the noise model)."""

from __future__ import annotations

from precisec.ir.builder import Builder, real
from precisec.ir.check import verify
from precisec.ir.core import REAL, Input, Kernel, Var
from tests.ir_kernels import loc


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
