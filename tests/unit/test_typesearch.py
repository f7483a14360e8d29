"""The type-level search (precisec.tune.typesearch) and the casts it counts
(precisec.backend.casts): snapping, costs, casts as emitted, and the search's guarantees
on small kernels against exact emulation with cast semantics."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from precisec.backend.casts import NativeTypes
from precisec.backend.formats import DOUBLE, FLOAT, FLOAT128, FORMATS, LONG_DOUBLE
from precisec.backend.native import emit_native
from precisec.errors import PrecisecError
from precisec.frontend.c import load_c
from precisec.ir import executions
from precisec.semantics.compiled import Evaluator
from precisec.tune.samples import Sample, validation_seed
from precisec.tune.tuner import analyze
from precisec.tune.typesearch import (
    CostModel,
    Space,
    bits_of,
    format_counts,
    optimum_start,
    search_types,
    snap,
    uniform,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = 2000
# A cast in the emitted C: a conversion into a hardware format (no other casts are
# written for these kernels, which convert no integers to reals).
CAST = re.compile(r"\((?:float|double|long double|__float128)\) ")


def kernel(path: str):
    return load_c(ROOT / path)


def emitted_casts(k, formats) -> int:
    return len(CAST.findall(emit_native(k, formats, ["test"])))


def cost(k, formats, model: CostModel | None = None) -> float:
    return (model or CostModel()).cost(NativeTypes(k, formats), executions(k))


# -- snapping, counting, costs --------------------------------------------------------------

def test_snap_takes_the_cheapest_covering_format() -> None:
    k = kernel("benchmarks_fptuner/verhulst.c")
    for bits, fmt in [(2, FLOAT), (24, FLOAT), (25, DOUBLE), (53, DOUBLE), (54, LONG_DOUBLE),
                      (64, LONG_DOUBLE), (65, FLOAT128), (113, FLOAT128)]:
        assert snap(k, [bits] * len(k.sites), FORMATS) == uniform(k, fmt)
    with pytest.raises(PrecisecError, match="more than any hardware format") as error:
        snap(k, [20, 114, 20, 20], FORMATS)
    assert error.value.loc == k.sites[1].loc
    assert snap(k, [30, 20, 60, 20], (FLOAT, DOUBLE, FLOAT128))[2] is FLOAT128


@pytest.mark.parametrize("path", ["examples/euler.c", "examples/piecewise.c",
                                  "examples/matvec.c", "benchmarks_fptuner/jet.c"])
@given(choice=st.lists(st.integers(0, len(FORMATS) - 1), min_size=30, max_size=30))
def test_counted_casts_are_the_emitted_ones(path: str, choice: list[int]) -> None:
    """Loops (carried values cast each iteration), branches (merged values), arrays (a
    wider output array copied back): every counted cast is one cast in the C text."""
    k = kernel(path)
    formats = tuple(FORMATS[c] for c in choice[:len(k.sites)])
    assert len(NativeTypes(k, formats).casts) == emitted_casts(k, formats)


def test_casts_of_a_loop_kernel() -> None:
    """All float: the carried x and v stay double (they start as inputs), so each
    iteration converts them to float and back; mu once; h (`const double h = 0.05`, a
    double variable) once; the final x, v and the result."""
    k = kernel("examples/euler.c")
    types = NativeTypes(k, uniform(k, FLOAT))
    casts = sorted((c.value.hint, c.fmt.name, c.boundary, c.times) for c in types.casts)
    assert casts == sorted([
        ("mu", "float", True, 1), ("h", "float", False, 1),
        ("x", "float", False, 12), ("v", "float", False, 12),
        ("x", "double", False, 12), ("v", "double", False, 12), ("x", "float", False, 1),
        ("v", "float", False, 1), ("return", "double", True, 1)])
    assert NativeTypes(k, uniform(k, DOUBLE)).casts == ()
    assert cost(k, uniform(k, FLOAT)) == 12 * 9 + 3 + 1 + 4 * 4 * 12 + 4 * 2 + 1 + 4
    assert cost(k, uniform(k, DOUBLE)) == 2 * (12 * 9 + 3)


def test_casts_of_a_branch_kernel() -> None:
    """All float: x once for every side, the result once; the merged y is float."""
    k = kernel("examples/piecewise.c")
    assert len(NativeTypes(k, uniform(k, FLOAT)).casts) == 2 == emitted_casts(
        k, uniform(k, FLOAT))
    # One side in double: its merged value is double, read back by a float site.
    mixed = tuple(DOUBLE if site < 4 else FLOAT for site in range(len(k.sites)))
    names = {(c.value.hint, c.fmt.name) for c in NativeTypes(k, mixed).casts}
    assert ("y", "float") in names and ("x", "float") in names


def test_straight_line_casts_match_the_old_backend() -> None:
    """jet (docs/native.md): all float converts x1, x2 and the result; one float product
    in a double kernel converts x1 to float and the product back."""
    k = kernel("benchmarks_fptuner/jet.c")
    assert len(NativeTypes(k, uniform(k, DOUBLE)).casts) == 0
    assert len(NativeTypes(k, uniform(k, FLOAT)).casts) == 3
    assert len(NativeTypes(k, (FLOAT, *uniform(k, DOUBLE)[1:])).casts) == 2


def test_float_kernel_in_float_has_no_casts() -> None:
    k = kernel("examples/saxpy_float.c")
    assert NativeTypes(k, uniform(k, FLOAT)).casts == ()
    assert cost(k, uniform(k, FLOAT)) < cost(k, uniform(k, DOUBLE))


def test_cost_grows_with_precision_and_loops_weigh_their_trips() -> None:
    k = kernel("benchmarks_fptuner/sine.c")
    costs = [cost(k, uniform(k, f)) for f in FORMATS]
    assert costs == sorted(costs) and np.isfinite(costs[-1])
    loop = kernel("examples/euler.c")
    inside = tuple(FLOAT if site == 0 else DOUBLE for site in range(len(loop.sites)))
    after = tuple(FLOAT if site == 9 else DOUBLE for site in range(len(loop.sites)))
    assert cost(loop, inside) > cost(loop, after)
    free = CostModel(cast=0.0, boundary_cast=0.0)
    assert cost(k, uniform(k, FLOAT), free) == len(k.sites)


def test_format_counts() -> None:
    assert format_counts((FLOAT, DOUBLE, FLOAT)) == {"float": 2, "double": 1}


# -- the search ---------------------------------------------------------------------------

class Setup:
    """A kernel's evaluator, validation sample and first-order start."""

    def __init__(self, path: str, target: float) -> None:
        self.kernel = kernel(path)
        self.target = target
        self.evaluator = Evaluator(self.kernel)
        self.sample = Sample.draw(self.evaluator, SAMPLES, validation_seed(0))
        self.analysis = analyze(self.evaluator, target, self.sample)
        self.start = optimum_start(self.analysis)

    def search(self, target: float | None = None, **options):
        return search_types(self.evaluator, target or self.target, self.start,
                            self.analysis.sensitivities, self.sample, **options)

    def accepted(self, formats, target: float | None = None) -> bool:
        outputs = self.evaluator.emulate(bits_of(formats), self.sample.inputs,
                                         round_arguments=True).outputs
        return self.sample.measure(outputs).accepts(target or self.target)


@pytest.fixture(scope="module")
def verhulst():
    setup = Setup("benchmarks_fptuner/verhulst.c", 3e-9)
    yield setup
    setup.evaluator.close()


@pytest.fixture(scope="module")
def jet():
    setup = Setup("benchmarks_fptuner/jet.c", 1e-2)
    yield setup
    setup.evaluator.close()


def test_search_is_accepted_and_no_costlier_than_the_snapped_start(verhulst, jet) -> None:
    for setup in (verhulst, jet):
        result = setup.search()
        k = setup.kernel
        assert result.validation.accepts(setup.target)
        assert setup.accepted(result.formats)
        assert result.casts == len(NativeTypes(k, result.formats).casts)
        assert result.cost == cost(k, result.formats)
        if result.snapped_validation.accepts(setup.target):
            assert result.cost <= cost(k, result.snapped)
        assert result.method in ("greedy", "exact")
        assert result.emulations >= 1


@pytest.mark.parametrize(("target", "model", "mixed"), [
    (3e-9, CostModel(), False), (2e-8, CostModel(cast=0.5, boundary_cast=0.5), True)])
def test_exact_search_finds_the_cheapest_on_a_tiny_kernel(verhulst, target: float,
                                                           model: CostModel,
                                                           mixed: bool) -> None:
    """verhulst (4 sites): the search's cost is that of the cheapest accepted assignment
    over {float, double}, found by emulating all 16 (with cheap casts, a mixture)."""
    result = verhulst.search(target, cost_model=model)
    assert result.method == "exact"
    k = verhulst.kernel
    accepted = [a for a in itertools.product((FLOAT, DOUBLE), repeat=len(k.sites))
                if verhulst.accepted(a, target)]
    assert result.cost == min(cost(k, a, model) for a in accepted)
    assert (len(set(result.formats)) > 1) == mixed


def test_max_casts_is_respected(jet) -> None:
    free = jet.search()
    assert free.formats == uniform(jet.kernel, FLOAT) and free.casts == 3
    for cap in (0, 1, 3):
        capped = jet.search(max_casts=cap)
        assert capped.casts <= cap
        assert capped.casts == len(NativeTypes(jet.kernel, capped.formats).casts)
        assert capped.validation.accepts(jet.target)
        assert capped.cost >= free.cost


def test_snap_only_snaps(jet) -> None:
    result = jet.search(method="snap")
    assert result.method == "snap" and result.formats == result.snapped
    assert result.formats == snap(jet.kernel, jet.start)


def test_unreachable_under_the_cast_cap(verhulst) -> None:
    with pytest.raises(PrecisecError, match="at most 0 casts"):
        search_types(verhulst.evaluator, 1e-17, verhulst.start,
                     verhulst.analysis.sensitivities, verhulst.sample, max_casts=0)


def test_a_loop_kernel_prefers_no_casts_when_they_run_every_iteration() -> None:
    """euler: all float passes a loose target, but its carried values are cast in every
    iteration; all double (no casts) is cheaper, and the search finds it."""
    setup = Setup("examples/euler.c", 1e-6)
    try:
        assert setup.accepted(uniform(setup.kernel, FLOAT))
        result = setup.search()
        assert result.formats == uniform(setup.kernel, DOUBLE)
        assert result.cost < cost(setup.kernel, uniform(setup.kernel, FLOAT))
    finally:
        setup.evaluator.close()


def test_moves_stay_inside_the_formats(jet) -> None:
    space = Space(jet.kernel, (FLOAT, DOUBLE), CostModel(), None, jet.analysis.sensitivities)
    start = uniform(jet.kernel, FLOAT)
    assert space.moved(start, 0, -1) is None
    up = space.moved(start, 0, +1)
    assert up is not None and up[0] is DOUBLE and up[1:] == start[1:]
    assert space.moved(uniform(jet.kernel, DOUBLE), 3, +1) is None
