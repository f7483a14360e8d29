"""The fast backend's file against the MPFR file of the same allocation, bit for bit, as
compiled C (built with -Wall -Wextra -Werror by `run_tuned`): every FPTuner kernel and
example at random allocations (2..53 bits, and some sites above 53 that go through MPFR),
on sampled inputs and on inputs scaled out of the safe range (the MPFR rerun), with the
branch decisions; the tuned Table-1 kernels and examples through `flow.run` (slow); a
loop, a branch and a math-function kernel under valgrind (slow)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import BENCHMARKS, EXAMPLES

from precisec import flow
from precisec.backend.fast import emit_fast
from precisec.backend.mpfr import emit_mpfr
from precisec.frontend.c import load_c
from precisec.ir import Kernel
from precisec.toolchain import Emulation, run_tuned
from precisec.tune.samples import sample_inputs
from precisec.tune.tuner import require_target

SOURCES = sorted(BENCHMARKS.glob("*.c")) + sorted(EXAMPLES.glob("*.c"))


def random_bits(kernel: Kernel, seed: int) -> list[int]:
    """Per site: any width, a typical tuned one, 53, or one above 53 (through MPFR)."""
    rng = random.Random(seed)
    return [rng.choice((rng.randint(2, 53), rng.randint(40, 53), 53, rng.randint(54, 120)))
            for _ in kernel.sites]


def both(kernel: Kernel, bits: list[int], inputs: np.ndarray, tmp_path: Path,
         wrapper: tuple[str, ...] = ()) -> tuple[Emulation, Emulation]:
    """The fast and the MPFR file of `bits`, run on `inputs`."""
    fast, mpfr = tmp_path / "fast.c", tmp_path / "mpfr.c"
    fast.write_text(emit_fast(kernel, bits, ["fast"]))
    mpfr.write_text(emit_mpfr(kernel, bits, ["mpfr"]))
    return (run_tuned(fast, kernel, inputs, wrapper=wrapper),
            run_tuned(mpfr, kernel, inputs))


def assert_identical(fast: Emulation, mpfr: Emulation) -> None:
    np.testing.assert_array_equal(fast.outputs.view(np.uint64), mpfr.outputs.view(np.uint64))
    if mpfr.branches is not None:
        assert fast.branches is not None
        np.testing.assert_array_equal(fast.branches, mpfr.branches)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_fast_file_is_the_mpfr_file_at_random_allocations(source: Path, tmp_path: Path) -> None:
    kernel = load_c(source)
    inputs = sample_inputs(kernel, 1000, seed=5)
    # a tenth of the rows scaled by 2^±950: values leave the safe range, the call reruns
    # in MPFR (or stays exact where it does not matter)
    rows = np.arange(0, len(inputs), 10)
    inputs[rows] *= np.where(rows % 20 == 0, 2.0**950, 2.0**-950)[:, None]
    for seed in (1, 2):
        fast, mpfr = both(kernel, random_bits(kernel, seed), inputs, tmp_path)
        assert_identical(fast, mpfr)


def test_math_functions_and_wide_sites_go_through_mpfr(tmp_path: Path) -> None:
    """exp, log, pow, sin at tuned bits, and a 64-bit and a 113-bit product: MPFR for that
    operation alone, the rest in doubles, the results the MPFR file's."""
    source = tmp_path / "k.c"
    source.write_text("#pragma precisec range(x, 0.5, 4)\n#pragma precisec range(y, -2, 2)\n"
                      "double k(double x, double y) {\n"
                      "    double a = exp(y) * x + log(x);\n"
                      "    double b = pow(x, y) - sin(a) / 3.0;\n"
                      "    return a * b + x * y;\n}\n")
    kernel = load_c(source)
    bits = [int(b) for b in np.linspace(20, 53, len(kernel.sites))]
    bits[-2:] = [64, 113]
    text = emit_fast(kernel, bits, ["fast"])
    assert "MPFR_DECL_INIT" in text and "64 bits through MPFR" in text
    assert "pc_mul_d(" in text and "mpfr_exp(pc_r" in text
    inputs = sample_inputs(kernel, 1000, seed=3)
    assert_identical(*both(kernel, bits, inputs, tmp_path))


def test_cflags_for_the_fast_backend() -> None:
    from precisec.toolchain import cflags_line

    line = cflags_line("fast")
    assert line.startswith(cflags_line("mpfr")) and line.endswith("-lm")


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_tuned_fast_file_is_the_mpfr_file_on_100k_inputs(source: Path, tmp_path: Path) -> None:
    """The Table-1 target (examples: their own), tuned through the flow with --backend fast:
    the file verifies like the others and equals the MPFR file of the same bits."""
    kernel = load_c(source)
    result = flow.run(kernel, require_target(kernel, None), source.name,
                      flow.Options(backend="fast", samples=2000))
    assert result.within_target
    assert "fast backend:" in result.text and "--backend fast" in result.text
    fast = tmp_path / "fast.c"
    fast.write_text(result.text)
    mpfr = tmp_path / "mpfr.c"
    mpfr.write_text(emit_mpfr(kernel, result.bits, ["mpfr"]))
    inputs = sample_inputs(kernel, 100_000, seed=11)
    assert_identical(run_tuned(fast, kernel, inputs), run_tuned(mpfr, kernel, inputs))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
@pytest.mark.parametrize("name", ["euler", "piecewise", "helper"])
def test_fast_files_are_valgrind_clean(name: str, tmp_path: Path) -> None:
    kernel = load_c(EXAMPLES / f"{name}.c")
    inputs = sample_inputs(kernel, 20, seed=9)
    inputs[::4] *= 2.0**950  # some calls rerun in MPFR
    log = tmp_path / "valgrind.log"
    fast, mpfr = both(kernel, random_bits(kernel, 3), inputs, tmp_path, wrapper=(
        "valgrind", "--leak-check=full", "--error-exitcode=9", f"--log-file={log}"))
    assert_identical(fast, mpfr)
    report = log.read_text()
    assert "ERROR SUMMARY: 0 errors" in report, report
    assert "definitely lost: 0 bytes" in report or "no leaks are possible" in report, report
