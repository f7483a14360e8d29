"""Error metrics: what a target bounds and how a sample measures it (docs/method.md §10).

* `rmse`: RMS over samples and results of ỹ − y (absolute, the kernel's units);
* `relrmse`: RMS of (ỹ − y)/y. It is undefined where the exact y is 0, and a sample with
  an exact zero result is refused when it is drawn (`exact_zero`): measuring those
  elements by their absolute error would mix units, and dropping them would leave the
  tuned program free to return anything there. The `bits` metric is defined everywhere;
* `bits`: Herbie's error, the mean over samples and results of log2(1 + d), d the number
  of floating-point values of the result's format (double or float) between ỹ and the
  correctly rounded exact result (ordered bit patterns: +0 and −0 are one apart). A
  non-finite ỹ counts as the format's width (64 or 32 bits).

Every metric is a mean over samples of a per-sample figure (the mean square of the
element errors, or their mean bits), so a measurement carries that mean's standard error
and acceptance is one-sided with the same margin Z_ACCEPT for all three (docs/method.md
§4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from precisec.semantics.compiled import Reference

METRICS = ("rmse", "relrmse", "bits")
NAMES = {"rmse": "RMSE", "relrmse": "relative RMSE", "bits": "bits of error"}
Z_ACCEPT = 3.0
SAFE_ERROR = 1e150
FORMAT_WIDTH = {"double": 64, "float": 32}


@dataclass(frozen=True)
class Target:
    """An error target: a metric of METRICS and the bound on it."""

    metric: str
    value: float

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric '{self.metric}'")

    @property
    def name(self) -> str:
        return NAMES[self.metric]

    @property
    def relative(self) -> bool:
        """Whether the noise model weighs each result by 1/y² (docs/method.md §10)."""
        return self.metric != "rmse"

    def format(self, value: float) -> str:
        """A figure in this metric's units: bits with two decimals, errors as %.3e."""
        return f"{value:.2f}" if self.metric == "bits" else f"{value:.3e}"

    def model_target(self, precision: str) -> float:
        """τ of the noise model, whose constraint is an RMS error (absolute for rmse,
        relative otherwise). For `bits`, the relative RMS r that guarantees the target:
        a result m·2^e (1 ≤ m < 2) in a p-bit format is d = |rel|·m·2^(p−1) < |rel|·2^p
        values away, and by Jensen mean log2(1 + d) ≤ log2(1 + RMS d), so
        r = (2^T − 1)·2^-p is enough; refinement then measures the bits themselves."""
        if self.metric != "bits":
            return self.value
        p = 24 if precision == "float" else 53
        return math.expm1(self.value * math.log(2.0)) * 2.0**-p


@dataclass(frozen=True)
class Strata:
    """A post-stratified sample (docs/method.md §4): per input its stratum (`labels`),
    per stratum its probability under the input distribution. The inputs of a stratum
    are uniform in it, so Σ_k P_k·mean_k estimates a mean over the input distribution
    without bias, with variance Σ_k P_k²·var_k/n_k. The first `drawn` inputs are the
    plain draw; stratified ones follow."""

    labels: np.ndarray
    probabilities: np.ndarray
    drawn: int
    sites: tuple[int, ...] = ()
    """The sites too few of the plain draw's inputs executed, which the strata are for."""

    def subset(self, rows: np.ndarray) -> Strata:
        """The strata of some of the inputs (the first of them the plain draw's)."""
        return Strata(self.labels[rows], self.probabilities,
                      int(np.sum(np.asarray(rows) < self.drawn)), self.sites)

    def weights(self) -> np.ndarray:
        """Per input, P_k/n_k of its stratum k: they sum to 1 (strata without inputs
        leave their probability to the others, renormalised)."""
        counts = np.bincount(self.labels, minlength=len(self.probabilities))
        shares = np.where(counts > 0, self.probabilities, 0.0)
        shares = shares / np.sum(shares)
        return (shares / np.maximum(counts, 1))[self.labels]

    def mean(self, figures: np.ndarray) -> tuple[np.ndarray, float]:
        """The stratified mean of per-input figures (rows: one mean per column) and the
        standard error of a 1-D one."""
        weights = self.weights()
        mean = np.tensordot(weights, figures, axes=1)
        if figures.ndim > 1:
            return mean, math.nan
        variance = 0.0
        for k in np.unique(self.labels):
            members = figures[self.labels == k]
            share = float(np.sum(weights[self.labels == k]))
            variance += share**2 * float(np.var(members)) / len(members)
        return mean, math.sqrt(variance)


@dataclass(frozen=True)
class Measurement:
    """Error of an allocation on a sample. `value` is the metric (RMSE, relative RMSE or
    mean bits), `max_error` the largest element error in the same units, and
    `standard_error` that of the mean of the per-sample figures (the mean square for the
    RMS metrics, the mean bits for `bits`)."""

    value: float
    max_error: float
    standard_error: float
    count: int
    metric: str = "rmse"

    @property
    def rmse(self) -> float:
        """The RMS error (absolute or relative, as the metric says)."""
        return self.value

    @property
    def mse_standard_error(self) -> float:
        return self.standard_error

    @staticmethod
    def of(errors: np.ndarray, metric: str = "rmse", strata: Strata | None = None
           ) -> Measurement:
        """Of one error per sample, or of a row of errors per sample (output arrays: the
        metric is over all elements, the standard error over the rows' figures); with
        `strata`, the stratified mean and its standard error.

        For the RMS metrics, errors beyond SAFE_ERROR would overflow when squared, and
        errors all below 1/SAFE_ERROR would underflow (subnormal kernels), so they are
        measured in units of the largest one; the usual formulas give the same figures
        elsewhere."""
        rows = errors if errors.ndim == 2 else errors[:, None]
        largest = float(np.max(np.abs(rows))) if rows.size else 0.0
        count = len(rows)
        if metric == "bits":
            means = np.mean(rows, axis=1)
            if strata is not None:
                mean, error = strata.mean(means)
                return Measurement(float(mean), largest, error, count, metric)
            return Measurement(float(np.mean(means)), largest,
                               float(np.std(means) / np.sqrt(count)), count, metric)
        if not math.isfinite(largest):  # an output that overflowed, or NaN: no figure
            return Measurement(math.inf, math.inf, math.inf, count, metric)
        scale = np.float64(largest if largest > SAFE_ERROR or 0 < largest < 1 / SAFE_ERROR
                           else 1.0)
        squares = np.mean((rows / scale) ** 2, axis=1)
        spread = float(np.std(squares) / np.sqrt(count))
        mean_square = np.mean(squares)
        if strata is not None:
            mean_square, spread = strata.mean(squares)
        with np.errstate(over="ignore"):  # a zero spread stays 0 (not inf·0) at any scale
            return Measurement(float(scale * np.sqrt(mean_square)), largest,
                               float(scale**2 * spread) if spread else 0.0, count, metric)

    def bound(self) -> float:
        """The one-sided upper bound the acceptance compares: MSE + Z·SE (RMS metrics) or
        mean + Z·SE (bits)."""
        if self.metric == "bits":
            return self.value + Z_ACCEPT * self.standard_error
        return self.value**2 + Z_ACCEPT * self.standard_error

    def accepts(self, target: float) -> bool:
        if self.metric == "bits":
            return self.bound() <= target
        if max(self.max_error, target) > SAFE_ERROR or target < 1 / SAFE_ERROR:
            ratio = self.value / target  # squared as a product: ** raises on overflow
            return ratio * ratio + Z_ACCEPT * (
                self.standard_error / target / target) <= 1.0
        return self.bound() <= target**2


def ordered(values: np.ndarray, precision: str) -> np.ndarray:
    """Floating-point values (held as doubles) as integers in their order, consecutive
    values of the format one apart (−0 and +0 too), as int64 for double, for float too."""
    if precision == "float":
        bits = values.astype(np.float32).view(np.int32).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFFFFFF) - 1, bits)
    bits = values.astype(np.float64).view(np.int64)
    return np.where(bits < 0, -(bits & 0x7FFFFFFFFFFFFFFF) - 1, bits)


def correctly_rounded(reference: Reference, precision: str) -> np.ndarray:
    """The exact results rounded to nearest in the result's format. hi is already the
    nearest double to hi + lo; rounding it to float is right except at a float tie, where
    lo decides."""
    if precision != "float":
        return reference.hi
    hi, lo = reference.hi, reference.lo
    with np.errstate(over="ignore"):
        near = hi.astype(np.float32)
        toward = np.nextafter(near, np.where(lo > 0, np.float32(np.inf),
                                             np.float32(-np.inf))).astype(np.float32)
        middle = (near.astype(np.float64) + toward.astype(np.float64)) / 2.0
    tie = (lo != 0) & (hi == middle)
    return np.where(tie, toward, near).astype(np.float64)


def element_errors(metric: str, precision: str, reference: Reference,
                   outputs: np.ndarray) -> np.ndarray:
    """Per sample and result: ỹ − y, (ỹ − y)/y, or log2(1 + d) (the module docstring).
    relrmse needs no exact zero among the results (`exact_zero` refuses those samples)."""
    if metric == "rmse":
        return reference.errors(outputs)
    if metric == "relrmse":
        exact = reference.hi
        if np.any(exact == 0):
            raise ValueError("relative error of an exact zero result")
        return reference.errors(outputs) / exact
    width = FORMAT_WIDTH[precision]
    rounded = ordered(correctly_rounded(reference, precision), precision)
    tuned = ordered(np.where(np.isfinite(outputs), outputs, 0.0), precision)
    # Keys near ±2^62 lose their last bits as doubles: subtract as integers where that
    # cannot overflow (same sign), else add magnitudes as doubles (then d > 2^62 anyway).
    same = (tuned >= 0) == (rounded >= 0)
    distance = np.where(same, np.abs(tuned - np.where(same, rounded, tuned)).astype(np.float64),
                        np.abs(tuned.astype(np.float64)) + np.abs(rounded.astype(np.float64)))
    bits = np.log2(1.0 + distance)
    return np.where(np.isfinite(outputs), np.minimum(bits, width), float(width))


def exact_zero(metric: str, reference: Reference) -> int | None:
    """Under relrmse, the first sample whose exact result is 0, else None."""
    if metric != "relrmse":
        return None
    zero = np.flatnonzero(np.any(reference.hi == 0, axis=1))
    return int(zero[0]) if zero.size else None


@dataclass(frozen=True)
class Metric:
    """How a sample's errors are measured: the metric and the result's format."""

    name: str = "rmse"
    precision: str = "double"
    strata: Strata | None = field(default=None, compare=False, repr=False)
    """The sample's strata, if it is stratified (`precisec.tune.strata`)."""

    def measure(self, reference: Reference, outputs: np.ndarray) -> Measurement:
        return Measurement.of(element_errors(self.name, self.precision, reference, outputs),
                              self.name, self.strata)


ABSOLUTE = Metric()
"""The RMSE of double results: the default everywhere."""


def as_target(target: float | Target) -> Target:
    """A target; a bare number is an RMSE (the default metric)."""
    return target if isinstance(target, Target) else Target("rmse", float(target))


def from_ordered(keys: np.ndarray, precision: str) -> np.ndarray:
    """The inverse of `ordered`: the values (as doubles) of ordered integer keys."""
    keys = np.asarray(keys, dtype=np.int64)
    if precision == "float":
        bits = np.where(keys < 0, (-(keys + 1)) | -0x80000000, keys).astype(np.int32)
        return bits.view(np.float32).astype(np.float64)
    bits = np.where(keys < 0, (-(keys + 1)) | np.int64(-0x8000000000000000), keys)
    return bits.view(np.float64)
