"""An FPCore whose result is `(array e ...)` (in the body, or at the end of let, let*,
while, while*, !) is a kernel with an output array, exactly as the C kernel that writes
`out[k]`: the same sites and results (docs/fpbench.md). An array anywhere else is refused
at the form."""

from __future__ import annotations

import pytest
from helpers import kernel

from precisec.errors import PrecisecError
from precisec.frontend.fpcore import parse_fpcore
from precisec.semantics import interpret

PAIR_FPCORE = """(FPCore (x y) :pre (and (<= 0 x 1) (<= 0 y 1))
 (let ([s (+ x y)]) (while* (< i 3) ([i 0 (+ i 1)] [a s (* a x)]) (array a (* x y)))))"""
PAIR_C = """#pragma precisec range(x, 0, 1)
#pragma precisec range(y, 0, 1)
void pair(double x, double y, double out[2])
{
    double s = x + y;
    double i = 0.0;
    double a = s;
    while (i < 3.0) {
        i = i + 1.0;
        a = a * x;
    }
    out[0] = a;
    out[1] = x * y;
}
"""


def test_an_array_result_is_the_c_kernels_output_array() -> None:
    from_fpcore = parse_fpcore(PAIR_FPCORE, "pair.fpcore")
    from_c = kernel(PAIR_C, "pair.c")
    assert not from_fpcore.returns and from_fpcore.result_labels == ("out[0]", "out[1]")
    assert [s.op for s in from_fpcore.sites] == [s.op for s in from_c.sites]
    for point, bits in (([0.5, 0.25], [53] * 4), ([0.9, 0.1], [10, 20, 30, 40])):
        fpcore_run = interpret.run(from_fpcore, point, bits)
        assert fpcore_run.results == interpret.run(from_c, point, bits).results
    assert interpret.run(from_fpcore, [0.5, 0.25], [53] * 4).results == [0.75 / 8, 0.125]


def test_the_output_array_avoids_an_argument_named_out() -> None:
    kernel = parse_fpcore("(FPCore (out) :pre (<= 0 out 1) (array out (* 2 out)))", "o.fpcore")
    assert [o.name for o in kernel.outputs] == ["out_2"]


@pytest.mark.parametrize(("text", "message"), [
    ("(FPCore (x) :pre (<= 0 x 1) (+ (array x x) 1))", "only supported as the FPCore's"),
    ("(FPCore (x) :pre (<= 0 x 1) (if (< x 1) (array x x) (array x 1)))",
     "only supported as the FPCore's"),
    ("(FPCore (x) :pre (<= 0 x 1) (array))", "at least one element"),
])
def test_arrays_elsewhere_are_refused_at_the_form(text: str, message: str) -> None:
    with pytest.raises(PrecisecError) as caught:
        parse_fpcore(text, "a.fpcore")
    assert caught.value.loc.col == text.index("(array") + 1
    assert message in caught.value.message
