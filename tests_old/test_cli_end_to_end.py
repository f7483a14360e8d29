"""End to end through the real CLI: tune, check, analyze, cflags.

The expensive runs (two tunes of verhulst with the same seed, an analysis of jet) start
concurrently in one module fixture.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import benchmark, benchmark_path, run_cli

from precisec.cli import default_output
from precisec.toolchain import build, find_toolchain

VERHULST = str(benchmark_path("verhulst"))
JET = str(benchmark_path("jet"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("e2e")
    jobs = {
        "tune text": ("tune", VERHULST, "-o", str(out / "a.c"), "--seed", "5"),
        "tune json": ("tune", VERHULST, "-o", str(out / "b.c"), "--seed", "5", "--json"),
        "analyze jet": ("analyze", JET, "--json", "--samples", "4000"),
        "analyze text": ("analyze", VERHULST, "--samples", "2000"),
        "cflags": ("cflags",),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_cli, *args) for name, args in jobs.items()}
        results = {name: f.result() for name, f in futures.items()}
    for name, result in results.items():
        assert "Traceback" not in result.stderr, (name, result.stderr)
    return out, results


def test_tune_exits_0_and_writes_the_file(runs) -> None:
    out, results = runs
    for name in ("tune text", "tune json"):
        assert results[name].returncode == 0, (name, results[name].stderr)
    assert (out / "a.c").is_file() and (out / "b.c").is_file()
    # written atomically: no temporary left behind
    leftovers = {p.name for p in out.iterdir()} - {"a.c", "b.c"}
    assert not leftovers, leftovers


def test_same_seed_gives_byte_identical_files(runs) -> None:
    out, _ = runs
    assert (out / "a.c").read_bytes() == (out / "b.c").read_bytes()


def test_tuned_file_has_the_same_signature_and_compiles_strictly(runs) -> None:
    out, _ = runs
    text = (out / "a.c").read_text()
    assert re.search(r"^double verhulst\(double x\)$", text, re.M)
    assert "#pragma" not in text
    k = benchmark("verhulst")
    built = build(out / "a.c", k, mpfr=True)  # -std=c11 -O2 -Wall -Wextra -Werror
    built.directory.cleanup()


def test_tuned_file_is_a_drop_in_with_cflags(runs, tmp_path: Path) -> None:
    out, results = runs
    assert results["cflags"].returncode == 0
    flags = shlex.split(results["cflags"].stdout.strip())
    app = tmp_path / "app.c"
    app.write_text('#include <stdio.h>\ndouble verhulst(double x);\n'
                   'int main(void) { printf("%.17g\\n", verhulst(0.2)); return 0; }\n')
    exe = tmp_path / "app"
    cc = find_toolchain().cc
    compiled = subprocess.run([cc, "-O2", str(app), str(out / "a.c"), *flags, "-o", str(exe)],
                              capture_output=True, text=True, check=False)
    assert compiled.returncode == 0, compiled.stderr
    value = float(subprocess.run([str(exe)], capture_output=True, text=True,
                                 check=True).stdout)
    assert value == pytest.approx(0.8 / (1 + 0.2 / 1.11), rel=1e-13, abs=0)


def test_text_report_lists_every_operation(runs) -> None:
    _, results = runs
    report = results["tune text"].stdout
    assert re.search(r"line:col\s+op\b.*\bbits\b.*budget share", report)
    k = benchmark("verhulst")
    for index in k.rounding_ops:
        node = k.nodes[index]
        row = re.search(rf"^\s*{node.loc.line}:{node.loc.col}\s+{node.op}\s.*?(\d+)\s+"
                        rf"([\d.]+)%\s*$", report, re.M)
        assert row, (node, report)
    for field in ("measured RMSE", "mean bits", "first-order optimum", "wrote"):
        assert field in report, field


def test_json_report_fields(runs) -> None:
    out, results = runs
    report = json.loads(results["tune json"].stdout)
    k = benchmark("verhulst")
    assert report["kernel"] == "verhulst"
    assert report["target_rmse"] == k.target_rmse
    assert Path(report["output"]) == out / "b.c"
    assert report["seed"] == 5
    assert report["within_target"] is True
    assert report["measured"]["rmse"] <= k.target_rmse
    assert report["measured"]["samples"] == 10_000
    assert report["measured"]["max_error"] >= report["measured"]["rmse"]
    operations = report["operations"]
    assert [(o["line"], o["col"], o["op"]) for o in operations] == [
        (k.nodes[i].loc.line, k.nodes[i].loc.col, k.nodes[i].op) for i in k.rounding_ops]
    bits = [o["bits"] for o in operations]
    assert all(isinstance(b, int) and 2 <= b <= 53 + 10 for b in bits)
    assert report["mean_bits"] == pytest.approx(sum(bits) / len(bits), rel=1e-12, abs=0)
    assert all(0 < o["budget_share"] <= 1 for o in operations)
    assert 40 < report["first_order_optimum_mean_bits"] < 55
    # the tuned file says what it is
    header = (out / "b.c").read_text().split("*/")[0]
    assert "verhulst" in header and "seed 5" in header
    assert f"{report['measured']['rmse']:.3e}" in header


def test_check_passes_within_target(runs) -> None:
    out, _ = runs
    result = run_cli("check", VERHULST, str(out / "a.c"), "--json", "--samples", "5000",
                     "--seed", "11")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["within_target"] is True
    assert report["measured"]["rmse"] <= report["target_rmse"] == benchmark("verhulst").target_rmse
    assert report["measured"]["samples"] == 5000


def test_check_exits_1_when_the_target_is_missed(runs) -> None:
    out, _ = runs
    result = run_cli("check", VERHULST, str(out / "a.c"), "--rmse", "1e-18", "--samples",
                     "2000")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "TARGET MISSED" in result.stdout


def test_analyze_jet_json(runs) -> None:
    _, results = runs
    result = results["analyze jet"]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    k = benchmark("jet")
    assert report["kernel"] == "jet"
    assert report["target_rmse"] == k.target_rmse
    assert 40 < report["first_order_optimum_mean_bits"] < 50
    assert 0 < report["double_rmse"] < k.target_rmse
    assert report["double_max_error"] >= report["double_rmse"]
    assert len(report["operations"]) == len(k.rounding_ops)
    shares = [o["double_share"] for o in report["operations"]]
    assert sum(shares) == pytest.approx(1.0, rel=1e-9, abs=0)
    assert all(o["sensitivity"] >= 0 for o in report["operations"])
    uniform = report["uniform_bits"]
    assert uniform is not None and 40 <= uniform <= 53


def test_analyze_text_report(runs) -> None:
    _, results = runs
    result = results["analyze text"]
    assert result.returncode == 0, result.stderr
    for field in ("sensitivity", "double baseline RMSE", "first-order optimum mean bits"):
        assert field in result.stdout, field
    assert re.search(r"^\s*5:17\s+mul\b", result.stdout, re.M)


def test_cflags_prints_link_flags(runs) -> None:
    _, results = runs
    result = results["cflags"]
    assert result.returncode == 0
    flags = result.stdout.strip()
    assert "mpfr" in flags and "gmp" in flags
    assert len(result.stdout.strip().splitlines()) == 1


def test_default_output_name() -> None:
    assert default_output("dir/kernel.c") == Path("dir/kernel.tuned.c")
    assert default_output("verhulst.c") == Path("verhulst.tuned.c")
