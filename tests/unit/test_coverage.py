"""Which sites the validation sample executes (precisec.tune.coverage), checked against
branch conditions computed directly from the inputs."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import EXAMPLES, RARE_BRANCH, kernel

from precisec.frontend.c import load_c
from precisec.semantics.compiled import Evaluator
from precisec.tune.coverage import (
    MIN_EXECUTIONS,
    condition_sites,
    floor,
    site_executions,
    under_sampled,
)
from precisec.tune.samples import Sample


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
    k = kernel(RARE_BRANCH)
    with Evaluator(k) as evaluator:
        sample = Sample.draw(evaluator, 3000, 1)
    counts = site_executions(k, sample.inputs, sample.reference)
    assert list(under_sampled(counts)) == sites_at(k, 6)
    assert all(counts[s] == 3000 for s in sites_at(k, 8))


def test_a_kernel_without_branches_runs_every_site_on_every_input() -> None:
    k = kernel("#pragma precisec range(x, 0, 1)\n"
               "double f(double x) {\n    return x * x + 1.0;\n}\n")
    reference = type("R", (), {"branches": None, "trips": None})()
    counts = site_executions(k, np.zeros((7, 1)), reference)  # type: ignore[arg-type]
    assert list(counts) == [7, 7]


FLIP = """\
#pragma precisec range(x, 0, 10)
#pragma precisec rmse(1e-14)
double flip(double x) {
    double y;
    double s = 0.0;
    for (int i = 0; i < 3; i++) {
        s = s + x * 0.25;
    }
    if (x * x - s >= 0.0) {
        y = x * 0.5 + 1.0;
    } else {
        y = x * 0.5 - 1.0;
    }
    return y;
}
"""


def test_condition_sites_are_those_the_comparison_depends_on() -> None:
    k = kernel(FLIP)
    marked = {(k.sites[i].loc.line, k.sites[i].op) for i in np.flatnonzero(condition_sites(k))}
    # the loop's add and mul feed s, which the condition subtracts
    assert marked == {(7, "add"), (7, "mul"), (9, "mul"), (9, "sub")}


@pytest.mark.parametrize(("allow", "conditions"), [(False, False), (True, False),
                                                    (False, True)])
def test_the_floor_keeps_the_baseline_where_asked(allow: bool, conditions: bool) -> None:
    k = kernel(FLIP)
    counts = np.full(len(k.sites), 100)
    late = sites_at(k, 10)
    counts[late] = MIN_EXECUTIONS - 1
    least = floor(k, counts, allow, conditions)
    assert least.unsampled == tuple(late)
    assert set(least.conditions) == set(np.flatnonzero(condition_sites(k)))
    for site in range(len(k.sites)):
        kept = (site in late and not allow) or (site in least.conditions and not conditions)
        assert least.bits[site] == (53 if kept else 1), k.sites[site]
