"""Which sites the validation sample executes (precisec.tune.coverage), checked against
branch conditions computed directly from the inputs."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import EXAMPLES, kernel

from precisec.frontend.c import load_c
from precisec.semantics.compiled import Evaluator
from precisec.tune.coverage import MIN_EXECUTIONS, keep_baseline, site_executions, under_sampled
from precisec.tune.refine import Measurement, Refinement
from precisec.tune.samples import Sample

RARE = """\
#pragma precisec range(x, 0, 10)
#pragma precisec rmse(1e-12)
double rare(double x) {
    double y;
    if (x < 1e-5) {
        y = (x + 1.0) * (x - 3.0);
    } else {
        y = x * 2.0 + 1.0;
    }
    return y;
}
"""


def sites_at(k, line: int) -> list[int]:
    return [i for i, site in enumerate(k.sites) if site.loc.line == line]


def test_piecewise_counts_follow_the_branch_conditions(toolchain_available: bool) -> None:
    k = load_c(EXAMPLES / "piecewise.c")
    with Evaluator(k) as evaluator:
        sample = Sample.draw(evaluator, 2000, 5)
    counts = site_executions(k, sample.inputs, sample.reference)
    x = sample.inputs[:, 0]
    expected = {8: np.sum(x < 0), 10: np.sum((x >= 0) & (x <= 2)), 12: np.sum(x > 2),
                15: np.sum(x > 5)}
    for line, count in expected.items():
        for site in sites_at(k, line):
            assert counts[site] == count, (line, k.sites[site])
    assert min(expected.values()) > 0 and max(expected.values()) < len(x)


def test_a_branch_no_input_takes_is_under_sampled(toolchain_available: bool) -> None:
    k = kernel(RARE)
    with Evaluator(k) as evaluator:
        sample = Sample.draw(evaluator, 3000, 1)
    counts = site_executions(k, sample.inputs, sample.reference)
    assert list(under_sampled(counts)) == sites_at(k, 6)
    assert all(counts[s] == 3000 for s in sites_at(k, 8))


def test_a_kernel_without_branches_runs_every_site_on_every_input() -> None:
    k = kernel("#pragma precisec range(x, 0, 1)\n"
               "double f(double x) {\n    return x * x + 1.0;\n}\n")
    reference = type("R", (), {"branches": None})()
    counts = site_executions(k, np.zeros((7, 1)), reference)  # type: ignore[arg-type]
    assert list(counts) == [7, 7]


@pytest.mark.parametrize("allow", [False, True])
def test_keep_baseline_raises_only_under_sampled_sites(allow: bool) -> None:
    measured: list[tuple[int, ...]] = []

    def measure(bits: tuple[int, ...]) -> Measurement:
        measured.append(bits)
        return refinement.validation

    refinement = Refinement((2, 9, 60), 0, 0, None, 1)  # type: ignore[arg-type]
    counts = np.array([MIN_EXECUTIONS - 1, MIN_EXECUTIONS, 0])
    kept, sites = keep_baseline(refinement, counts, 53, allow, measure)
    assert sites == (0, 2)
    assert kept.bits == ((2, 9, 60) if allow else (53, 9, 60))
    assert measured == ([] if allow else [(53, 9, 60)])
