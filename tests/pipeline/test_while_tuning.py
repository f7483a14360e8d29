"""End to end: a while loop tuned, emitted as a real C loop, and verified in compiled C
against the exact reference, trip counts included (docs/method.md §1)."""

from __future__ import annotations

import pytest
from while_kernels import SERIES_C

from precisec import flow
from precisec.frontend.c import load_c


@pytest.mark.slow
def test_a_series_summed_until_its_term_is_small_tunes_and_verifies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """exp(x) by its series until the term is below 1e-17: the sum is tuned below double
    (the term and the counter feed the loop's test, so they keep 53 bits), and the
    compiled C meets 1e-12 on the fresh test sample with the exact program's trip counts."""
    path = tmp_path / "series.c"
    path.write_text(SERIES_C)
    kernel = load_c(path)
    result = flow.run(kernel, 1e-12, str(path), flow.Options(samples=2000))
    assert result.within_target
    assert result.bits[0] < 53 and list(result.bits[1:]) == [53, 53, 53]
    assert "for (pc_trips_" in result.text and "its hard cap" in result.text
    assert result.verification.trip_divergence is not None
    assert result.verification.trip_divergence < 0.01
