"""The sound bound and the worst-case target through the one flow (docs/method.md §8–9):
the tuned file states its bound and which guarantee it carries; with a maxerr target the
bound meets it, below double; the native backend refuses it."""

from __future__ import annotations

import pytest
from helpers import benchmark

from precisec import flow
from precisec.errors import PrecisecError
from precisec.semantics.bound import bound

OPTIONS = flow.Options(samples=2000)


def test_an_rmse_tuning_reports_the_sound_bound_of_its_file() -> None:
    kernel = benchmark("doppler1")
    result = flow.run(kernel, 1.82e-13, "doppler1.c", OPTIONS)
    assert result.bound is not None and result.bound.value is not None
    assert result.maxerr is None and result.worst_case is None and result.within_maxerr
    assert result.bound.value == bound(kernel, result.bits).value
    assert "guarantee: the measured target above; sound bound" in result.text
    assert f"{result.bound.value:.3e} on the worst-case error over the input box" in result.text


def test_a_maxerr_tuning_is_proved_within_target_below_double() -> None:
    kernel = benchmark("rigidBody1")
    target = 3.86e-13
    result = flow.run(kernel, target, "rigidBody1.c", OPTIONS, maxerr=target)
    assert result.bound is not None and result.bound.value is not None
    assert result.bound.value <= target and result.within_maxerr and result.within_target
    assert bound(kernel, result.bits).value <= target  # type: ignore[operator]
    assert result.worst_case is not None and result.worst_case.floor is not None
    assert sum(result.bits) / len(result.bits) < 53
    assert f"guarantee: worst case, target maxerr {target:.3e}" in result.text
    assert result.verification.measurement.max_error <= result.bound.value


def test_maxerr_needs_the_mpfr_backend() -> None:
    with pytest.raises(PrecisecError, match="maxerr target needs --backend mpfr"):
        flow.run(benchmark("verhulst"), 3.79e-16, "verhulst.c",
                 flow.Options(samples=2000, backend="native"), maxerr=3.79e-16)
