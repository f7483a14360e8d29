"""Refinement against exact emulation (docs/method.md §4): the result is accepted on the
validation sample, locally minimal, reached from too-low and too-high starts, and holds
on a fresh sample; the acceptance rule, the greedy move paths and the bisection; sample
seeds stay disjoint; an unreachable target is refused before any training."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from helpers import EXAMPLES, benchmark
from hypothesis import given
from hypothesis import strategies as st

from precisec.errors import PrecisecError
from precisec.frontend.c import load_c
from precisec.ir import Kernel
from precisec.semantics import noise
from precisec.semantics.compiled import Evaluator, Reference
from precisec.tune import samples, tuner
from precisec.tune.mapper import MAX_BITS, MIN_BITS, first_order_optimum
from precisec.tune.refine import (
    Z_ACCEPT,
    Measurement,
    MovePath,
    Refinement,
    Reversed,
    first_true,
    refine,
)
from precisec.tune.samples import Sample, validation_seed

# Straight-line benchmarks, and a loop whose 12 sites each run 12 times.
KERNELS = ["rigidBody1", "turbine1", "verhulst", "euler"]
VALIDATION = 3000


def load(name: str) -> Kernel:
    return load_c(EXAMPLES / f"{name}.c") if name == "euler" else benchmark(name)


class Setup:
    """A kernel's evaluator, validation sample and sensitivities."""

    def __init__(self, kernel: Kernel, evaluator: Evaluator) -> None:
        self.kernel, self.evaluator = kernel, evaluator
        self.target = kernel.target_rmse
        self.sample = Sample.draw(evaluator, VALIDATION, seed=101)
        self.sens = noise.sensitivities(kernel, self.sample.inputs)

    def emulate(self, bits: tuple[int, ...]) -> np.ndarray:
        return self.evaluator.emulate(bits, self.sample.inputs).outputs

    def measure(self, bits: np.ndarray | tuple[int, ...]) -> Measurement:
        return self.sample.measure(self.emulate(tuple(int(b) for b in bits)))

    def start(self, bits: int | None = None) -> tuple[int, ...]:
        if bits is None:
            return tuple(int(b) for b in np.ceil(first_order_optimum(self.sens, self.target)))
        return (bits,) * len(self.kernel.sites)

    def refine(self, start: tuple[int, ...]) -> Refinement | None:
        return refine(self.emulate, self.target, start, self.sens, self.sample.reference)


@pytest.fixture(scope="module", params=KERNELS)
def setup(request: pytest.FixtureRequest) -> Iterator[Setup]:
    kernel = load(request.param)
    with Evaluator(kernel) as evaluator:
        yield Setup(kernel, evaluator)


@pytest.fixture(scope="module")
def from_optimum(setup: Setup) -> Refinement:
    result = setup.refine(setup.start())
    assert result is not None
    return result


def test_result_is_accepted_on_the_validation_sample(setup: Setup,
                                                     from_optimum: Refinement) -> None:
    bits = np.array(from_optimum.bits)
    assert len(bits) == len(setup.kernel.sites)
    measured = setup.measure(bits)
    assert measured == from_optimum.validation
    assert measured.accepts(setup.target)
    assert measured.rmse <= setup.target
    assert np.all((bits >= MIN_BITS) & (bits <= MAX_BITS))
    assert from_optimum.emulations >= 1


def test_result_is_locally_minimal(setup: Setup, from_optimum: Refinement) -> None:
    bits = np.array(from_optimum.bits)
    for site in range(len(bits)):
        if bits[site] <= MIN_BITS:
            continue
        lower = bits.copy()
        lower[site] -= 1
        assert not setup.measure(lower).accepts(setup.target), (
            f"site {site} ({setup.kernel.sites[site]}) could lose a bit: {bits.tolist()}")


def test_raising_path_from_too_few_bits(setup: Setup) -> None:
    start = setup.start(30)
    assert not setup.measure(start).accepts(setup.target)
    result = setup.refine(start)
    assert result is not None
    assert result.bits_added > 0
    assert result.validation.accepts(setup.target)
    assert result.bits_added - result.bits_removed == sum(result.bits) - sum(start)


def test_lowering_path_from_too_many_bits(setup: Setup, from_optimum: Refinement) -> None:
    result = setup.refine(setup.start(58))
    assert result is not None
    assert result.bits_removed > 0 and result.bits_added == 0
    assert result.validation.accepts(setup.target)
    # from either side the result is about as good as from the first-order optimum
    assert abs(np.mean(result.bits) - np.mean(from_optimum.bits)) <= 1.0


def test_refinement_is_deterministic(setup: Setup, from_optimum: Refinement) -> None:
    assert setup.refine(setup.start()) == from_optimum


def test_result_holds_on_a_fresh_sample(setup: Setup, from_optimum: Refinement) -> None:
    fresh = Sample.draw(setup.evaluator, 10_000, seed=202)
    outputs = setup.evaluator.emulate(from_optimum.bits, fresh.inputs).outputs
    # accepted with a 3-standard-error margin on 3000 inputs; allow sampling noise
    assert fresh.measure(outputs).rmse <= 1.1 * setup.target


def test_unreachable_target_gives_none() -> None:
    kernel = benchmark("verhulst")
    with Evaluator(kernel) as evaluator:
        sample = Sample.draw(evaluator, 200, seed=3)
        sens = noise.sensitivities(kernel, sample.inputs)
        result = refine(lambda bits: evaluator.emulate(bits, sample.inputs).outputs, 1e-200,
                        (40,) * len(kernel.sites), sens, sample.reference)
    assert result is None


def test_trial_budget_bounds_the_emulations() -> None:
    """The last single-bit pass counts emulations, not time: a budget of 0 stops it."""
    kernel = benchmark("turbine1")
    with Evaluator(kernel) as evaluator:
        sample = Sample.draw(evaluator, 500, seed=4)
        sens = noise.sensitivities(kernel, sample.inputs)
        calls: list[tuple[int, ...]] = []

        def emulate(bits: tuple[int, ...]) -> np.ndarray:
            calls.append(bits)
            return evaluator.emulate(bits, sample.inputs).outputs

        start = (58,) * len(kernel.sites)
        bounded = refine(emulate, kernel.target_rmse, start, sens, sample.reference,
                         max_trials=0)
        counted = len(calls)
        free = refine(emulate, kernel.target_rmse, start, sens, sample.reference)
    assert bounded is not None and free is not None
    assert bounded.emulations == counted == len(set(calls[:counted]))
    assert free.emulations >= bounded.emulations
    assert sum(free.bits) <= sum(bounded.bits)


# -- the acceptance rule and the search's pieces --------------------------------------------

def test_measurement_acceptance_rule() -> None:
    errors = np.array([1.0, -1.0, 3.0, -3.0])
    m = Measurement.of(errors)
    assert m.rmse == pytest.approx(math.sqrt(5.0), rel=1e-12, abs=0)
    assert m.max_error == 3.0
    assert m.count == 4
    assert m.mse_standard_error == pytest.approx(np.std(errors**2) / 2, rel=1e-12, abs=0)
    bound = m.rmse**2 + Z_ACCEPT * m.mse_standard_error
    assert m.accepts(math.sqrt(bound) * (1 + 1e-12))
    assert not m.accepts(math.sqrt(bound) * (1 - 1e-9))


def test_measurement_of_output_arrays_is_over_all_elements() -> None:
    """Rows are samples: the RMSE is over every element, the standard error over the
    samples' mean squares, the count is the samples'."""
    errors = np.array([[1.0, 3.0], [0.0, 2.0], [-2.0, 0.0]])
    m = Measurement.of(errors)
    assert m.rmse == pytest.approx(math.sqrt(np.mean(errors**2)), rel=1e-12, abs=0)
    assert m.max_error == 3.0 and m.count == 3
    rows = np.mean(errors**2, axis=1)
    assert m.mse_standard_error == pytest.approx(np.std(rows) / math.sqrt(3), rel=1e-12, abs=0)


@given(flags=st.integers(0, 40), length=st.integers(0, 40))
def test_first_true_bisects_a_monotone_path(flags: int, length: int) -> None:
    path = [k >= flags for k in range(length)]
    probes: list[int] = []

    def ok(value: bool) -> bool:
        probes.append(value)
        return value

    found = first_true(path, ok)
    assert found == (flags if flags < length else None)
    assert len(probes) <= 2 + math.ceil(math.log2(length + 1))


@given(sens=st.lists(st.floats(1e-6, 1e6), min_size=1, max_size=8),
       start=st.integers(MIN_BITS, 60), step=st.sampled_from([1, -1]),
       length=st.integers(1, 30))
def test_move_paths_take_one_bit_per_move_where_the_model_gains_most(
        sens: list[float], start: int, step: int, length: int) -> None:
    s = np.array(sens)
    bits = np.full(len(s), start)
    path = MovePath(bits, s, step, length)
    assert len(path) <= length
    previous = bits
    for k in range(len(path)):
        now = path[k]
        assert np.sum(np.abs(now - previous)) == 1 and np.sum(now - previous) == step
        assert np.all((now >= MIN_BITS) & (now <= MAX_BITS))
        moved = int(np.flatnonzero(now != previous)[0])
        share = s * 4.0 ** -previous.astype(float)
        movable = previous < MAX_BITS if step > 0 else previous > MIN_BITS
        best = share[movable].max() if step > 0 else share[movable].min()
        assert share[moved] == best
        previous = now
    backwards = Reversed(path)
    assert len(backwards) == len(path)
    for k in range(len(path)):
        assert np.array_equal(backwards[k], path[len(path) - 1 - k])


# -- seeds and the tuner ----------------------------------------------------------------------

@given(a=st.integers(0, 10**9), b=st.integers(0, 10**9))
def test_validation_and_test_samples_never_share_a_seed(a: int, b: int) -> None:
    assert validation_seed(a) != samples.test_seed(b)
    if a != b:
        assert validation_seed(a) != validation_seed(b)
        assert samples.test_seed(a) != samples.test_seed(b)


@pytest.mark.parametrize("target", [1e-30, 1e-200])
def test_unreachable_target_is_refused_before_training(monkeypatch: pytest.MonkeyPatch,
                                                       target: float) -> None:
    """Even 512 bits everywhere cannot beat the rounding of the double result: the
    analysis already shows it, so tune must not spend time training."""

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained for an unreachable target")

    monkeypatch.setattr(tuner, "train", no_training)
    kernel = benchmark("verhulst")
    with Evaluator(kernel) as evaluator:
        sample = Sample.draw(evaluator, 300, seed=1)
        analysis = tuner.analyze(evaluator, target, sample)
        assert analysis.uniform_bits is None
        with pytest.raises(PrecisecError, match="unreachable") as info:
            tuner.tune(evaluator, target, 0, sample, analysis)
    assert info.value.loc == kernel.loc


def test_sites_that_do_not_matter_go_down_to_the_minimum() -> None:
    """Outputs that no precision changes: every allocation is accepted, so the start is
    lowered all the way (the error is the exact result's own rounding, lo)."""
    reference = Reference(np.array([[1.0]]), np.array([[1e-17]]), None, 320)
    refined = refine(lambda bits: np.array([[1.0]]), 1.0, (10,), np.array([1.0]), reference)
    assert refined is not None
    assert refined.validation.rmse == pytest.approx(1e-17, rel=1e-12, abs=0)
    assert refined.bits == (MIN_BITS,)
    assert (refined.bits_added, refined.bits_removed) == (0, 10 - MIN_BITS)
