"""The sound bound and the worst-case target through the installed CLI: `tune` with a
maxerr pragma alone, `check` and `analyze` reporting bounds, in text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import benchmark_path, run_cli

from precisec.frontend.c import load_c
from precisec.semantics.bound import bound

TARGET = 3.79e-16


def maxerr_kernel(tmp_path: Path) -> Path:
    """verhulst with a maxerr pragma instead of its rmse pragma."""
    text = benchmark_path("verhulst").read_text().replace(f"rmse({TARGET})", f"maxerr({TARGET})")
    assert f"maxerr({TARGET})" in text
    path = tmp_path / "verhulst.c"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_tune_to_a_maxerr_pragma_alone_then_check(tmp_path: Path) -> None:
    source = maxerr_kernel(tmp_path)
    out = tmp_path / "verhulst.tuned.c"
    tuned = run_cli("tune", str(source), "-o", str(out), "--samples", "1000", "--json")
    assert tuned.returncode == 0, tuned.stderr
    report = json.loads(tuned.stdout)
    assert report["maxerr"] == TARGET and report["within_target"]
    assert report["sound_bound"]["bound"] <= TARGET
    assert report["target"] == {"metric": "rmse", "value": TARGET}  # implied by the bound
    text = out.read_text()
    assert f"guarantee: worst case, target maxerr {TARGET:.3e}" in text
    checked = run_cli("check", str(source), str(out), "--samples", "1000", "--json")
    assert checked.returncode == 0, checked.stderr
    found = json.loads(checked.stdout)["sound_bound"]["bound"]
    assert found <= TARGET and found == report["sound_bound"]["bound"]
    plain = run_cli("check", str(source), str(out), "--samples", "1000")
    assert "sound bound" in plain.stdout and "on the worst-case error over the input box" \
        in plain.stdout


def test_analyze_reports_the_all_double_and_optimum_bounds() -> None:
    path = benchmark_path("doppler1")
    done = run_cli("analyze", str(path), "--samples", "1000", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    kernel = load_c(path)
    assert report["sound_bound_all_double"]["bound"] == bound(kernel, [53] * 6).value
    assert report["sound_bound_first_order_optimum"]["bound"] > \
        report["sound_bound_all_double"]["bound"]
    text = run_cli("analyze", str(path), "--samples", "1000").stdout
    assert "all-double sound bound" in text and "first-order optimum sound bound" in text


def test_bad_maxerr_flag_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli("tune", str(benchmark_path("verhulst")), "--maxerr", "-1",
                   "-o", str(tmp_path / "x.c"))
    assert done.returncode == 2 and "must be positive" in done.stderr
