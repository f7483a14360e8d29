"""`precisec tune --backend native` as a user runs it: refusals of meaningless option
combinations (one located error line, exit 2, no file written), the report, and a tuned
file `precisec check` accepts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRECISEC = ROOT / ".venv" / "bin" / "precisec"
SINE = ROOT / "benchmarks_fptuner" / "sine.c"
SAMPLES = "2000"


def precisec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PRECISEC), *args], capture_output=True, text=True,
                          check=False, timeout=600)


@pytest.mark.parametrize(("args", "message"), [
    (["--backend", "native", "--emit", "fpcore"], "--emit fpcore cannot express"),
    (["--max-casts", "2"], "--max-casts applies only to --backend native"),
    (["--search", "snap"], "--search applies only to --backend native"),
    (["--start", "optimum"], "--start applies only to --backend native"),
    (["--cast-cost", "1"], "--cast-cost applies only to --backend native"),
    (["--backend", "mpfr", "--cast-cost", "4"], "--cast-cost applies only"),
    (["--backend", "native", "--cast-cost", "nan"], "must be finite and non-negative, got nan"),
    (["--backend", "native", "--cast-cost", "inf"], "must be finite and non-negative"),
    (["--backend", "native", "--cast-cost", "-1"], "must be finite and non-negative"),
    (["--backend", "native", "--search", "snap", "--max-casts", "1"],
     "needs the greedy search"),
])
def test_meaningless_combinations_are_refused(tmp_path: Path, args: list[str],
                                              message: str) -> None:
    out = tmp_path / "sine.tuned.c"
    ran = precisec("tune", str(SINE), *args, "-o", str(out), "--samples", SAMPLES)
    assert ran.returncode == 2
    assert ran.stderr.startswith(f"{SINE}:4:8: error: ")
    assert message in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1 and "Traceback" not in ran.stderr
    assert not out.exists()


def test_negative_max_casts_is_a_usage_error(tmp_path: Path) -> None:
    ran = precisec("tune", str(SINE), "--backend", "native", "--max-casts", "-1",
                   "-o", str(tmp_path / "x.c"))
    assert ran.returncode == 2 and "--max-casts" in ran.stderr


def test_native_report_json_and_check(tmp_path: Path) -> None:
    out = tmp_path / "sine.native.c"
    ran = precisec("tune", str(SINE), "--backend", "native", "--start", "optimum",
                   "--rmse", "1e-7", "-o", str(out), "--json", "--samples", SAMPLES)
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["backend"] == "native" and report["within_target"]
    assert report["start"] == "optimum" and report["search"] in ("greedy", "exact")
    assert report["formats"] == {"float": 10} and report["float_fraction"] == 1.0
    assert report["casts"] == 2 and report["max_casts"] is None
    assert [row["format"] for row in report["operations"]] == ["float"] * 10
    assert {"site", "line", "col", "op", "sensitivity", "start_bits", "snapped",
            "format_bits"} <= set(report["operations"][0])
    assert report["measured"]["rmse"] <= 1e-7
    assert report["validation"]["rmse"] <= 1e-7
    assert "type search" in report["seconds"]
    text = out.read_text()
    assert "mpfr" not in text and "double sine(double x)" in text
    checked = precisec("check", str(SINE), str(out), "--rmse", "1e-7", "--samples", SAMPLES)
    assert checked.returncode == 0 and "native backend" in checked.stdout


def test_native_report_text(tmp_path: Path) -> None:
    out = tmp_path / "sine.native.c"
    ran = precisec("tune", str(SINE), "--backend", "native", "--start", "optimum",
                   "--rmse", "1e-7", "--max-casts", "2", "--cast-cost", "1",
                   "-o", str(out), "--samples", SAMPLES)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].endswith("target RMSE 1e-07, native backend")
    assert "snapped" in lines[1] and "format" in lines[1]
    assert sum(line.rstrip().endswith("float") for line in lines[2:12]) == 10
    for label in ("snapped-up RMSE (emulated)", "searched RMSE (emulated)",
                  "measured RMSE (compiled C)", "formats", "casts", "estimated cost",
                  "time", "wrote"):
        assert any(line.startswith(label) for line in lines), label
    assert any(line.startswith("casts") and "(at most 2)" in line for line in lines)


def test_cflags_native() -> None:
    ran = precisec("cflags", "--backend", "native")
    flags = ran.stdout.split()
    assert ran.returncode == 0
    assert "-lquadmath" in flags and "-lm" in flags and "-ffp-contract=off" in flags
    assert not any("mpfr" in flag for flag in flags)
