"""The MPFR backend: the tuned file's shape (signature, one mpfr_t per value initialised
once, literals set once, a comment per site, `pc_` names), warning-free builds, bit-identity
with the compiled emulation (outputs and branch decisions), no leaks."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ir_kernels import bits_of, loc, loop_branch_array, random_kernels, sample

from precisec.backend.mpfr import emit_mpfr
from precisec.ir.builder import Builder, integer, real
from precisec.ir.check import verify
from precisec.ir.core import REAL, Input, Kernel, Output, Var, site_eqns
from precisec.semantics.compiled import Evaluator
from precisec.toolchain import TUNED_FLAGS, build_check, run_tuned

BITS = [20, 30, 40, 50, 24, 60]
# The comment `precisec check` reads the mean bits from (cli._BITS_COMMENT).
BITS_COMMENT = re.compile(r"/\* \d+:\d+ \w+, (\d+) bits \*/")
C_WORDS = {"const", "double", "float", "for", "int", "long", "if", "else", "return", "void",
           "include", "ifndef", "define", "endif", "mpfr", "h", "b", "c"}


def written(tmp_path: Path, text: str, name: str = "tuned.c") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tuned_file_shape() -> None:
    kernel = loop_branch_array()
    text = emit_mpfr(kernel, BITS, ["first header line", "second"])
    assert text.startswith("/*\n * first header line\n * second\n */\n#include <mpfr.h>\n")
    assert "#ifndef PRECISEC_BRANCH\n#define PRECISEC_BRANCH(b, c) (c)\n#endif" in text
    assert "\ndouble f(double x, double y, const double a[3], double out[3])\n{" in text
    assert "if (PRECISEC_BRANCH(0, " in text
    # one comment per site, in site order, with its source position and bits
    comments = re.findall(r"/\* (\d+):(\d+) (\w+), (\d+) bits \*/", text)
    assert [(int(a), int(b), op, int(n)) for a, b, op, n in comments] == [
        (e.loc.line, e.loc.col, e.op, bits) for e, bits in zip(site_eqns(kernel), BITS,
                                                               strict=True)]
    assert [int(b) for b in BITS_COMMENT.findall(text)] == BITS
    # every mpfr_t is initialised once, before the first loop, and cleared
    loop = text.index("for (long")
    scalars = [n for line in re.findall(r"^    mpfr_t ([^;\[]+);", text, re.M)
               for n in line.split(", ")]
    arrays = re.findall(r"^    mpfr_t (\w+)\[\d+\];", text, re.M)
    inits = re.findall(r"mpfr_init2\((\w+)(\[pc_k\])?, (\d+)\);", text)
    assert sorted(name for name, _, _ in inits) == sorted(scalars + arrays)
    assert all(text.index(f"mpfr_init2({name}") < loop for name, _, _ in inits)
    cleared = [n for group in re.findall(r"mpfr_clears\(([^;]+), \(mpfr_ptr\) 0\);", text)
               for n in group.split(", ")]
    cleared += re.findall(r"mpfr_clear\((\w+)\[pc_k\]\);", text)
    assert sorted(cleared) == sorted(scalars + arrays)
    # inputs enter exactly, results leave rounded to nearest
    assert "mpfr_set_d(pc_in_x, x, MPFR_RNDN);" in text
    assert ("pc_in_x", "", "53") in inits
    assert "mpfr_set_d(pc_in_a[pc_k], a[pc_k], MPFR_RNDN);" in text
    assert "double pc_result = mpfr_get_d(" in text
    assert "out[pc_k] = mpfr_get_d(pc_out_out[pc_k], MPFR_RNDN);" in text


def test_literals_follow_the_literal_rule_and_are_set_once() -> None:
    kernel = loop_branch_array()
    text = emit_mpfr(kernel, BITS, [])
    loop = text.index("for (long")
    sets = dict((text_, name) for name, text_ in
                re.findall(r'mpfr_set_str\((\w+), "([^"]+)", 10, MPFR_RNDN\);', text))
    assert set(sets) == {"1.1", "2", "3"}
    assert all(text.index(f"mpfr_set_str({name},") < loop for name in sets.values())
    inits = dict(re.findall(r"mpfr_init2\((\w+), (\d+)\);", text))
    assert inits[sets["1.1"]] == "20"  # argument of the 20-bit multiplication
    assert inits[sets["3"]] == "50"  # argument of the 50-bit division
    assert inits[sets["2"]] == "53"  # compared: the kernel type's precision


def test_merged_and_exact_values_are_wide_enough() -> None:
    """The carried s receives y (53 bits) and a 50/40-bit merge, so it has 53 bits; fabs of
    it too; the output array receives 24-bit values; the merge takes 50 bits."""
    text = emit_mpfr(loop_branch_array(), BITS, [])
    inits = dict(re.findall(r"mpfr_init2\((\w+)(?:\[pc_k\])?, (\d+)\);", text))
    carried = re.search(r"mpfr_set\((\w+), pc_in_y, MPFR_RNDN\);", text).group(1)
    assert inits[carried] == "53"
    merged = re.search(r"mpfr_set\((\w+), pc_v_\d+, MPFR_RNDN\);\n\s+} else", text).group(1)
    assert inits[merged] == "50"
    absolute = re.search(r"mpfr_abs\((\w+), ", text).group(1)
    assert inits[absolute] == "53"
    assert inits["pc_out_out"] == "24"


def test_generated_names_are_reserved() -> None:
    """Every identifier the backend makes up starts with pc_ (user names cannot)."""
    kernel = loop_branch_array()
    text = emit_mpfr(kernel, BITS, [])
    code = re.sub(r"/\*.*?\*/|\"[^\"]*\"", "", text, flags=re.S)
    names = set(re.findall(r"\b[A-Za-z_]\w*\b", code))
    ours = {n for n in names if not (n.startswith(("pc_", "mpfr_", "MPFR_")) or n in C_WORDS
                                     or n in {"PRECISEC_BRANCH", "f", "x", "y", "a", "out"})}
    assert ours == set()


def float_kernel() -> Kernel:
    """float g(float x, const float v[2]): x·v[0] + v[1]/3."""
    b = Builder()
    x, v = Var(REAL, (), "x"), Var(REAL, (2,), "v")
    first = b.op("load", [v, integer(0)], loc(2))
    second = b.op("load", [v, integer(1)], loc(2))
    r = b.op("add", [b.op("mul", [x, first], loc(2, 5)),
                     b.op("div", [second, real("3")], loc(2, 12))], loc(2, 9))
    params = [Input("x", (), (0.5,), (2.0,), loc(1)),
              Input("v", (2,), (1.0, 1.0), (2.0, 2.0), loc(1))]
    return verify(b.kernel("g", loc(1), params, [x, v], True, [r], precision="float"))


def test_float_kernel_keeps_its_signature(tmp_path: Path) -> None:
    kernel = float_kernel()
    text = emit_mpfr(kernel, [30, 12, 40], [])
    assert "\nfloat g(float x, const float v[2])\n" in text
    assert "mpfr_set_flt(pc_in_x, x, MPFR_RNDN);" in text
    assert "mpfr_init2(pc_in_x, 24);" in text
    assert "float pc_result = mpfr_get_flt(" in text
    inputs = sample(kernel, 300, seed=1)
    tuned = run_tuned(written(tmp_path, text), kernel, inputs)
    with Evaluator(kernel) as evaluator:
        emulated = evaluator.emulate([30, 12, 40], inputs)
    np.testing.assert_array_equal(bits_of(tuned.outputs), bits_of(emulated.outputs))


def test_strict_flags(tmp_path: Path) -> None:
    for flag in ("-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"):
        assert flag in TUNED_FLAGS
    kernel = loop_branch_array()
    build_check(written(tmp_path, emit_mpfr(kernel, BITS, [])), kernel)


@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.data_too_large])
@given(data=st.data(), precision=st.sampled_from(["double", "float"]))
def test_tuned_file_computes_the_emulation(tmp_path_factory: pytest.TempPathFactory,
                                           data: st.DataObject, precision: str) -> None:
    """Random kernels and precisions: the tuned file builds with -Wall -Wextra -Werror
    (run_tuned builds with TUNED_FLAGS) and its outputs and branch decisions are the
    evaluator's, bit for bit."""
    kernel = data.draw(random_kernels(precision=precision))
    bits = data.draw(st.lists(st.integers(2, 120), min_size=len(kernel.sites),
                              max_size=len(kernel.sites)))
    path = written(tmp_path_factory.mktemp("tuned"), emit_mpfr(kernel, bits, ["random"]))
    inputs = sample(kernel, 200, seed=2)
    tuned = run_tuned(path, kernel, inputs)
    with Evaluator(kernel) as evaluator:
        emulated = evaluator.emulate(bits, inputs)
    np.testing.assert_array_equal(bits_of(tuned.outputs), bits_of(emulated.outputs))
    if kernel.n_branches:
        np.testing.assert_array_equal(tuned.branches, emulated.branches)


def test_emission_is_deterministic() -> None:
    assert emit_mpfr(loop_branch_array(), BITS, ["h"]) == emit_mpfr(loop_branch_array(), BITS,
                                                                    ["h"])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_tuned_loop_and_branch_kernel_is_valgrind_clean(tmp_path: Path) -> None:
    kernel = loop_branch_array()
    path = written(tmp_path, emit_mpfr(kernel, BITS, []))
    log = tmp_path / "valgrind.log"
    inputs = sample(kernel, 20, seed=3)
    tuned = run_tuned(path, kernel, inputs, wrapper=(
        "valgrind", "--leak-check=full", "--error-exitcode=9", f"--log-file={log}"))
    with Evaluator(kernel) as evaluator:
        np.testing.assert_array_equal(tuned.outputs, evaluator.emulate(BITS, inputs).outputs)
    report = log.read_text()
    assert "ERROR SUMMARY: 0 errors" in report, report
    assert "definitely lost: 0 bytes" in report or "no leaks are possible" in report, report
    assert "indirectly lost: 0 bytes" in report or "no leaks are possible" in report, report


def unusual(kind: str) -> Kernel:
    """A kernel returning an input, a literal, or writing nothing to its output array."""
    b = Builder()
    x, out = Var(REAL, (), "x"), Var(REAL, (2,), "out")
    b.op("mul", [x, real("3")], loc(2))  # one site, whose value nothing uses
    result = {"input": x, "literal": real("2.5"), "untouched": x}[kind]
    params = [Input("x", (), (1.0,), (2.0,), loc(1)), Output("out", (2,), loc(1))]
    return verify(b.kernel(kind, loc(1), params, [x, out], True, [result, out]))


@pytest.mark.parametrize("kind", ["input", "literal", "untouched"])
def test_unusual_kernels_build_and_match(kind: str, tmp_path: Path) -> None:
    kernel = unusual(kind)
    inputs = sample(kernel, 50, seed=4)
    tuned = run_tuned(written(tmp_path, emit_mpfr(kernel, [7], [])), kernel, inputs)
    with Evaluator(kernel) as evaluator:
        emulated = evaluator.emulate([7], inputs)
    np.testing.assert_array_equal(bits_of(tuned.outputs), bits_of(emulated.outputs))
    assert np.all(tuned.outputs[:, 1:] == 0.0)
