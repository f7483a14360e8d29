"""Refinement against exact emulation: the result is accepted on the validation sample,
locally minimal, reached from too-low and too-high starts; sample seeds stay disjoint."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import benchmark
from hypothesis import given
from hypothesis import strategies as st

from precisec import noise, pipeline
from precisec.errors import PrecisecError
from precisec.mapper import MAX_BITS, MIN_BITS, first_order_optimum
from precisec.reference import Reference, emulate
from precisec.refine import Z_ACCEPT, Measurement, refine

KERNELS = ["rigidBody1", "turbine1", "verhulst"]
VALIDATION = 3000


class Setup:
    def __init__(self, name: str) -> None:
        self.kernel = benchmark(name)
        self.target = self.kernel.target_rmse
        self.sample = pipeline.Sample.draw(self.kernel, VALIDATION, seed=101)
        self.sens = noise.sensitivities(self.kernel, self.sample.inputs)

    def measure(self, bits: np.ndarray) -> Measurement:
        allocation = dict(zip(self.kernel.rounding_ops, (int(b) for b in bits), strict=True))
        return self.sample.measure(emulate(self.kernel, allocation, self.sample.inputs))

    def start(self, bits: int | None = None) -> dict[int, int]:
        if bits is None:
            optimum = np.ceil(first_order_optimum(self.sens, self.target)).astype(int)
            return dict(zip(self.kernel.rounding_ops, (int(b) for b in optimum), strict=True))
        return dict.fromkeys(self.kernel.rounding_ops, bits)

    def refine(self, start: dict[int, int]):
        return refine(self.kernel, self.target, start, self.sens, self.sample.inputs,
                      self.sample.reference)


@pytest.fixture(scope="module", params=KERNELS)
def setup(request: pytest.FixtureRequest) -> Setup:
    return Setup(request.param)


@pytest.fixture(scope="module")
def from_optimum(setup: Setup):
    return setup.refine(setup.start())


def as_array(setup: Setup, bits: dict[int, int]) -> np.ndarray:
    return np.array([bits[i] for i in setup.kernel.rounding_ops])


def test_result_is_accepted_on_the_validation_sample(setup: Setup, from_optimum) -> None:
    assert from_optimum is not None
    bits = as_array(setup, from_optimum.bits)
    measured = setup.measure(bits)
    assert measured == from_optimum.validation
    assert measured.accepts(setup.target)
    assert measured.rmse <= setup.target
    assert np.all((bits >= MIN_BITS) & (bits <= MAX_BITS))


def test_result_is_locally_minimal(setup: Setup, from_optimum) -> None:
    bits = as_array(setup, from_optimum.bits)
    for op in range(len(bits)):
        if bits[op] <= MIN_BITS:
            continue
        lower = bits.copy()
        lower[op] -= 1
        assert not setup.measure(lower).accepts(setup.target), (
            f"operation {setup.kernel.rounding_ops[op]} could lose a bit: {bits.tolist()}")


def test_raising_path_from_too_few_bits(setup: Setup) -> None:
    start = setup.start(30)
    assert not setup.measure(as_array(setup, start)).accepts(setup.target)
    result = setup.refine(start)
    assert result is not None
    assert result.bits_added > 0
    assert result.validation.accepts(setup.target)
    assert result.bits_added - result.bits_removed == sum(result.bits.values()) - 30 * len(start)


def test_lowering_path_from_too_many_bits(setup: Setup, from_optimum) -> None:
    result = setup.refine(setup.start(58))
    assert result is not None
    assert result.bits_removed > 0 and result.bits_added == 0
    assert result.validation.accepts(setup.target)
    # from either side the result is about as good as from the first-order optimum
    assert abs(np.mean(list(result.bits.values()))
               - np.mean(list(from_optimum.bits.values()))) <= 1.0


def test_refinement_is_deterministic(setup: Setup, from_optimum) -> None:
    again = setup.refine(setup.start())
    assert again.bits == from_optimum.bits


def test_result_holds_on_a_fresh_sample(setup: Setup, from_optimum) -> None:
    fresh = pipeline.Sample.draw(setup.kernel, 10_000, seed=202)
    outputs = emulate(setup.kernel, from_optimum.bits, fresh.inputs)
    # accepted with a 3-standard-error margin on 3000 inputs; allow sampling noise
    assert fresh.measure(outputs).rmse <= 1.1 * setup.target


def test_unreachable_target_gives_none() -> None:
    s = Setup("verhulst")
    reference = Reference(s.sample.reference.hi[:200], s.sample.reference.lo[:200])
    result = refine(s.kernel, 1e-200, s.start(40), s.sens, s.sample.inputs[:200], reference)
    assert result is None


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


# -- seeds and the pipeline ---------------------------------------------------------------

@given(a=st.integers(0, 10**9), b=st.integers(0, 10**9))
def test_validation_and_test_samples_never_share_a_seed(a: int, b: int) -> None:
    assert pipeline.validation_seed(a) != pipeline.test_seed(b)
    if a != b:
        assert pipeline.validation_seed(a) != pipeline.validation_seed(b)
        assert pipeline.test_seed(a) != pipeline.test_seed(b)


def test_unreachable_target_is_detected_before_training(monkeypatch) -> None:
    """Even 512 bits everywhere cannot beat the rounding of the double result: the analysis
    already shows it, so tune must not spend time training (it used to take ~20 s)."""

    def no_training(*args, **kwargs):
        raise AssertionError("trained for an unreachable target")

    monkeypatch.setattr(noise, "train", no_training)
    k = benchmark("verhulst")
    with pytest.raises(PrecisecError, match="unreachable") as info:
        pipeline.tune(k, 1e-200, seed=0, samples=300)
    assert info.value.loc == k.loc
