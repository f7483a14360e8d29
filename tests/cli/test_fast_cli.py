"""`precisec tune --backend fast` as a user runs it: the file, its header form and the
build flags; `precisec check` verifies it as a fast file, with the sound bound read from
its per-operation bits; `--emit h` with the MPFR backend is one located error."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
from helpers import BENCHMARKS, error_location, run_cli

SINE = BENCHMARKS / "sine.c"


@pytest.mark.slow
def test_fast_tune_check_header_and_cflags(tmp_path: Path) -> None:
    tuned, header = tmp_path / "sine.tuned.c", tmp_path / "sine.tuned.h"
    ran = run_cli("tune", str(SINE), "--backend", "fast", "-o", str(tuned),
                  "--samples", "2000")
    assert ran.returncode == 0, ran.stderr
    text = tuned.read_text()
    assert "fast backend:" in text and "$(precisec cflags --backend fast)" in text
    assert "void sine_batch(size_t pc_n" in text and "mpfr_t" in text
    checked = run_cli("check", str(SINE), str(tuned), "--samples", "2000", "--json")
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["backend"] == "fast" and report["within_target"]
    assert report["sound_bound"] is not None and report["mean_bits"] < 53
    ran = run_cli("tune", str(SINE), "--backend", "fast", "--emit", "h", "-o", str(header),
                  "--samples", "2000")
    assert ran.returncode == 0, ran.stderr
    assert "static inline double sine(double x)" in header.read_text()
    flags = run_cli("cflags", "--backend", "fast")
    assert flags.returncode == 0 and flags.stdout.split()[-1] == "-lm"
    app = tmp_path / "app.c"
    app.write_text('#include <stdio.h>\n#include "sine.tuned.h"\n'
                   'int main(void) { double o[2], x[2] = {0.5, 1.0}; sine_batch(2, x, o);\n'
                   '    printf("%a %a\\n", o[1], sine(1.0)); return 0; }\n')
    subprocess.run(["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", str(app),
                    "-o", str(tmp_path / "app"), *shlex.split(flags.stdout)], check=True,
                   cwd=tmp_path)
    first, second = subprocess.run([str(tmp_path / "app")], capture_output=True, text=True,
                                   check=True).stdout.split()
    assert first == second


def test_emit_h_with_the_mpfr_backend_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "sine.tuned.h"
    ran = run_cli("tune", str(SINE), "--emit", "h", "-o", str(out), "--samples", "2000")
    assert ran.returncode == 2
    assert "--emit h needs --backend fast or --backend native" in error_location(ran.stderr)[3]
    assert not out.exists()
