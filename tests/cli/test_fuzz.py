"""Fuzzing the command line with the shipped kernels, mutated token by token.

Each example takes a kernel of benchmarks_fptuner/ or examples/, applies one to three
mutations (delete, duplicate or swap tokens, or replace one with a word from a small
hostile vocabulary: braces, macros, line splices, comments, reserved names, extreme
numbers), and runs `precisec analyze` in process. The answer must be exit 0, or exit 2
with exactly one `file:line:col: error:` line located in the mutated file; never exit 3,
never a traceback, and the file is left as it was.

In CI it runs a fixed, derandomised set of examples in well under a minute. For a long
local run: PRECISEC_FUZZ_EXAMPLES=5000 PRECISEC_FUZZ_SEED=7 pytest tests/cli/test_fuzz.py
(the seed makes the run random but repeatable). With PRECISEC_FUZZ_TUNE=1 every kernel
that analyze accepts is also tuned (`tune -o`, a few seconds each): exit 0 with a file
that `check` confirms, or exit 1 with a file marked TARGET MISSED, or one located exit-2
line; the input file is never overwritten.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from helpers import BENCHMARKS, ERROR_LINE, EXAMPLES
from hypothesis import HealthCheck, event, example, given, seed, settings
from hypothesis import strategies as st

from precisec.cli import main

KERNELS = sorted([*BENCHMARKS.glob("*.c"), *EXAMPLES.glob("*.c")])
TOKEN = re.compile(r"\s+|//[^\n]*|/\*.*?\*/|#[^\n]*|[A-Za-z_]\w*|\d[\w.]*(?:[eE][+-]?\d+)?"
                   r"|\.\d[\w.]*|.", re.S)
HOSTILE = ("}", "{", "(", ")", ";", ",", "[", "]", "*", "/", "-", "=", "<", "?", ":", "x",
           "0", "0.0", "1e308", "-1.7976931348623157e308", "1e-320", "nan", "inf",
           "100000", "\\\n", "/*", "*/", "//", "#define x y\n", "#undef x\n", "#if 1\n",
           "\n#pragma precisec range(x, 0, 1)\n", "\n#pragma precisec rmse(0)\n",
           "for", "if", "else", "while", "return", "double", "float", "int", "const",
           "static", "struct", "MPFR_RNDN", "mpfr_t", "pc_t", "exp", "sqrt", "log", "pow",
           "fabs", "main", "\"s\"", "'c'", "\0", "\udcff", "é")
EXAMPLES_COUNT = int(os.environ.get("PRECISEC_FUZZ_EXAMPLES", "60"))
SEED = os.environ.get("PRECISEC_FUZZ_SEED")
TUNE = os.environ.get("PRECISEC_FUZZ_TUNE") == "1"

mutation = st.tuples(st.sampled_from(("delete", "duplicate", "swap", "replace")),
                     st.integers(min_value=0), st.sampled_from(HOSTILE))


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def mutate(parts: list[str], kind: str, where: int, word: str) -> list[str]:
    """One mutation at a non-blank token (`where` modulo their number)."""
    solid = [k for k, part in enumerate(parts) if part.strip()]
    if not solid:
        return parts
    k = solid[where % len(solid)]
    if kind == "delete":
        return parts[:k] + parts[k + 1:]
    if kind == "duplicate":
        return [*parts[:k + 1], " ", parts[k], *parts[k + 1:]]
    if kind == "swap":
        after = solid[(where + 1) % len(solid)]
        swapped = list(parts)
        swapped[k], swapped[after] = parts[after], parts[k]
        return swapped
    return [*parts[:k], word, *parts[k + 1:]]


def fuzz(test):  # type: ignore[no-untyped-def]
    chosen = settings(max_examples=EXAMPLES_COUNT, derandomize=SEED is None, deadline=None,
                      database=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow])(test)
    return seed(int(SEED))(chosen) if SEED is not None else chosen


@fuzz
@given(kernel=st.sampled_from(KERNELS), mutations=st.lists(mutation, min_size=1, max_size=3))
# found by a long run: `- 1e308` at the end of rigidBody2 (an internal error, then a
# numpy warning from a standard error of inf·0)
@example(kernel=BENCHMARKS / "rigidBody2.c", mutations=[("replace", 68373, "1e308")])
# and `1e308 * x` in sine (NaN sensitivities: the model's doubles overflow)
@example(kernel=BENCHMARKS / "sine.c", mutations=[("replace", 20, "1e308")])
def test_a_mutated_kernel_is_analysed_or_refused_at_one_place(
        kernel: Path, mutations: list[tuple[str, int, str]],
        tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]) -> None:
    parts = tokens(kernel.read_text())
    assert "".join(parts) == kernel.read_text()
    for kind, where, word in mutations:
        parts = mutate(parts, kind, where, word)
    path = tmp_path_factory.mktemp("fuzz") / kernel.name
    data = "".join(parts).encode("utf-8", errors="surrogateescape")
    path.write_bytes(data)
    capsys.readouterr()
    code = main(["analyze", str(path), "--samples", "64", "--json", "--rmse", "1e-10"])
    out, err = capsys.readouterr()
    assert path.read_bytes() == data, "the kernel file was changed"
    assert "Traceback" not in err and "Warning:" not in err, err
    assert code in (0, 2), (code, err)
    event(f"exit {code}")
    if code == 0:
        if TUNE:
            tune_and_check(path, data, capsys)
        return
    one_located_error(err, path)
    assert out == ""


def tune_and_check(path: Path, data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    """`tune` then `check` of a kernel analyze accepted."""
    tuned = path.with_name("out.tuned.c")
    code = main(["tune", str(path), "-o", str(tuned), "--samples", "500", "--rmse", "1e-10"])
    out, err = capsys.readouterr()
    event(f"tune exit {code}")
    assert path.read_bytes() == data, "tune changed its input"
    assert "Traceback" not in err and "Warning:" not in err, err
    assert code in (0, 1, 2), (code, err)
    if code == 2:
        one_located_error(err, path)
        return
    assert ("TARGET MISSED" in out) == (code == 1), out
    checked = main(["check", str(path), str(tuned), "--samples", "500", "--rmse", "1e-10"])
    out, err = capsys.readouterr()
    assert checked == code, (checked, err)  # the same test sample as tune measured on


def one_located_error(err: str, path: Path) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    match = ERROR_LINE.match(lines[0])
    assert match is not None, lines[0]
    assert match["file"] == str(path), lines[0]
    assert int(match["line"]) >= 1 and int(match["col"]) >= 1
