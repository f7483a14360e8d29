"""End to end: an FPCore with an `(array e ...)` result is tuned, emitted as C that writes
its output array, and meets its target over both results in compiled C."""

from __future__ import annotations

import pytest

from precisec import flow
from precisec.frontend.fpcore import parse_fpcore

ROTATION = """(FPCore (x y) :pre (and (<= 0 x 1) (<= 0 y 1))
 (let ([c 0.8] [s 0.6]) (array (- (* c x) (* s y)) (+ (* s x) (* c y)))))"""


@pytest.mark.slow
def test_an_array_result_tunes_and_verifies_over_both_elements() -> None:
    kernel = parse_fpcore(ROTATION, "rotation.fpcore")
    result = flow.run(kernel, 1e-10, "rotation.fpcore", flow.Options(samples=500))
    assert result.within_target
    assert max(result.bits) < 53
    assert "double out[2])" in result.text
    measured = result.verification.measurement
    assert measured.count == 500 and 0 < measured.value <= 1e-10
