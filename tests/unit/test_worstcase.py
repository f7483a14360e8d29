"""Tuning to a worst-case target (docs/method.md §9): the equal-share start, the search
against the sound bound, refusals, and the maxerr pragma."""

from __future__ import annotations

import math

import pytest
from helpers import kernel, ranges

from precisec.errors import PrecisecError
from precisec.semantics.bound import bound
from precisec.tune.worstcase import equal_share, tune_maxerr

FMA_LIKE = ranges(x=(1, 2), y=(1, 2), z=(1, 2)) + \
    "double f(double x, double y, double z) { return x * y + z; }"


def test_equal_share_splits_the_budget_evenly_among_sites_that_round() -> None:
    # Two sites with M = 4 and one exact site (M = 0): each gets T/2 = 4·2^-p.
    bits = equal_share([4.0, 4.0, 0.0], 0.0, 2.0**-40, 53)
    assert bits == (math.ceil(math.log2(2 * 4 / 2.0**-40)),) * 2 + (53,)


@pytest.mark.slow
def test_tuned_bits_meet_the_target_and_no_site_can_lose_a_bit() -> None:
    k = kernel(FMA_LIKE)
    target = 1e-12
    result = tune_maxerr(k, target)
    assert result.bound.value is not None and result.bound.value <= target
    assert all(b < 53 for b in result.bits)
    for site in range(len(result.bits)):
        lowered = list(result.bits)
        lowered[site] -= 1
        below = bound(k, lowered)
        assert below.value is not None and below.value > target


@pytest.mark.slow
def test_a_floor_is_respected_and_an_acceptance_check_applied() -> None:
    k = kernel(FMA_LIKE)
    floor = (45, 45)
    result = tune_maxerr(k, 1e-12, floor, accepts=lambda bits: min(bits) >= 45)
    assert min(result.bits) >= 45


def test_a_target_below_the_conversion_to_double_is_refused() -> None:
    k = kernel(ranges(x=(1, 2)) + "#include <math.h>\ndouble f(double x) { return exp(x); }")
    with pytest.raises(PrecisecError, match="out of reach: even 512 bits"):
        tune_maxerr(k, 1e-17)


def test_a_kernel_without_a_bound_is_refused_with_the_reason() -> None:
    k = kernel(ranges(x=(0, 1)) + "#include <math.h>\ndouble f(double x) { return log(x); }")
    with pytest.raises(PrecisecError, match="no sound bound"):
        tune_maxerr(k, 1e-10)


def test_maxerr_pragma_is_the_kernels_worst_case_target() -> None:
    k = kernel("#pragma precisec maxerr(2.5e-12)\n#pragma precisec rmse(1e-13)\n" + FMA_LIKE)
    assert k.target_maxerr == 2.5e-12 and k.target_rmse == 1e-13
    assert kernel(FMA_LIKE).target_maxerr is None


@pytest.mark.parametrize(("pragma", "message"), [
    ("maxerr(0)", "maxerr target must be positive"),
    ("maxerr(1, 2)", "maxerr pragma takes 1 argument"),
    ("maxerr(abc)", "maxerr target must be a decimal number"),
])
def test_bad_maxerr_pragmas_are_located_errors(pragma: str, message: str) -> None:
    with pytest.raises(PrecisecError, match=message) as caught:
        kernel(f"#pragma precisec {pragma}\n" + FMA_LIKE)
    assert caught.value.loc.line == 1


def test_second_maxerr_pragma_is_an_error() -> None:
    with pytest.raises(PrecisecError, match="second maxerr pragma") as caught:
        kernel("#pragma precisec maxerr(1e-9)\n#pragma precisec maxerr(1e-10)\n" + FMA_LIKE)
    assert caught.value.loc.line == 2


def test_fpcore_maxerr_property_is_the_worst_case_target() -> None:
    from precisec.frontend.fpcore import parse_fpcore

    core = "(FPCore (x) :pre (<= 1 x 2) :precisec-maxerr {} (* x x))"
    assert parse_fpcore(core.format("1e-15"), "a.fpcore").target_maxerr == 1e-15
    with pytest.raises(PrecisecError, match="`:precisec-maxerr` must be a positive number"):
        parse_fpcore(core.format("-1"), "a.fpcore")
