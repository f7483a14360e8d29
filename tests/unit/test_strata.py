"""Stratified validation inputs for rare branch regions (precisec.tune.strata) and the
stratified estimates they need (precisec.tune.metrics.Strata)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import RARE_BRANCH, kernel

from precisec.semantics.compiled import Evaluator
from precisec.tune.coverage import MIN_EXECUTIONS, site_coverage, site_executions
from precisec.tune.metrics import Measurement, Strata
from precisec.tune.samples import Sample
from precisec.tune.strata import (
    MAX_STRATA,
    STRATUM_SAMPLES,
    reaching_cells,
    share,
    stratify,
)

BRANCH = [0, 1, 2]  # the three operations of RARE_BRANCH's then side (line 6)

DEAD = RARE_BRANCH.replace("x < 1e-5", "x > 20.0")

WHILE = """\
#pragma precisec range(x, 0, 10)
#pragma precisec rmse(1e-12)
double rare(double x) {
    double y;
    double s = x;
    while (s > 1.0) {
        s = s * 0.5;
    }
    if (x < 1e-5) {
        y = (x + 1.0) * (x - 3.0);
    } else {
        y = x * 2.0 + s;
    }
    return y;
}
"""

DISC = """\
#pragma precisec range(x, -1, 1)
#pragma precisec range(y, -1, 1)
#pragma precisec rmse(1e-12)
double disc(double x, double y) {
    double z;
    if (x * x + y * y < 1e-6) {
        z = (x + 2.0) * (y + 3.0);
    } else {
        z = x - y;
    }
    return z;
}
"""


def test_the_cells_lie_in_the_branch_region_and_the_first_takes_it_everywhere() -> None:
    k = kernel(RARE_BRANCH)
    assert [s.loc.line for s in np.array(k.sites)[BRANCH]] == [6, 6, 6]
    cells = reaching_cells(k, BRANCH)
    assert cells and all(lo >= 0 and hi <= 2e-5 for (lo, hi), in cells)
    (lo, hi), = cells[0]
    assert lo == 0.0 and 0 < hi < 1e-5  # largest first: certainly x < 1e-5
    assert any(lo < 1e-5 < hi for (lo, hi), in cells)  # the boundary is kept too


@pytest.mark.parametrize("source", [DEAD, WHILE])
def test_nothing_is_found_for_dead_code_or_while_loops(source: str) -> None:
    k = kernel(source)
    line = 6 if source is DEAD else 10  # the rare then side
    wanted = [i for i, s in enumerate(k.sites) if s.loc.line == line]
    assert wanted and reaching_cells(k, wanted) == []


def test_a_two_dimensional_region_is_found() -> None:
    k = kernel(DISC)
    wanted = [i for i, s in enumerate(k.sites) if s.loc.line == 7]
    cells = reaching_cells(k, wanted)
    assert cells
    for cell in cells:
        assert all(-2e-3 <= lo < hi <= 2e-3 for lo, hi in cell), cell


def test_a_long_boundary_is_one_stratum_and_the_probability_holds(
        toolchain_available: bool) -> None:
    """The disc's boundary leaves more sub-boxes than strata: the smaller ones are sampled
    together, so P(x² + y² < 1e-6) = π/4·1e-6 on [-1, 1]² is still estimated well."""
    k = kernel(DISC)
    wanted = [i for i, s in enumerate(k.sites) if s.loc.line == 7]
    assert len(reaching_cells(k, wanted)) > MAX_STRATA
    with Evaluator(k) as evaluator:
        sample = stratify(evaluator, Sample.draw(evaluator, 2000, 6), 6)
    strata = sample.metric.strata
    assert strata is not None and len(strata.probabilities) == MAX_STRATA + 1
    counts, shares = site_coverage(k, sample.inputs, sample.reference, strata.weights())
    assert all(counts[wanted] >= MIN_EXECUTIONS)
    assert np.allclose(shares[wanted], np.pi / 4 * 1e-6, rtol=0.05)


def test_stratify_covers_the_branch_and_estimates_its_probability(
        toolchain_available: bool) -> None:
    k = kernel(RARE_BRANCH)
    with Evaluator(k) as evaluator:
        plain = Sample.draw(evaluator, 3000, 4)
        sample = stratify(evaluator, plain, 4)
        again = stratify(evaluator, Sample.draw(evaluator, 3000, 4), 4)
    strata = sample.metric.strata
    assert strata is not None and strata.drawn == 3000 and strata.sites == tuple(BRANCH)
    np.testing.assert_array_equal(sample.inputs[:3000], plain.inputs)
    np.testing.assert_array_equal(sample.drawn, plain.inputs)
    np.testing.assert_array_equal(sample.inputs, again.inputs)  # deterministic
    assert len(sample.inputs) - 3000 == STRATUM_SAMPLES * (len(strata.probabilities) - 1)
    assert np.isclose(np.sum(strata.probabilities), 1.0)
    assert np.isclose(np.sum(strata.weights()), 1.0)
    counts, shares = site_coverage(k, sample.inputs, sample.reference, strata.weights())
    assert all(site_executions(k, plain.inputs, plain.reference)[BRANCH] < MIN_EXECUTIONS)
    assert all(counts[BRANCH] >= MIN_EXECUTIONS)
    # P(x < 1e-5) on [0, 10] is 1e-6; the plain draw alone estimates 0
    assert np.allclose(shares[BRANCH], 1e-6, rtol=0.1)
    assert np.allclose(shares[3:], 1.0)


def test_a_kernel_that_needs_no_strata_keeps_its_sample(toolchain_available: bool) -> None:
    k = kernel("#pragma precisec range(x, 0, 1)\ndouble f(double x) {\n"
               "    if (x < 0.5) {\n        x = x * 3.0;\n    }\n    return x;\n}\n")
    with Evaluator(k) as evaluator:
        sample = Sample.draw(evaluator, 500, 2)
        assert stratify(evaluator, sample, 2) is sample


def test_the_stratified_mean_weighs_each_stratum_by_its_probability() -> None:
    # stratum 0 (probability 0.9): figures 1, 3; stratum 1 (0.1): 10, 20, 30
    figures = np.array([1.0, 3.0, 10.0, 20.0, 30.0])
    strata = Strata(np.array([0, 0, 1, 1, 1]), np.array([0.9, 0.1]), 2)
    mean, error = strata.mean(figures)
    assert mean == pytest.approx(0.9 * 2.0 + 0.1 * 20.0)
    assert error == pytest.approx(np.sqrt(0.81 * 1.0 / 2 + 0.01 * (200 / 3) / 3))
    measured = Measurement.of(np.sqrt(figures), "rmse", strata)
    assert measured.value == pytest.approx(np.sqrt(mean))
    assert measured.standard_error == pytest.approx(error)
    assert strata.subset(np.array([0, 2, 3])).drawn == 1


def test_the_stratified_mean_is_unbiased_for_the_uniform_distribution() -> None:
    """Independent stratified estimates of E[f] for uniform x on [0, 1], with a rare
    stratum [0, 1e-3) where f is huge: their average is E[f] within its standard error,
    and they spread far less than plain means of as many points."""
    rng = np.random.default_rng(3)

    def f(x: np.ndarray) -> np.ndarray:
        return np.where(x < 1e-3, 1e9 * x, x)

    exact = 1e-3 * 0.5e6 + (1 - 1e-6) / 2
    estimates, plain = [], []
    for _ in range(400):
        drawn = rng.random(500)
        x = np.concatenate([drawn, rng.random(50) * 1e-3])
        labels = np.concatenate([(drawn < 1e-3).astype(int), np.ones(50, int)])
        strata = Strata(labels, np.array([1 - 1e-3, 1e-3]), 500)
        estimates.append(float(strata.mean(f(x))[0]))
        plain.append(float(np.mean(f(rng.random(550)))))
    assert abs(np.mean(estimates) - exact) < 4 * np.std(estimates) / np.sqrt(400)
    assert np.std(estimates) < 0.2 * np.std(plain)


def test_shares_of_extreme_boxes() -> None:
    """Volumes near ±DBL_MAX (widths overflow) and of subnormal boxes (halves underflow)."""
    huge = ((-1.7e308, 1.7e308),)
    assert share(((0.0, 1.7e308),), huge) == 0.5
    tiny = ((0.0, 5e-324),)
    assert share(tiny, tiny) == 1.0
    assert share(((0.0, 1.0), (2.0, 2.0)), ((0.0, 4.0), (2.0, 2.0))) == 0.25
