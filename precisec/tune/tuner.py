"""Analysis and tuning of one kernel: sensitivities, SGD, mapping, refinement.

`analyze` is what `precisec analyze` reports; `tune` learns σ per site with the noise
model (docs/method.md §2), maps σ to bits (§3) and repairs the allocation against exact
emulation (§4). Nothing here builds the tuned file; `precisec.flow` does.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import cache

import gmpy2
import numpy as np

from precisec.errors import PrecisecError
from precisec.ir import Kernel, executions
from precisec.semantics import noise
from precisec.semantics.compiled import Evaluator
from precisec.semantics.flips import FlipTable, flip_mse
from precisec.semantics.interpret import context
from precisec.tune import extreme
from precisec.tune.coverage import floor, site_coverage
from precisec.tune.mapper import (
    K_ROUNDING,
    MAX_BITS,
    MIN_BITS,
    bits_for_sigma,
    first_order_optimum,
    sigma_for_bits,
)
from precisec.tune.metrics import Target, as_target
from precisec.tune.refine import Measurement, Refinement, first_true, refine
from precisec.tune.samples import Sample, plain_box
from precisec.tune.train import TrainingResult, train

REFERENCE_BITS = 320
# Dynamic roundings (inputs × roundings per input) the sample-mean estimates of the noise
# model may spend: sensitivities (a mean over inputs, smooth in them) and the Monte-Carlo
# prediction. Small kernels use the whole sample; a 1,000-step loop about 2,000 inputs.
SENSITIVITY_WORK = 20_000_000
PREDICTION_WORK = 2_000_000
SENSITIVITY_CAP = 1e200
"""Relative sensitivities saturate here (points drawn over all doubles reach far beyond;
the first-order optimum divides them by τ² without overflow)."""
WORK_MIN_INPUTS = 1000


def work_bounded(kernel: Kernel, work: int) -> int:
    """How many inputs an estimate may use: work / (roundings per input), at least
    WORK_MIN_INPUTS."""
    return max(WORK_MIN_INPUTS, work // max(sum(executions(kernel)), 1))


def require_target(kernel: Kernel, target: float | Target | None) -> Target:
    """The error target: the command line's (a float is an RMSE), else the kernel's
    (a pragma or FPCore property)."""
    if target is None and kernel.target_rmse is not None:
        target = Target(kernel.target_metric, kernel.target_rmse)
    if target is None:
        raise PrecisecError(kernel.loc, f"no error target for '{kernel.name}': add "
                                        "#pragma precisec rmse(T) or pass --rmse T "
                                        "(or relrmse, bits)")
    chosen = as_target(target)
    if not (chosen.value > 0 and math.isfinite(chosen.value)):
        raise PrecisecError(kernel.loc, f"the target {chosen.name} must be positive and "
                                        f"finite, got {chosen.value}")
    return chosen


def uniform(kernel: Kernel, bits: int) -> tuple[int, ...]:
    return (bits,) * len(kernel.sites)


def mean_bits(bits: tuple[int, ...] | list[int]) -> float:
    """Over sites (source operations), each counted once however often it runs."""
    return float(np.mean(bits)) if len(bits) else 0.0


def smallest_uniform_bits(evaluator: Evaluator, target: float, sample: Sample,
                          sens: np.ndarray, model_target: float | None = None,
                          least: np.ndarray | None = None) -> int | None:
    """Fewest bits that, given to every operation (no fewer than its floor `least`),
    meet the target on the sample. The floor matters for while loops: a loop counter
    rounded to a few bits stops counting, and the loop would run to its cap on every
    input (docs/method.md §1).

    The first-order model's uniform precision p₀ = ½·log2(k²·ΣS/τ²) is usually within a
    bit or two of the answer, so the search gallops outward from it (p₀, p₀ ± 1, ± 3,
    ± 7, …) to a bracket and bisects inside it: a handful of emulations near p₀ instead
    of a bisection over 2..512 whose first probes run hundreds of bits. `target` is in
    the sample's metric, `model_target` the model's τ (the target itself by default).
    """
    kernel = evaluator.kernel
    tau = target if model_target is None else model_target

    @cache
    def meets(bits: int) -> bool:
        allocation = uniform(kernel, bits) if least is None else tuple(
            int(b) for b in np.maximum(bits, least))
        outputs = evaluator.emulate(allocation, sample.inputs).outputs
        return sample.measure(outputs).value <= target

    total = float(np.sum(sens))
    guess = MIN_BITS
    if 0 < total < math.inf:  # in logs: τ² and k²·ΣS may be out of double range
        guess = math.ceil(0.5 * math.log2(K_ROUNDING**2) + 0.5 * math.log2(total)
                          - math.log2(tau))
    guess = min(max(guess, MIN_BITS), MAX_BITS)
    step = 1
    if meets(guess):
        hi = guess
        while hi > MIN_BITS and meets(lo := max(hi - step, MIN_BITS)):
            hi, step = lo, 2 * step
        lo = hi if hi == MIN_BITS else max(hi - step, MIN_BITS) + 1
    else:
        lo = guess + 1
        while True:
            if lo > MAX_BITS:
                return None
            hi = min(lo + step - 1, MAX_BITS)
            if meets(hi):
                break
            lo, step = hi + 1, 2 * step
    candidates = list(range(lo, hi + 1))
    found = first_true(candidates, meets)
    return None if found is None else candidates[found]


@dataclass(frozen=True)
class OperationRow:
    """One rounding site in a report."""

    site: int
    line: int
    col: int
    op: str
    sensitivity: float
    double_share: float
    bits: int | None = None
    budget_share: float | None = None
    executed: float | None = None
    log2_sensitivity: float | None = None
    """log2 of the sensitivity, given when some exceed the double range."""


@dataclass(frozen=True)
class Analysis:
    """What `precisec analyze` reports. `target` is the bound in `metric`'s units; the
    sensitivities are of the relative error under relrmse and bits (docs/method.md §10),
    computed on `model_inputs`, the inputs the noise model trains on (None: uniform in
    the range box; else sample rows where the model is finite)."""

    kernel: Kernel
    target: float
    sensitivities: np.ndarray
    baseline: Measurement
    uniform_bits: int | None
    optimum_bits: np.ndarray
    metric: str = "rmse"
    model_inputs: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def goal(self) -> Target:
        return Target(self.metric, self.target)

    executions: np.ndarray | None = field(default=None, repr=False, compare=False)
    """Per site, how many validation inputs execute it (`precisec.tune.coverage`)."""
    shares: np.ndarray | None = field(default=None, repr=False, compare=False)
    """Per site, the share of the input distribution that executes it, estimated on a
    stratified sample (None: `executions` over the inputs)."""
    stratified: tuple[int, ...] = ()
    """The sites the plain draw ran too rarely, for which stratified inputs were added
    (`precisec.tune.strata`)."""
    log_sensitivities: extreme.LogSensitivities | None = field(default=None, repr=False,
                                                              compare=False)
    """log2 of the sensitivities when some exceed the double range (`tune.extreme`)."""

    @property
    def optimum_mean_bits(self) -> float:
        return float(np.mean(self.optimum_bits)) if len(self.optimum_bits) else 0.0

    def rows(self, bits: tuple[int, ...] | None = None,
             budget_used: float = 1.0) -> list[OperationRow]:
        """One row per site. With bits, each site's share of the error budget: the
        fraction `budget_used` of τ² that was measured, apportioned among the sites by
        their first-order contributions k²·S_i·4^-p_i (so the shares add up to it);
        `executed`, the share of the validation inputs that run the site."""
        total = float(np.sum(self.sensitivities)) or 1.0
        logs = self.log_sensitivities
        double_shares = self.sensitivities / total if logs is None else extreme.shares(logs.log2)
        shares = None
        executed = None if self.executions is None else self.executions / self.baseline.count
        if self.shares is not None:
            executed = self.shares
        if bits is not None and logs is not None:  # in log2 (`tune.extreme`)
            shares = extreme.shares(logs.log2 - 2.0 * np.array(bits, float)) * budget_used
        elif bits is not None:
            contributions = K_ROUNDING**2 * self.sensitivities * 4.0 ** -np.array(bits, float)
            with np.errstate(invalid="ignore"):  # infinite sensitivities: NaN shares
                shares = contributions / (float(np.sum(contributions)) or 1.0) * budget_used
        return [OperationRow(k, site.loc.line, site.loc.col, site.op,
                             float(self.sensitivities[k]), float(double_shares[k]),
                             None if bits is None else int(bits[k]),
                             None if shares is None else float(shares[k]),
                             None if executed is None else float(executed[k]),
                             None if logs is None else float(logs.log2[k]))
                for k, site in enumerate(self.kernel.sites)]


def analyze(evaluator: Evaluator, target: float | Target, sample: Sample,
            allow_unsampled: bool = False, tune_conditions: bool = False) -> Analysis:
    """Sensitivities, the baseline (all double, or all single for float kernels),
    the smallest uniform precision above the refinement floor (`coverage.floor`, with
    the options `tune` gets) and the first-order optimum. A relative target's
    model inputs are the sample rows where the relative model is finite everywhere."""
    kernel = evaluator.kernel
    goal = as_target(target)
    tau = goal.model_target(kernel.precision)
    strata = sample.metric.strata
    inputs = sample.inputs[:work_bounded(kernel, SENSITIVITY_WORK)]
    pool = None if plain_box(kernel) and not goal.relative else inputs
    if goal.relative:
        moments = noise.site_moments(kernel, inputs, significand_aware=False, relative=True)
        usable = np.all(np.isfinite(moments), axis=1)
        pool = inputs[usable] if np.any(usable) else inputs  # the moments drop them again
        sens = np.zeros(len(kernel.sites))
        if np.any(usable):  # saturated: beyond the double range they only order moves
            rows = moments[usable]
            scale = np.maximum(np.max(rows, axis=0), np.finfo(float).tiny)
            with np.errstate(over="ignore"):
                sens = np.minimum(scale * np.mean(rows / scale, axis=0), SENSITIVITY_CAP)
    elif strata is not None:
        sens = stratified_sensitivities(kernel, sample, len(inputs))
    else:
        sens = noise.sensitivities(kernel, inputs)
    baseline = sample.measure(
        evaluator.emulate(uniform(kernel, kernel.baseline_bits), sample.inputs).outputs)
    counts, shares = site_coverage(kernel, sample.inputs, sample.reference,
                                   None if strata is None else strata.weights())
    logs = None if goal.relative or np.all(np.isfinite(sens)) else \
        extreme.log2_sensitivities(kernel, inputs, sample.reference.hi[:len(inputs)])
    least = floor(kernel, counts, allow_unsampled, tune_conditions).bits
    return Analysis(kernel, goal.value, sens, baseline,
                    smallest_uniform_bits(evaluator, goal.value, sample, sens, tau, least),
                    first_order_optimum(sens, tau) if logs is None
                    else extreme.scaled_optimum(logs.log2, tau), goal.metric, pool,
                    executions=counts, shares=None if strata is None else shares,
                    stratified=() if strata is None else strata.sites,
                    log_sensitivities=logs)


def stratified_sensitivities(kernel: Kernel, sample: Sample, drawn: int) -> np.ndarray:
    """The sensitivities as stratified means (`metrics.Strata`) over the first `drawn`
    inputs of the plain draw and all the stratified ones."""
    strata = sample.metric.strata
    assert strata is not None
    rows = np.concatenate([np.arange(min(drawn, strata.drawn)),
                           np.arange(strata.drawn, len(sample.inputs))])
    moments = noise.site_moments(kernel, sample.inputs[rows], significand_aware=False)
    return np.asarray(strata.subset(rows).mean(moments)[0])


def unreachable(kernel: Kernel, target: Target) -> PrecisecError:
    return PrecisecError(kernel.loc, f"target {target.name} {target.value:g} is unreachable: "
                                     f"even {MAX_BITS} "
                                     "bits on every operation miss it (the result is returned "
                                     f"as a {kernel.precision})")


@dataclass(frozen=True)
class Tuning:
    """A tuned allocation (bits per site) and how it was reached; no C built yet."""

    analysis: Analysis
    seed: int
    training: TrainingResult
    mapped_bits: tuple[int, ...]
    refinement: Refinement
    predicted_rmse: float
    seconds: dict[str, float] = field(default_factory=dict)
    unsampled: tuple[int, ...] = ()
    """The sites too few validation inputs execute (`precisec.tune.coverage`)."""
    conditions: tuple[int, ...] = ()
    """The sites that compute branch conditions (`precisec.tune.coverage`)."""

    @property
    def bits(self) -> tuple[int, ...]:
        return self.refinement.bits

    @property
    def mean_bits(self) -> float:
        return mean_bits(self.bits)


def relative_rounding_error(text: str, bits: int) -> float:
    """(c_p − c)/c for the decimal constant c rounded to nearest at `bits` bits."""
    exact = gmpy2.mpfr(text, REFERENCE_BITS)
    if exact == 0:
        return 0.0
    ctx = context(REFERENCE_BITS)
    return float(ctx.div(ctx.sub(gmpy2.mpfr(text, bits), exact), exact))


def predicted_rmse(kernel: Kernel, bits: tuple[int, ...], inputs: np.ndarray,
                   seed: int, relative: bool = False,
                   flips: FlipTable | None = None) -> float:
    """The noise model's RMSE (relative RMSE with `relative`, the model of the relrmse
    and bits metrics) at an allocation, with each inexact constant's actual
    rounding error in place of its noise, and the expected cost of flipped branches from
    the training's flip table `flips`, if any (`precisec.semantics.flips`). A Monte-Carlo
    estimate of a report figure: it runs on a work-bounded share of the inputs
    (`work_bounded`), so a 1,000-step loop is not simulated 10,000 times over."""
    inputs = inputs[:work_bounded(kernel, PREDICTION_WORK)]
    sigma = sigma_for_bits(np.array(bits))
    errors = [relative_rounding_error(lit.text, bits[site])
              for site, _, lit in noise.constant_slots(kernel)]
    mse = noise.predicted_mse(kernel, sigma, inputs, seed, significand_aware=True,
                              constant_errors=np.array(errors), relative=relative)
    return math.sqrt(mse + (0.0 if flips is None else float(flip_mse(sigma, flips))))


def tune(evaluator: Evaluator, target: float | Target, seed: int, validation: Sample,
         analysis: Analysis, allow_unsampled: bool = False,
         tune_conditions: bool = False) -> Tuning:
    """Noise model by SGD, σ mapped to bits, then refinement against exact emulation on
    the validation sample (in its metric). Sites the sample does not reach and sites of
    branch conditions keep the baseline precision unless allowed (`coverage.floor`)."""
    kernel = evaluator.kernel
    goal = as_target(target)
    if analysis.uniform_bits is None:
        raise unreachable(kernel, goal)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    training = train(kernel, goal.model_target(kernel.precision), seed, analysis.sensitivities,
                     relative=goal.relative, pool=analysis.model_inputs)
    # σ is NaN where the model's squares leave the double range (subnormal inputs and
    # targets): such a site starts at the uniform precision, which meets the target.
    mapped = tuple(bits_for_sigma(float(s)) if math.isfinite(s) and s > 0
                   else analysis.uniform_bits for s in training.sigma)
    start = mapped
    if goal.metric == "bits":  # the RMS model is no guide to bits: never above uniform
        start = tuple(min(b, analysis.uniform_bits) for b in mapped)
    seconds["training"] = time.perf_counter() - clock
    clock = time.perf_counter()
    least = floor(kernel, analysis.executions, allow_unsampled, tune_conditions)
    least_bits = least.bits.copy()
    if tune_conditions and training.flip_sites:
        # a sample sees a rare flip only by luck: the flip-aware model's bits are the floor
        flipping = list(training.flip_sites)
        least_bits[flipping] = np.maximum(least_bits[flipping], np.array(start)[flipping])
    refinement = refine(lambda bits: evaluator.emulate(bits, validation.inputs).outputs,
                        goal.value, start, analysis.sensitivities, validation.reference,
                        metric=validation.metric, floor=least_bits)
    if refinement is None:
        raise unreachable(kernel, goal)
    seconds["refinement"] = time.perf_counter() - clock
    clock = time.perf_counter()
    model_inputs = validation.drawn if analysis.model_inputs is None else analysis.model_inputs
    predicted = predicted_rmse(kernel, refinement.bits, model_inputs, seed, goal.relative,
                               training.flips)
    seconds["prediction"] = time.perf_counter() - clock
    return Tuning(analysis, seed, training, mapped, refinement, predicted, seconds,
                  least.unsampled, least.conditions)
