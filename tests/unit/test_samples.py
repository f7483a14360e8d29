"""Input samples (docs/method.md §3): in the range box, reproducible from their seed, floats
for float kernels, and the box's corners and centre checked before sampling."""

from __future__ import annotations

import numpy as np
from helpers import kernel
from hypothesis import given, settings
from hypothesis import strategies as st

from precisec.tune.samples import box_corners, sample_inputs

FLOAT_KERNEL = """\
#pragma precisec range(a, 0.1, 0.7)
#pragma precisec range(w[], -3, 3)
float f(float a, const float w[2]) {
    return a * w[0] + w[1];
}
"""


@settings(max_examples=30)
@given(lo=st.floats(-1e6, 1e6), width=st.floats(0, 1e6), seed=st.integers(0, 2**31))
def test_samples_are_in_the_box_and_reproducible(lo: float, width: float, seed: int) -> None:
    hi = lo + width
    k = kernel(f"#pragma precisec range(x, {lo!r}, {hi!r})\n"
               "#pragma precisec range(y, -1, 1)\n"
               "double f(double x, double y) {\n    return x + y;\n}\n")
    sample = sample_inputs(k, 50, seed)
    assert sample.shape == (50, 2)
    assert np.all((sample[:, 0] >= lo) & (sample[:, 0] <= hi))
    assert np.all((sample[:, 1] >= -1) & (sample[:, 1] <= 1))
    np.testing.assert_array_equal(sample, sample_inputs(k, 50, seed))


def test_ranges_near_the_largest_double_do_not_overflow() -> None:
    k = kernel("#pragma precisec range(x, -1.7e308, 1.7e308)\n"
               "double f(double x) {\n    return x * 0.5;\n}\n")
    sample = sample_inputs(k, 1000, seed=1)
    assert np.all(np.isfinite(sample)) and np.all(np.abs(sample) <= 1.7e308)
    assert sample.min() < -1e307 and sample.max() > 1e307


def test_float_kernels_sample_floats_in_the_box() -> None:
    k = kernel(FLOAT_KERNEL)
    assert k.input_labels == ("a", "w[0]", "w[1]")
    sample = sample_inputs(k, 500, seed=2)
    np.testing.assert_array_equal(sample, sample.astype(np.float32).astype(np.float64))
    assert np.all((sample[:, 0] >= np.float32(0.1)) & (sample[:, 0] <= np.float32(0.7)))
    assert np.all(np.abs(sample[:, 1:]) <= 3)


def test_box_corners_and_centre() -> None:
    k = kernel(FLOAT_KERNEL)
    corners = box_corners(k)
    assert corners.shape == (2**3 + 1, 3)
    assert {tuple(row) for row in corners[:-1]} == {
        (a, b, c) for a in (0.1, 0.7) for b in (-3.0, 3.0) for c in (-3.0, 3.0)}
    np.testing.assert_array_equal(corners[-1], [0.1 / 2 + 0.7 / 2, 0.0, 0.0])
    assert len(box_corners(k, limit=4)) == 5
