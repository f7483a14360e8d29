"""The pipeline: analyse a kernel, tune it, verify a tuned file by compiling and running it.

Samples have their own seeds, derived from the user's seed so that the test sample is
never one used for training or refinement: training draws its minibatches from a JAX key
of `seed`, validation uses `seed·3 + 1`, the final test `seed·3 + 2`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from precisec import noise
from precisec.errors import PrecisecError
from precisec.ir import Kernel, Op
from precisec.mapper import (
    K_ROUNDING,
    MAX_BITS,
    MIN_BITS,
    bits_for_sigma,
    first_order_optimum,
    sigma_for_bits,
)
from precisec.reference import (
    Reference,
    check_domain,
    emulate,
    exact,
    relative_rounding_error,
    sample_inputs,
)
from precisec.refine import Measurement, Refinement, refine
from precisec.toolchain import build, build_native

DEFAULT_SAMPLES = 10_000


def validation_seed(seed: int) -> int:
    return 3 * seed + 1


def test_seed(seed: int) -> int:
    return 3 * seed + 2


@dataclass(frozen=True)
class Sample:
    """Inputs and their exact outputs."""

    inputs: np.ndarray
    reference: Reference

    @staticmethod
    def draw(kernel: Kernel, count: int, seed: int) -> Sample:
        """Uniform inputs from the range box (whose corners are checked first)."""
        check_domain(kernel)
        inputs = sample_inputs(kernel, count, seed)
        return Sample(inputs, exact(kernel, inputs))

    def measure(self, outputs: np.ndarray) -> Measurement:
        return Measurement.of(self.reference.errors(outputs))


def require_target(kernel: Kernel, target: float | None) -> float:
    """The target RMSE: the command line's, else the kernel's rmse pragma."""
    chosen = target if target is not None else kernel.target_rmse
    if chosen is None:
        raise PrecisecError(kernel.loc, f"no error target for '{kernel.name}': add "
                                        "#pragma precisec rmse(T) or pass --rmse T")
    if not (chosen > 0 and math.isfinite(chosen)):
        raise PrecisecError(kernel.loc, f"the target RMSE must be positive and finite, "
                                        f"got {chosen}")
    return chosen


def baseline_bits(kernel: Kernel) -> int:
    """The precision of the original kernel: 53 (double), 24 for a float kernel."""
    return 24 if kernel.precision == "float" else 53


def uniform(kernel: Kernel, bits: int) -> dict[int, int]:
    return dict.fromkeys(kernel.rounding_ops, bits)


def smallest_uniform_bits(kernel: Kernel, target: float, sample: Sample) -> int | None:
    """Fewest bits that, given to every operation, meet the target on the sample."""

    def meets(bits: int) -> bool:
        return sample.measure(emulate(kernel, uniform(kernel, bits), sample.inputs)).rmse \
            <= target

    lo, hi = MIN_BITS, MAX_BITS
    if not meets(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if meets(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass(frozen=True)
class OperationRow:
    """One rounding operation in a report."""

    index: int
    line: int
    col: int
    op: str
    sensitivity: float
    double_share: float
    bits: int | None = None
    budget_share: float | None = None


@dataclass(frozen=True)
class Analysis:
    """What `precisec analyze` reports."""

    kernel: Kernel
    target: float
    sensitivities: np.ndarray
    double: Measurement
    uniform_bits: int | None
    optimum_bits: np.ndarray

    @property
    def optimum_mean_bits(self) -> float:
        return float(np.mean(self.optimum_bits)) if len(self.optimum_bits) else 0.0

    def rows(self, bits: dict[int, int] | None = None,
             budget_used: float = 1.0) -> list[OperationRow]:
        """One row per rounding site. With bits, each site's share of the error budget:
        the fraction `budget_used` of τ² that was measured, apportioned among the sites by
        their first-order contributions k²·S_i·4^-p_i (so the shares add up to it)."""
        total = float(np.sum(self.sensitivities)) or 1.0
        contributions = None
        if bits is not None:
            contributions = np.array([K_ROUNDING**2 * self.sensitivities[k] * 4.0 ** -bits[i]
                                      for k, i in enumerate(self.kernel.sites)])
            contributions = contributions / (float(np.sum(contributions)) or 1.0)
        rows = []
        for k, index in enumerate(self.kernel.sites):
            node = self.kernel.nodes[index]
            assert isinstance(node, Op)
            share = None
            if contributions is not None:
                share = float(contributions[k] * budget_used)
            rows.append(OperationRow(index, node.loc.line, node.loc.col, node.spec.name,
                                     float(self.sensitivities[k]),
                                     float(self.sensitivities[k]) / total,
                                     None if bits is None else bits[index], share))
        return rows


def analyze(kernel: Kernel, target: float, sample: Sample) -> Analysis:
    """Sensitivities, the double baseline (single for float kernels), uniform and
    first-order optimum precisions."""
    sens = noise.sensitivities(kernel, sample.inputs)
    double = sample.measure(emulate(kernel, uniform(kernel, baseline_bits(kernel)),
                                    sample.inputs))
    return Analysis(kernel, target, sens, double, smallest_uniform_bits(kernel, target, sample),
                    first_order_optimum(sens, target))


def unreachable(kernel: Kernel, target: float) -> PrecisecError:
    return PrecisecError(kernel.loc, f"target RMSE {target:g} is unreachable: even {MAX_BITS} "
                                     "bits on every operation miss it (the result is returned "
                                     f"as a {kernel.precision})")


@dataclass(frozen=True)
class Tuning:
    """A tuned allocation and how it was reached (no C built yet)."""

    analysis: Analysis
    seed: int
    training: noise.TrainingResult
    mapped_bits: dict[int, int]
    refinement: Refinement
    predicted_rmse: float
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def bits(self) -> dict[int, int]:
        return self.refinement.bits

    @property
    def mean_bits(self) -> float:
        """Over source operations (sites), each counted once however often it runs."""
        return float(np.mean(self.analysis.kernel.site_bits(self.bits))) if self.bits else 0.0


def mean_bits(bits: dict[int, int] | list[int]) -> float:
    values = list(bits.values()) if isinstance(bits, dict) else bits
    return float(np.mean(values)) if values else 0.0


def tune(kernel: Kernel, target: float, seed: int, samples: int = DEFAULT_SAMPLES) -> Tuning:
    """Noise model by SGD, map σ to bits, refine against exact emulation."""
    clock = time.perf_counter()
    seconds: dict[str, float] = {}
    validation = Sample.draw(kernel, samples, validation_seed(seed))
    seconds["reference"] = time.perf_counter() - clock
    clock = time.perf_counter()
    analysis = analyze(kernel, target, validation)
    if analysis.uniform_bits is None:
        raise unreachable(kernel, target)
    seconds["analysis"] = time.perf_counter() - clock
    clock = time.perf_counter()
    training = noise.train(kernel, target, seed, analysis.sensitivities)
    mapped = kernel.expand_bits([bits_for_sigma(float(s)) for s in training.sigma])
    seconds["training"] = time.perf_counter() - clock
    clock = time.perf_counter()
    refinement = refine(kernel, target, mapped, analysis.sensitivities, validation.inputs,
                        validation.reference)
    if refinement is None:
        raise unreachable(kernel, target)
    seconds["refinement"] = time.perf_counter() - clock
    sigma = sigma_for_bits(np.array(kernel.site_bits(refinement.bits)))
    slots = noise.layout(kernel).constant_slots
    constant_errors = np.array([
        relative_rounding_error(kernel.nodes[kernel.nodes[owner].args[position]].text,
                                refinement.bits[owner]) for owner, position in slots])
    predicted = math.sqrt(noise.predicted_mse(kernel, sigma, validation.inputs, seed,
                                              significand_aware=True,
                                              constant_errors=constant_errors))
    return Tuning(analysis, seed, training, mapped, refinement, predicted, seconds)


@dataclass(frozen=True)
class Verification:
    """A tuned C file measured against the exact reference on a fresh sample."""

    measurement: Measurement
    seconds: float
    branch_divergence: float | None = None


def verify(kernel: Kernel, tuned_c: Path, sample: Sample, native: bool = False
           ) -> Verification:
    """Compile the tuned file with gcc (and MPFR unless native), run it, compare with the
    reference. For a kernel with branches, also the share of samples on which the tuned
    code took a different sequence of branch decisions than the exact program."""
    clock = time.perf_counter()
    built = build_native(tuned_c, kernel) if native else \
        build(tuned_c, kernel, mpfr=True, trace=True)
    try:
        outputs, trace = built.run_traced(sample.inputs)
    finally:
        built.directory.cleanup()
    divergence = None
    if trace is not None and sample.reference.branches is not None:
        divergence = float(np.mean(np.any(trace != sample.reference.branches, axis=1)))
    return Verification(sample.measure(outputs), time.perf_counter() - clock, divergence)
