"""The smallest uniform precision is searched above the refinement floor
(`coverage.floor`): a while loop's counter feeds its test, so it keeps the baseline there
too, and a low uniform precision cannot stall the counter and run the loop to its cap
(docs/method.md §1, §4). The same loop from the FPCore and the C frontend."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import kernel as c_kernel

from precisec.frontend.fpcore import parse_fpcore
from precisec.ir import Kernel
from precisec.semantics.compiled import Evaluator
from precisec.tune.coverage import condition_sites
from precisec.tune.samples import Sample
from precisec.tune.tuner import analyze

# Ten halvings counted by a real counter: at 2 bits, 4 + 1 rounds back to 4 and the
# loop would only stop at its 10^6-iteration cap.
HALVINGS_FPCORE = """(FPCore (x) :pre (<= 1 x 2)
 (while (< i 10) ([y x (* y 0.5)] [i 0 (+ i 1)]) y))"""
HALVINGS_C = """#pragma precisec range(x, 1, 2)
double halvings(double x)
{
    double y = x;
    double i = 0.0;
    while (i < 10.0) {
        y = y * 0.5;
        i = i + 1.0;
    }
    return y;
}
"""


def halvings(frontend: str) -> Kernel:
    return parse_fpcore(HALVINGS_FPCORE, "halvings.fpcore") if frontend == "fpcore" \
        else c_kernel(HALVINGS_C, "halvings.c")


@pytest.mark.parametrize("frontend", ["fpcore", "c"])
def test_the_uniform_search_keeps_the_loop_counter_at_the_baseline(frontend: str) -> None:
    kernel = halvings(frontend)
    counter = np.flatnonzero(condition_sites(kernel))
    assert len(counter) == 1
    tried: list[tuple[int, ...]] = []
    with Evaluator(kernel) as evaluator:
        sample = Sample.draw(evaluator, 200, 1)
        emulate = evaluator.emulate

        def recording(bits, inputs, **kw):  # type: ignore[no-untyped-def]
            tried.append(tuple(bits))
            return emulate(bits, inputs, **kw)

        evaluator.emulate = recording  # type: ignore[method-assign]
        analysis = analyze(evaluator, 1e-12, sample)
    assert analysis.uniform_bits is not None and analysis.uniform_bits < 40
    lowered = [bits for bits in tried if bits[1 - counter[0]] < 53]
    assert len(lowered) > 2 and all(bits[counter[0]] == 53 for bits in lowered)

