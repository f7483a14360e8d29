"""Input samples, their seeds, and their exact outputs (docs/method.md §6).

Each sample has its own seed, derived from the user's seed so that the test sample is
never one used for training or refinement: training draws minibatches from a JAX key of
`seed`, validation uses `3·seed + 1`, the final test `3·seed + 2`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from precisec.errors import PrecisecError
from precisec.ir import Kernel
from precisec.semantics.compiled import Evaluator, Reference
from precisec.tune.metrics import (
    ABSOLUTE,
    Measurement,
    Metric,
    exact_zero,
    from_ordered,
    ordered,
)
from precisec.tune.precondition import accepted

DEFAULT_SAMPLES = 10_000
CORNER_LIMIT = 1024
MIN_ACCEPTANCE = 0.001
"""Rejection sampling refuses a domain where fewer of the points drawn are kept."""
MAX_BATCH = 1_000_000


def validation_seed(seed: int) -> int:
    return 3 * seed + 1


def test_seed(seed: int) -> int:
    return 3 * seed + 2


def box(kernel: Kernel) -> tuple[np.ndarray, np.ndarray]:
    """The range box: per sampled scalar, its lower and upper bound."""
    return np.array(kernel.lows, dtype=float), np.array(kernel.highs, dtype=float)


def unbounded(kernel: Kernel) -> np.ndarray:
    """Per sampled scalar, whether its range is infinite on either side."""
    lows, highs = box(kernel)
    return ~(np.isfinite(lows) & np.isfinite(highs))


def plain_box(kernel: Kernel) -> bool:
    """Whether inputs are uniform in a finite range box with no precondition (the
    sampling every absolute-error kernel without `pre` has always had)."""
    return kernel.precondition is None and not np.any(unbounded(kernel))


def sample_inputs(kernel: Kernel, count: int, seed: int) -> np.ndarray:
    """`count` points of the sampling distribution (`draw_points`) from a fresh generator
    seeded by `seed`."""
    return draw_points(kernel, count, np.random.Generator(np.random.PCG64(seed)))


def draw_points(kernel: Kernel, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` points, shape (count, inputs): uniform in each finite range; uniform over
    the floating-point values of the kernel's type within the bounds for a range that is
    infinite on either side, as Herbie samples (`float_values`). The form
    lo + (hi − lo)·u cannot overflow for ranges near ±DBL_MAX because it is then computed
    as lo·(1 − u) + hi·u. Float kernels get representable floats."""
    lows, highs = box(kernel)
    infinite = unbounded(kernel)
    finite_lows, finite_highs = np.where(infinite, 0.0, lows), np.where(infinite, 0.0, highs)
    points = in_box(finite_lows, finite_highs, rng.random((count, len(lows))), kernel.precision)
    for column in np.flatnonzero(infinite):
        points[:, column] = float_values(lows[column], highs[column], count, rng,
                                         kernel.precision)
    return points


def in_box(lows: np.ndarray, highs: np.ndarray, u: np.ndarray, precision: str) -> np.ndarray:
    """The points lo + (hi − lo)·u of a finite box for u uniform in [0, 1) (`draw_points`),
    rounded to the kernel's type."""
    with np.errstate(over="ignore"):
        widths = highs - lows
    points = lows + widths * u if np.all(np.isfinite(widths)) else lows * (1.0 - u) + highs * u
    points = np.clip(points, lows, highs)
    if precision == "float":
        points = np.clip(points.astype(np.float32), lows.astype(np.float32),
                         highs.astype(np.float32)).astype(np.float64)
    return points


def float_values(lo: float, hi: float, count: int, rng: np.random.Generator,
                 precision: str) -> np.ndarray:
    """`count` values uniform over the finite values of the format (double or float)
    in [lo, hi]: uniform integers between the bounds' ordered bit patterns."""
    largest = float(np.finfo(np.float32 if precision == "float" else np.float64).max)
    lo, hi = max(lo, -largest), min(hi, largest)
    first, last = (int(k) for k in ordered(np.array([lo, hi]), precision))
    keys = rng.integers(first, last, size=count, endpoint=True)
    return from_ordered(keys, precision)


def box_corners(kernel: Kernel, limit: int = CORNER_LIMIT) -> np.ndarray:
    """The corners of the range box (at most `limit`) and its centre: points uniform
    sampling never hits but the domain includes."""
    lows, highs = box(kernel)
    count = len(lows)
    corners = min(2**count, limit)
    choice = (np.arange(corners)[:, None] >> np.arange(count)[None, :]) & 1
    centre = lows / 2 + highs / 2
    return np.vstack([np.where(choice == 1, highs, lows), centre])


def check_ranges(kernel: Kernel, metric: str) -> None:
    """An absolute target needs every range finite: refuse, at the input, one that is
    not (relative metrics sample it over the floating-point values)."""
    if metric != "rmse":
        return
    for param in kernel.inputs:
        for lo, hi in zip(param.lo, param.hi, strict=True):
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise PrecisecError(param.loc, f"input '{param.name}' has no finite range "
                                               f"([{lo:g}, {hi:g}]); an RMSE target needs "
                                               "one: give finite bounds, or use a relative "
                                               "target (relrmse, bits), under which it is "
                                               "sampled over the floating-point values")


def _point(kernel: Kernel, row: np.ndarray) -> str:
    return ", ".join(f"{label}={float(v)!r}"
                     for label, v in zip(kernel.input_labels, row, strict=True))


def join(parts: list[Reference]) -> Reference:
    """The references of consecutive batches of inputs, as one."""
    branches, trips = [p.branches for p in parts], [p.trips for p in parts]
    return Reference(np.concatenate([p.hi for p in parts]), np.concatenate([p.lo for p in parts]),
                     None if any(b is None for b in branches) else np.concatenate(branches),
                     max(p.bits for p in parts),
                     None if any(t is None for t in trips) else np.concatenate(trips))


@dataclass(frozen=True)
class Sample:
    """Inputs, their exact outputs, the metric that measures errors on them, and the
    share of drawn points that were kept (`acceptance`, 1 without rejection)."""

    inputs: np.ndarray
    reference: Reference
    metric: Metric = ABSOLUTE
    acceptance: float = 1.0

    @staticmethod
    def draw(evaluator: Evaluator, count: int, seed: int, corners: bool = True,
             metric: str = "rmse") -> Sample:
        """`count` inputs and their exact outputs (docs/method.md §6).

        A plain box under an RMSE target: uniform inputs; with `corners`, the box's
        corners are checked first, so a non-finite result anywhere on the box is reported
        where it happens (one check per kernel is enough: the flow skips it for its
        second sample). Otherwise by rejection (`_rejection`). Under relrmse a sample
        with an exact zero result is refused (`metrics`)."""
        kernel = evaluator.kernel
        check_ranges(kernel, metric)
        scale = Metric(metric, kernel.precision)
        if plain_box(kernel) and metric == "rmse":
            if corners:
                evaluator.exact(box_corners(kernel))
            inputs = sample_inputs(kernel, count, seed)
            sample = Sample(inputs, evaluator.exact(inputs), scale)
        else:
            if corners and metric == "rmse":
                points = box_corners(kernel)
                if kernel.precondition is not None:
                    points = points[accepted(kernel.precondition, points)]
                evaluator.exact(points)
            sample = _rejection(evaluator, count, seed, scale)
        zero = exact_zero(metric, sample.reference)
        if zero is not None:
            raise PrecisecError(kernel.loc, f"the exact result is 0 at "
                                            f"{_point(kernel, sample.inputs[zero])}, where "
                                            "the relative error is undefined; use a bits "
                                            "target (bits(T), --bits T) or an absolute one")
        return sample

    def measure(self, outputs: np.ndarray) -> Measurement:
        return self.metric.measure(self.reference, outputs)

    @property
    def drawn(self) -> np.ndarray:
        """The inputs drawn from the input distribution itself: all of them, unless
        stratified inputs follow (`precisec.tune.strata`)."""
        strata = self.metric.strata
        return self.inputs if strata is None else self.inputs[:strata.drawn]

    def divergence(self, branches: np.ndarray | None) -> float | None:
        """The share of inputs whose branch decisions differ from the exact program's."""
        if branches is None or self.reference.branches is None:
            return None
        return float(np.mean(branches != self.reference.branches))

    def trip_divergence(self, trips: np.ndarray | None) -> float | None:
        """The share of inputs whose while-loop trip counts differ from the exact
        program's (docs/method.md §1)."""
        if trips is None or self.reference.trips is None:
            return None
        return float(np.mean(trips != self.reference.trips))


def _rejection(evaluator: Evaluator, count: int, seed: int, metric: Metric) -> Sample:
    """Draw points (`draw_points`) in batches, keep those where the precondition certainly
    holds (`precisec.tune.precondition`) and, under a relative metric, whose exact
    results are finite in the kernel's type (Herbie's rule: the others are outside the
    function's domain),
    until `count` are kept. Fewer than MIN_ACCEPTANCE of the points drawn kept is a
    located error, at the precondition if there is one."""
    kernel = evaluator.kernel
    rng = np.random.Generator(np.random.PCG64(seed))
    discard = metric.name != "rmse"
    inputs: list[np.ndarray] = []
    parts: list[Reference] = []
    drawn = kept = found = 0
    while kept < count:
        rate = found / drawn if drawn else 1.0
        if drawn and rate < MIN_ACCEPTANCE:
            where = kernel.precondition.loc if kernel.precondition else kernel.loc
            what = "satisfy the precondition" if kernel.precondition else ""
            if discard:
                what += (" and " if what else "") + "have a finite exact result"
            raise PrecisecError(where, f"only {found} of {drawn} inputs drawn ({rate:.3%}) "
                                       f"{what}; rejection sampling needs at least "
                                       f"{MIN_ACCEPTANCE:.1%}")
        batch = count if not drawn else min(MAX_BATCH, int((count - kept) / rate * 1.2) + 64)
        points = draw_points(kernel, batch, rng)
        drawn += batch
        if kernel.precondition is not None:
            points = points[accepted(kernel.precondition, points)]
        reference = evaluator.exact(points, discard=discard)
        largest = float(np.finfo(np.float32 if kernel.precision == "float" else np.float64).max)
        valid = np.all((np.abs(reference.hi) <= largest) & np.isfinite(reference.lo), axis=1)
        found += int(np.sum(valid))
        take = np.flatnonzero(valid)[:count - kept]
        inputs.append(points[take])
        parts.append(Reference(reference.hi[take], reference.lo[take],
                               None if reference.branches is None
                               else reference.branches[take], reference.bits,
                               None if reference.trips is None else reference.trips[take]))
        kept += len(take)
    return Sample(np.concatenate(inputs), join(parts), metric, found / drawn)
