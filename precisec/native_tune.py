"""The native pipeline: continuous bits (SGD + refinement, or the first-order optimum),
then the type-level search, then the emitted C compiled and measured on a fresh sample."""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from precisec.backend.native import emit_native
from precisec.ir import Kernel
from precisec.mapper import MAX_BITS, MIN_BITS
from precisec.native import CostModel, float_fraction
from precisec.pipeline import (
    Analysis,
    Sample,
    Tuning,
    Verification,
    analyze,
    test_seed,
    tune,
    validation_seed,
    verify,
)
from precisec.typesearch import TypeSearch, search_types

STARTS = ("sgd", "optimum")


@dataclass(frozen=True)
class NativeTuning:
    """Where the bits came from, the type search on top, and its timings."""

    analysis: Analysis
    start_bits: dict[int, int]
    search: TypeSearch
    tuning: Tuning | None
    seed: int
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def float_fraction(self) -> float:
        return float_fraction(self.search.assignment)


def optimum_bits(kernel: Kernel, analysis: Analysis) -> dict[int, int]:
    """The first-order optimum rounded up: a cheap start that needs no SGD."""
    return {i: int(min(max(math.ceil(b), MIN_BITS), MAX_BITS))
            for i, b in zip(kernel.rounding_ops, analysis.optimum_bits, strict=True)}


def tune_native(kernel: Kernel, target: float, seed: int, samples: int, *,
                start: str = "sgd", method: str = "greedy", max_casts: int | None = None,
                cost_model: CostModel | None = None) -> NativeTuning:
    """Bits by `start`, then formats by `search_types` on the validation sample."""
    clock = time.perf_counter()
    tuning = None
    if start == "sgd":
        tuning = tune(kernel, target, seed, samples)
        analysis, bits, seconds = tuning.analysis, tuning.bits, dict(tuning.seconds)
        validation = Sample.draw(kernel, samples, validation_seed(seed))
    else:
        validation = Sample.draw(kernel, samples, validation_seed(seed))
        analysis = analyze(kernel, target, validation)
        bits, seconds = optimum_bits(kernel, analysis), {}
        seconds["analysis"] = time.perf_counter() - clock
    clock = time.perf_counter()
    search = search_types(kernel, target, bits, analysis.sensitivities, validation.inputs,
                          validation.reference, max_casts=max_casts, cost_model=cost_model,
                          method=method)
    seconds["type search"] = time.perf_counter() - clock
    return NativeTuning(analysis, bits, search, tuning, seed, seconds)


def verify_text(kernel: Kernel, text: str, sample: Sample) -> Verification:
    """Compile and measure native C source held in memory."""
    with tempfile.TemporaryDirectory(prefix="precisec-native-") as tmp:
        path = Path(tmp) / f"{kernel.name}.c"
        path.write_text(text)
        return verify(kernel, path, sample, native=True)


def emit_verified(kernel: Kernel, result: NativeTuning, samples: int,
                  header: Callable[[Verification | None], Sequence[str]],
                  ) -> tuple[str, Verification]:
    """The C text, measured as compiled on the test sample, with the measurement in its
    header."""
    test = Sample.draw(kernel, samples, test_seed(result.seed))
    verification = verify_text(kernel, emit_native(kernel, result.search.assignment,
                                                   header(None)), test)
    return emit_native(kernel, result.search.assignment, header(verification)), verification


def format_counts(result: NativeTuning) -> dict[str, int]:
    names = [f.name for f in result.search.assignment.values()]
    return {name: names.count(name) for name in dict.fromkeys(names)}


def mean_format_bits(result: NativeTuning) -> float:
    return float(np.mean([f.bits for f in result.search.assignment.values()]))
