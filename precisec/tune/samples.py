"""Input samples, their seeds, and their exact outputs (docs/method.md §3).

Each sample has its own seed, derived from the user's seed so that the test sample is
never one used for training or refinement: training draws minibatches from a JAX key of
`seed`, validation uses `3·seed + 1`, the final test `3·seed + 2`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from precisec.ir import Kernel
from precisec.semantics.compiled import Evaluator, Reference
from precisec.tune.refine import Measurement

DEFAULT_SAMPLES = 10_000
CORNER_LIMIT = 1024


def validation_seed(seed: int) -> int:
    return 3 * seed + 1


def test_seed(seed: int) -> int:
    return 3 * seed + 2


def box(kernel: Kernel) -> tuple[np.ndarray, np.ndarray]:
    """The range box: per sampled scalar, its lower and upper bound."""
    return np.array(kernel.lows, dtype=float), np.array(kernel.highs, dtype=float)


def sample_inputs(kernel: Kernel, count: int, seed: int) -> np.ndarray:
    """`count` points uniform in the range box, shape (count, inputs). The midpoint form
    lo + (hi − lo)·u cannot overflow for ranges near ±DBL_MAX because it is computed as
    lo·(1 − u) + hi·u. Float kernels get representable floats."""
    rng = np.random.Generator(np.random.PCG64(seed))
    lows, highs = box(kernel)
    u = rng.random((count, len(lows)))
    with np.errstate(over="ignore"):
        widths = highs - lows
    points = lows + widths * u if np.all(np.isfinite(widths)) else lows * (1.0 - u) + highs * u
    points = np.clip(points, lows, highs)
    if kernel.precision == "float":
        points = np.clip(points.astype(np.float32), lows.astype(np.float32),
                         highs.astype(np.float32)).astype(np.float64)
    return points


def box_corners(kernel: Kernel, limit: int = CORNER_LIMIT) -> np.ndarray:
    """The corners of the range box (at most `limit`) and its centre: points uniform
    sampling never hits but the domain includes."""
    lows, highs = box(kernel)
    count = len(lows)
    corners = min(2**count, limit)
    choice = (np.arange(corners)[:, None] >> np.arange(count)[None, :]) & 1
    centre = lows / 2 + highs / 2
    return np.vstack([np.where(choice == 1, highs, lows), centre])


@dataclass(frozen=True)
class Sample:
    """Inputs and their exact outputs."""

    inputs: np.ndarray
    reference: Reference

    @staticmethod
    def draw(evaluator: Evaluator, count: int, seed: int, corners: bool = True) -> Sample:
        """Uniform inputs from the range box. With `corners`, the box's corners are checked
        first, so a non-finite result anywhere on the box is reported where it happens
        (one check per kernel is enough: the flow skips it for its second sample)."""
        if corners:
            evaluator.exact(box_corners(evaluator.kernel))
        inputs = sample_inputs(evaluator.kernel, count, seed)
        return Sample(inputs, evaluator.exact(inputs))

    def measure(self, outputs: np.ndarray) -> Measurement:
        return Measurement.of(self.reference.errors(outputs))

    def divergence(self, branches: np.ndarray | None) -> float | None:
        """The share of inputs whose branch decisions differ from the exact program's."""
        if branches is None or self.reference.branches is None:
            return None
        return float(np.mean(branches != self.reference.branches))
