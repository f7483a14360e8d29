"""Inputs the fast file does not check (docs/fast.md, "The rounding and why it is exact"):
an input used only by + − (and × where the product is one fused multiply-add) is covered
by the check of the result, so the file is the MPFR file's bit for bit even on inputs far
outside the safe range: huge, subnormal, infinite, NaN, zero. Built with the fused rules
(`__FP_FAST_FMA`, here through libm's correctly rounded `fma`) and with Dekker's product,
at allocations of 2..53 bits, where the checks are dropped."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from helpers import BENCHMARKS, EXAMPLES

from precisec.backend.cdouble import input_check
from precisec.backend.fast import emit_fast
from precisec.backend.mpfr import emit_mpfr
from precisec.frontend.c import load_c
from precisec.ir import Kernel
from precisec.toolchain import run_tuned
from precisec.tune.samples import sample_inputs

SOURCES = sorted(BENCHMARKS.glob("*.c")) + sorted(EXAMPLES.glob("*.c"))
FUSED = "#define __FP_FAST_FMA 1\n"


def extreme_inputs(kernel: Kernel, seed: int) -> np.ndarray:
    """Sampled inputs, most rows with one or more entries replaced by an extreme double."""
    inputs = sample_inputs(kernel, 600, seed=seed)
    rng = np.random.default_rng(seed)
    extremes = np.array([2.0**950, -2.0**-950, 2.0**-1060, -1.5 * 2.0**1023, np.inf, -np.inf,
                         np.nan, 0.0, -0.0, 2.0**-1074, 2.0**899, 2.0**-899])
    rows = rng.random(inputs.shape) < 0.3
    inputs[rows] = rng.choice(extremes, size=int(rows.sum()))
    scaled = rng.random(len(inputs)) < 0.2
    with np.errstate(over="ignore"):  # an extreme entry scaled may overflow: one more inf
        inputs[scaled] *= rng.choice([2.0**-600, 2.0**600], size=(int(scaled.sum()), 1))
    return inputs


@pytest.mark.parametrize("fused", [False, True], ids=["dekker", "fused"])
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_unchecked_inputs_give_the_mpfr_files_results(source: Path, fused: bool,
                                                      tmp_path: Path) -> None:
    kernel = load_c(source)
    rng = random.Random(source.stem)
    bits = [rng.choice((rng.randint(2, 53), rng.randint(40, 53), 53)) for _ in kernel.sites]
    fast, mpfr = tmp_path / "fast.c", tmp_path / "mpfr.c"
    fast.write_text((FUSED if fused else "") + emit_fast(kernel, bits, ["fast"]))
    mpfr.write_text(emit_mpfr(kernel, bits, ["mpfr"]))
    inputs = extreme_inputs(kernel, 5)
    got, want = run_tuned(fast, kernel, inputs), run_tuned(mpfr, kernel, inputs)
    np.testing.assert_array_equal(got.outputs.view(np.uint64), want.outputs.view(np.uint64))
    if want.branches is not None:
        np.testing.assert_array_equal(got.branches, want.branches)


def test_which_inputs_are_checked(tmp_path: Path) -> None:
    """x only added: no check; y also multiplied: checked without a fused product; z
    divided: checked; every input checked once a site is wider than a double."""
    source = tmp_path / "k.c"
    source.write_text("#pragma precisec range(x, 1, 2)\n#pragma precisec range(y, 1, 2)\n"
                      "#pragma precisec range(z, 1, 2)\n"
                      "double k(double x, double y, double z) {\n"
                      "    return (x + y) * y - 1.0 / z;\n}\n")
    kernel = load_c(source)
    x, y, z = kernel.body.params
    bits = [30] * len(kernel.sites)
    assert input_check(kernel.body, x, bits, "c;") == []
    assert input_check(kernel.body, y, bits, "c;") == ["#if !defined(__FP_FAST_FMA)", "c;",
                                                      "#endif"]
    assert input_check(kernel.body, z, bits, "c;") == ["c;"]
    assert input_check(kernel.body, x, [*bits[:-1], 64], "c;") == ["c;"]
    text = emit_fast(kernel, bits, ["fast"])
    assert "pc_safe_at(x," not in text and "pc_safe_at(z, &pc_bad);" in text


@pytest.mark.parametrize("fused", [False, True], ids=["dekker", "fused"])
def test_unchecked_sums_of_tiny_values(fused: bool, tmp_path: Path) -> None:
    """A sum of two checked values is not checked: near 2^-900 it may cancel to 2^-950 or
    so, and a quotient, a square root and a sum taking it stay exact."""
    source = tmp_path / "k.c"
    source.write_text("#pragma precisec range(x, 1, 2)\n#pragma precisec range(y, 2, 4)\n"
                      "double k(double x, double y) {\n"
                      "    double a = x * y;\n    double b = x * 3.0;\n    double d = a - b;\n"
                      "    return d / x + sqrt(fabs(d)) + (d - a) * y;\n}\n")
    kernel = load_c(source)
    rng = np.random.default_rng(11)
    x = (1 + rng.random(3000)) * 2.0 ** rng.integers(-905, -880, 3000).astype(float)
    y = 3 + rng.integers(-40, 40, 3000) * 2.0**-51
    inputs = np.stack([x, y], axis=1)
    for seed in range(3):
        choice = random.Random(seed)
        bits = [choice.choice((choice.randint(40, 53), 53)) for _ in kernel.sites]
        text = emit_fast(kernel, bits, ["fast"])
        assert "pc_sum_d(" in text
        fast, mpfr = tmp_path / "fast.c", tmp_path / "mpfr.c"
        fast.write_text((FUSED if fused else "") + text)
        mpfr.write_text(emit_mpfr(kernel, bits, ["mpfr"]))
        got, want = run_tuned(fast, kernel, inputs), run_tuned(mpfr, kernel, inputs)
        np.testing.assert_array_equal(got.outputs.view(np.uint64),
                                      want.outputs.view(np.uint64))
