"""binary32 FPCores become float kernels: float signature, single-precision baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli

from precisec.backend.fpcore_out import emit_fpcore
from precisec.backend.mpfr import emit_mpfr
from precisec.frontend.fpcore import parse_fpcore, parse_tuned_fpcore
from precisec.pipeline import baseline_bits
from precisec.reference import emulate, sample_inputs
from precisec.toolchain import build

SOURCE = """(FPCore (x y)
 :name "f32 kernel"
 :precision binary32
 :pre (and (<= 1 x 2) (<= 0.5 y 3))
 (/ (+ (* x y) 1.1) (- x (* 0.3 y))))
"""


@pytest.fixture
def kernel_file(tmp_path: Path) -> Path:
    path = tmp_path / "f32.fpcore"
    path.write_text(SOURCE)
    return path


def test_binary32_fpcore_is_a_float_kernel() -> None:
    kernel = parse_fpcore(SOURCE, "f32.fpcore")
    assert kernel.precision == "float"
    assert baseline_bits(kernel) == 24
    inputs = sample_inputs(kernel, 200, 1)
    assert np.array_equal(inputs, inputs.astype(np.float32).astype(np.float64))


def test_float_kernel_c_is_bit_identical_to_the_emulator(tmp_path: Path,
                                                         toolchain_available: bool) -> None:
    kernel = parse_fpcore(SOURCE, "f32.fpcore")
    rng = np.random.default_rng(3)
    bits = {i: int(rng.integers(12, 40)) for i in kernel.rounding_ops}
    source = tmp_path / "tuned.c"
    source.write_text(emit_mpfr(kernel, bits, ["test"]))
    assert "float f32_kernel(float x, float y)" in source.read_text()
    inputs = sample_inputs(kernel, 1000, 2)
    built = build(source, kernel, mpfr=True)
    try:
        compiled = built.run(inputs)
    finally:
        built.directory.cleanup()
    emulated = emulate(kernel, bits, inputs)
    assert np.array_equal(compiled, emulated)
    assert np.array_equal(compiled, compiled.astype(np.float32).astype(np.float64))


def test_emitted_fpcore_keeps_binary32() -> None:
    kernel = parse_fpcore(SOURCE, "f32.fpcore")
    bits = dict.fromkeys(kernel.rounding_ops, 20)
    text = emit_fpcore(kernel, bits)
    assert ":precision binary32" in text
    again, again_bits = parse_tuned_fpcore(text, "out.fpcore")
    assert again.precision == "float"
    assert [again_bits[i] for i in again.rounding_ops] == [20] * len(kernel.rounding_ops)


def test_tune_and_check_a_float_fpcore(kernel_file: Path, tmp_path: Path,
                                       toolchain_available: bool) -> None:
    out = tmp_path / "f32.tuned.c"
    tune = run_cli("tune", str(kernel_file), "--rmse", "1e-5", "--samples", "2000", "-o",
                   str(out), "--json")
    assert tune.returncode == 0, tune.stderr
    report = json.loads(tune.stdout)
    assert report["measured"]["rmse"] <= 1e-5
    assert report["mean_bits"] < 24
    check = run_cli("check", str(kernel_file), str(out), "--rmse", "1e-5", "--samples", "2000")
    assert check.returncode == 0, check.stdout + check.stderr
    unreachable = run_cli("tune", str(kernel_file), "--rmse", "1e-9", "--samples", "500", "-o",
                          str(tmp_path / "x.c"))
    assert unreachable.returncode == 2
    assert "returned as a float" in unreachable.stderr
