"""The sound bound checked, not assumed (docs/method.md §8): every Table-1 kernel's
emitted MPFR C, compiled and run on the box corners, a grid and uniform inputs, never
errs by more than the bound of its allocation.

The fast suite runs 10^4 inputs per kernel at all-double and at a mixed allocation (bits
from 20 to 80, so that narrow sites, wide sites and the final conversion to double all
matter); the slow test runs 10^6 inputs per kernel at all-double and at the allocation
`precisec tune` produces for the Table-1 target. Two-input expressions over every kind
of rounding operation (libm functions, fma, pow, fmin/fmax, fabs) are checked the same
way at all-double and at random allocations of 8 to 70 bits, through the bit-exact
emulator.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from helpers import EXAMPLES, KERNEL_NAMES, benchmark
from helpers import kernel as parse_kernel

from precisec import flow
from precisec.backend.mpfr import emit_mpfr
from precisec.frontend.c import load_c
from precisec.ir import Kernel
from precisec.semantics.bound import bound
from precisec.semantics.compiled import Evaluator
from precisec.toolchain import run_tuned
from precisec.tune.tuner import require_target

CHUNK = 50_000  # inputs per compiled run (the exact reference holds them in memory)


def box_inputs(kernel: Kernel, count: int, seed: int = 0) -> np.ndarray:
    """The box's corners (a random quarter of `count` of them when there are more), a
    regular grid over it (when two points per axis fit in half of `count`), and uniform
    inputs: `count` in all."""
    lows, highs = np.array(kernel.lows), np.array(kernel.highs)
    dims = len(lows)
    rng = np.random.default_rng(seed)
    if 2**dims <= count // 4:
        corners = np.array(list(itertools.product(*zip(lows, highs, strict=True))))
    else:
        corners = np.where(rng.random((count // 4, dims)) < 0.5, lows, highs)
    per_axis = int((count // 2) ** (1 / dims))
    grid = np.empty((0, dims))
    if per_axis >= 2:
        axes = [np.linspace(lo, hi, per_axis) for lo, hi in zip(lows, highs, strict=True)]
        grid = np.array(np.meshgrid(*axes, indexing="ij")).reshape(dims, -1).T
    rest = max(0, count - len(corners) - len(grid))
    uniform = lows + (highs - lows) * rng.random((rest, dims))
    return np.vstack([corners, grid, uniform])[:count]


def observed_max_error(kernel: Kernel, bits: Sequence[int], inputs: np.ndarray,
                       tmp_path: Path) -> float:
    """max |compiled tuned C − exact| over the inputs and the outputs."""
    path = tmp_path / f"{kernel.name}.c"
    path.write_text(emit_mpfr(kernel, bits, ["soundness check"]))
    worst = 0.0
    with Evaluator(kernel) as evaluator:
        for start in range(0, len(inputs), CHUNK):
            chunk = inputs[start:start + CHUNK]
            outputs = run_tuned(path, kernel, chunk).outputs
            errors = evaluator.exact(chunk).errors(outputs)
            worst = max(worst, float(np.max(np.abs(errors))))
    return worst


def mixed_bits(kernel: Kernel) -> list[int]:
    return [(20, 35, 53, 80, 45, 64, 28)[s % 7] for s in range(len(kernel.sites))]


def check(kernel: Kernel, bits: Sequence[int], count: int, tmp_path: Path) -> None:
    result = bound(kernel, bits)
    assert result.value is not None, result.reason
    worst = observed_max_error(kernel, bits, box_inputs(kernel, count), tmp_path)
    # The observed error is itself computed in doubles: allow its last-bit rounding.
    assert worst <= result.value * (1 + 2.0**-40), (kernel.name, worst, result.value)
    assert math.isfinite(worst)


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_bound_holds_on_ten_thousand_inputs(name: str, tmp_path: Path,
                                            toolchain_available: bool) -> None:
    kernel = benchmark(name)
    check(kernel, [53] * len(kernel.sites), 10_000, tmp_path)
    check(kernel, mixed_bits(kernel), 10_000, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_bound_holds_on_a_million_inputs_all_double_and_tuned(
        name: str, tmp_path: Path, toolchain_available: bool) -> None:
    kernel = benchmark(name)
    tuned = flow.run(kernel, require_target(kernel, None), f"{name}.c")
    check(kernel, [53] * len(kernel.sites), 1_000_000, tmp_path)
    check(kernel, tuned.bits, 1_000_000, tmp_path)


EXPRESSIONS = [
    ("sin(x) * exp(y) - log(x + 2.0)", (0.1, 3.0), (-1.0, 1.0)),
    ("sqrt(x * y + 1.0) / (1.0 + cbrt(x))", (0.1, 3.0), (0.5, 2.0)),
    ("atan2(y, x) + hypot(x, y) * tanh(x - y)", (0.5, 3.0), (-2.0, 2.0)),
    ("pow(x, 3.0) - expm1(y) + log1p(x * 0.1)", (0.5, 1.5), (-1.0, 1.0)),
    ("fma(x, y, 0.3) * cos(x) + fabs(y - 0.25)", (-2.0, 2.0), (-1.0, 1.0)),
    ("fmax(x, y) * asin(y * 0.5) + exp2(x) - log2(x + 3.0)", (-1.0, 1.0), (-1.0, 1.0)),
    ("sinh(x) / cosh(y) + tan(x * 0.3) + acos(y * 0.4) + log10(x + 2.5)", (-1.0, 1.0),
     (-1.0, 1.0)),
]


@pytest.mark.parametrize(("expression", "xs", "ys"), EXPRESSIONS, ids=lambda e: str(e)[:20])
def test_bound_holds_for_every_kind_of_operation(expression: str, xs: tuple[float, float],
                                                 ys: tuple[float, float]) -> None:
    k = parse_kernel(f"#include <math.h>\n#pragma precisec range(x, {xs[0]}, {xs[1]})\n"
                     f"#pragma precisec range(y, {ys[0]}, {ys[1]})\n"
                     f"double f(double x, double y) {{ return {expression}; }}\n")
    rng = np.random.default_rng(1)
    inputs = box_inputs(k, 5000)
    allocations = [[53] * len(k.sites),
                   *([int(b) for b in rng.integers(8, 70, len(k.sites))] for _ in range(2))]
    with Evaluator(k) as evaluator:
        reference = evaluator.exact(inputs)
        for bits in allocations:
            result = bound(k, bits)
            assert result.value is not None, result.reason
            outputs = evaluator.emulate(bits, inputs).outputs
            worst = float(np.max(np.abs(reference.errors(outputs))))
            assert worst <= result.value * (1 + 2.0**-40), (bits, worst, result.value)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["euler", "matvec", "horner", "saxpy_float"])
def test_bound_holds_on_loops_arrays_and_float_kernels(name: str) -> None:
    """The examples with loops, arrays and a float baseline (no branch undecided on the
    box, so the bound covers every input), at their type's precision and at a random
    allocation, through the bit-exact emulator."""
    k = load_c(EXAMPLES / f"{name}.c")
    rng = np.random.default_rng(3)
    inputs = box_inputs(k, 10_000)
    lowest = 12 if k.precision == "float" else 20
    allocations = [[k.baseline_bits] * len(k.sites),
                   [int(b) for b in rng.integers(lowest, 70, len(k.sites))]]
    with Evaluator(k) as evaluator:
        reference = evaluator.exact(inputs)
        for bits in allocations:
            result = bound(k, bits)
            assert result.value is not None and result.covers_divergence, result.reason
            outputs = evaluator.emulate(bits, inputs).outputs
            worst = float(np.max(np.abs(reference.errors(outputs))))
            assert worst <= result.value * (1 + 2.0**-40), (bits, worst, result.value)
