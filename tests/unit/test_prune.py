"""Dead while-loop carried values are dropped by both frontends (`precisec.ir.prune`,
docs/method.md §1): the loop keeps what its test and the results read, the sites left are
renumbered in order, unread straight-line values stay, and the exact reference no longer
evaluates a value nothing reads (FPBench's Runge-Kutta 4 squares its solution past MPFR's
exponent range but returns only its step residual)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import kernel as c_kernel

from precisec.frontend.fpcore import parse_fpcore
from precisec.ir import Kernel
from precisec.ir.core import While, walk
from precisec.semantics import interpret
from precisec.semantics.compiled import Evaluator

# y is squared 100 times (beyond any exponent range) and i counts; only e is returned.
RESIDUAL_FPCORE = """(FPCore (x) :pre (<= 2 x 3)
 (let ([k 1e10])
  (while (> e 0.005) ([y x (* (* y y) k)] [i 0 (+ i 1)] [e 1 (- e 0.01)]) (fabs e))))"""
RESIDUAL_C = """#pragma precisec range(x, 2, 3)
double residual(double x)
{
    double k = 1e10;
    double y = x;
    double i = 0.0;
    double e = 1.0;
    while (e > 0.005) {
        y = y * y * k;
        i = i + 1.0;
        e = e - 0.01;
    }
    return fabs(e);
}
"""
ALONE_FPCORE = """(FPCore (x) :pre (<= 2 x 3) (while (> e 0.005) ([e 1 (- e 0.01)]) (fabs e)))"""


def residual(frontend: str) -> Kernel:
    return parse_fpcore(RESIDUAL_FPCORE, "residual.fpcore") if frontend == "fpcore" \
        else c_kernel(RESIDUAL_C, "residual.c")


def the_while(kernel: Kernel) -> While:
    return next(s for s in walk(kernel.body) if isinstance(s, While))


@pytest.mark.parametrize("frontend", ["fpcore", "c"])
def test_dead_carried_values_and_the_operations_only_they_read_go(frontend: str) -> None:
    kernel = residual(frontend)
    alone = parse_fpcore(ALONE_FPCORE, "alone.fpcore")
    assert [s.op for s in kernel.sites] == ["sub"]
    assert len(the_while(kernel).outs) == 1
    for point, bits in (([2.5], [53]), ([2.0], [12]), ([3.0], [4])):
        run, expected = interpret.run(kernel, point, bits), interpret.run(alone, point, bits)
        assert run.results == expected.results and run.trips == expected.trips
    with Evaluator(kernel) as evaluator:
        exact = evaluator.exact(np.array([[2.0], [2.5], [3.0]]))
    assert np.allclose(exact.hi, 0.0, atol=0.01)


def test_a_carried_value_read_by_the_test_or_a_live_one_stays() -> None:
    kernel = parse_fpcore("""(FPCore (x) :pre (<= 1 x 2)
     (while* (< i 4) ([b 1 (* b 2)] [a x (+ a b)] [i 0 (+ i 1)] [d x (* d d)]) a))""",
                          "live.fpcore")
    assert [s.op for s in kernel.sites] == ["mul", "add", "add"]
    assert [v.hint for v in the_while(kernel).outs] == ["b", "a", "i"]
    assert interpret.run(kernel, [1.5], [53, 53, 53]).results == [1.5 + 2 + 4 + 8 + 16]


def test_unread_straight_line_values_stay() -> None:
    kernel = parse_fpcore("(FPCore (x) :pre (<= 1 x 2) (let ([u (sqrt x)]) (* x 3)))",
                          "unread.fpcore")
    assert [s.op for s in kernel.sites] == ["sqrt", "mul"]
