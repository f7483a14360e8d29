"""Structured kernels (issue 5): loops, branches, arrays, helpers, float kernels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from precisec.backend.structured import emit_structured
from precisec.cli import main
from precisec.frontend.c import load_c, parse_c
from precisec.reference import emulate, exact, sample_inputs
from precisec.toolchain import build

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NAMES = ["horner", "piecewise", "matvec", "euler", "helper", "saxpy_float"]


def test_straight_line_kernels_keep_the_old_path() -> None:
    kernel = load_c(ROOT / "benchmarks_fptuner" / "jet.c")
    assert not kernel.is_structured
    assert kernel.sites == kernel.rounding_ops


@pytest.mark.parametrize(("name", "sites", "decisions"), [
    ("horner", 2, 0), ("piecewise", 18, 3), ("matvec", 2, 0), ("euler", 12, 0),
    ("helper", 16, 0), ("saxpy_float", 6, 0)])
def test_examples_parse_with_one_site_per_source_operation(name: str, sites: int,
                                                           decisions: int) -> None:
    kernel = load_c(EXAMPLES / f"{name}.c")
    assert kernel.is_structured
    assert len(kernel.sites) == sites
    assert len({b.site for b in kernel.branches}) == decisions


@pytest.mark.parametrize("name", NAMES)
def test_emitted_c_equals_the_emulator_bit_for_bit(name: str, tmp_path: Path) -> None:
    """Random per-site precisions: the compiled structured C (gcc -Wall -Wextra -Werror)
    returns exactly what the emulator computes on the unrolled IR, branches included."""
    kernel = load_c(EXAMPLES / f"{name}.c")
    rng = np.random.default_rng(7)
    bits = kernel.expand_bits([int(b) for b in rng.integers(12, 60, len(kernel.sites))])
    source = tmp_path / f"{name}.c"
    source.write_text(emit_structured(kernel, bits, ["test"]))
    inputs = sample_inputs(kernel, 300, 3)
    built = build(source, kernel, mpfr=True, trace=True)
    try:
        outputs, trace = built.run_traced(inputs)
    finally:
        built.directory.cleanup()
    assert np.array_equal(outputs, emulate(kernel, bits, inputs))
    text = source.read_text()
    assert text.count(" bits */") == len(kernel.sites)
    if kernel.branches:
        assert trace is not None and trace.shape == (300, len(kernel.branches))


def test_exact_branch_trace_matches_the_traced_c_at_high_precision(tmp_path: Path) -> None:
    kernel = load_c(EXAMPLES / "piecewise.c")
    bits = kernel.expand_bits([200] * len(kernel.sites))
    source = tmp_path / "p.c"
    source.write_text(emit_structured(kernel, bits, ["test"]))
    inputs = sample_inputs(kernel, 500, 5)
    built = build(source, kernel, mpfr=True, trace=True)
    try:
        _, trace = built.run_traced(inputs)
    finally:
        built.directory.cleanup()
    reference = exact(kernel, inputs)
    assert reference.branches is not None
    assert np.array_equal(trace, reference.branches)


def test_loops_stay_loops_and_float_signature_is_kept(tmp_path: Path) -> None:
    kernel = load_c(EXAMPLES / "saxpy_float.c")
    text = emit_structured(kernel, kernel.expand_bits([30] * len(kernel.sites)), ["t"])
    assert "float smooth(float a, const float w[N])" in text
    assert text.count("for (; i < N; i++)") == 1
    assert "mpfr_get_flt" in text
    inputs = sample_inputs(kernel, 100, 1)
    assert np.array_equal(inputs, inputs.astype(np.float32).astype(np.float64))


def test_output_array_rmse_is_over_all_elements() -> None:
    kernel = load_c(EXAMPLES / "matvec.c")
    inputs = sample_inputs(kernel, 50, 2)
    outputs = emulate(kernel, kernel.expand_bits([20, 20]), inputs)
    assert outputs.shape == (50, 6)
    assert exact(kernel, inputs).hi.shape == (50, 6)


UNSUPPORTED = {
    "while": ("#pragma precisec range(x, 1, 2)\n"
              "double f(double x) {\n    double y = x;\n    while (y > 0.1) y = y / 2.0;\n"
              "    return y;\n}\n", "4:5", "while loops"),
    "pointer": ("#pragma precisec range(x, 1, 2)\n"
                "double f(double x, const double *p) {\n    return x * *(p + 1);\n}\n",
                "2:33", "pointer"),
    "recursion": ("#pragma precisec range(x, 1, 2)\n"
                  "double g(double x) {\n    return x * g(x);\n}\n"
                  "double f(double x) {\n    return g(x);\n}\n", "3:16", "recursion"),
    "goto": ("#pragma precisec range(x, 1, 2)\n"
             "double f(double x) {\n    goto done;\ndone:\n    return x;\n}\n", "3:5", "goto"),
    "struct": ("struct P { double a; };\n#pragma precisec range(x, 1, 2)\n"
               "double f(double x) {\n    struct P p;\n    p.a = x;\n    return p.a;\n}\n",
               "1:8", "struct"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_constructs_get_a_located_error(case: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    source, where, word = UNSUPPORTED[case]
    path = tmp_path / "k.c"
    path.write_text(source)
    assert main(["analyze", str(path), "--rmse", "1e-10", "--samples", "10"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{path}:{where}: error: "), err
    assert word in err


def test_missing_element_range_is_reported() -> None:
    with pytest.raises(Exception, match=r"k.c:2:\d+: error: element x\[1\] has no range"):
        parse_c("#pragma precisec range(x[0], 0, 1)\n"
                "double f(const double x[3]) { return x[0] + x[1]; }\n", "k.c")


@pytest.mark.parametrize("name", NAMES)
def test_tune_and_check_examples(name: str, tmp_path: Path) -> None:
    """Each example tuned, built with -Wall -Wextra -Werror, and checked on fresh inputs."""
    tuned = tmp_path / f"{name}.tuned.c"
    run = [sys.executable, "-m", "precisec.cli"]
    tune = subprocess.run([*run, "tune", str(EXAMPLES / f"{name}.c"), "-o", str(tuned),
                           "--samples", "2000", "--json"], capture_output=True, text=True,
                          check=False)
    assert tune.returncode == 0, tune.stderr
    check = subprocess.run([*run, "check", str(EXAMPLES / f"{name}.c"), str(tuned),
                            "--samples", "2000", "--json"], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert report["measured"]["rmse"] <= report["target_rmse"]
    if name == "piecewise":
        assert 0.0 <= report["branch_divergence"] <= 0.05
