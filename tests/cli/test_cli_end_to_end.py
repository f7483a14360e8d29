"""End to end through the installed CLI: tune (text, JSON, FPCore output, default output
name), check, analyze, list, cflags; the tuned file written atomically, never over the
input, byte-identical for the same input and seed, and a drop-in replacement built with
`precisec cflags`.

The expensive runs start concurrently in one module fixture, on small samples.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import benchmark, benchmark_path, run_cli

from precisec.cli import default_output
from precisec.frontend.fpcore import parse_tuned_fpcore
from precisec.toolchain import build_check, find_toolchain

VERHULST = str(benchmark_path("verhulst"))
JET = str(benchmark_path("jet"))
SAMPLES = "2000"
TWO_CORES = """\
;; one FPCore precisec takes, one it refuses
(FPCore halve (x)
 :pre (<= 1 x 2)
 (/ x 2))

(FPCore loop (x)
 :pre (<= 1 x 2)
 (for ([i 3]) ([y x (+ y 1)]) y))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("e2e")
    own = out / "own"  # a kernel in a directory of its own: default output names
    own.mkdir()
    shutil.copy(VERHULST, own / "verhulst.c")
    (out / "two.fpcore").write_text(TWO_CORES)
    tune = ("tune", "--seed", "5", "--samples", SAMPLES)
    jobs = {
        "tune text": (*tune, VERHULST, "-o", str(out / "a.c")),
        "tune json": (*tune, VERHULST, "-o", str(out / "b.c"), "--json"),
        "tune fpcore": (*tune, str(own / "verhulst.c"), "--emit", "fpcore", "--json"),
        "analyze jet": ("analyze", JET, "--json", "--samples", SAMPLES),
        "analyze text": ("analyze", VERHULST, "--samples", "1000"),
        "cflags": ("cflags",),
        "list text": ("list", str(out / "two.fpcore")),
        "list json": ("list", str(out / "two.fpcore"), "--json"),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_cli, *args) for name, args in jobs.items()}
        results = {name: f.result() for name, f in futures.items()}
    for name, result in results.items():
        assert "Traceback" not in result.stderr, (name, result.stderr)
        assert result.returncode == 0, (name, result.stderr)
    return out, results


def test_tune_writes_the_file_atomically(runs) -> None:
    out, _ = runs
    assert (out / "a.c").is_file() and (out / "b.c").is_file()
    # written through a temporary in the same directory, renamed: none left behind
    assert sorted(p.name for p in out.iterdir()) == ["a.c", "b.c", "own", "two.fpcore"]
    assert sorted(p.name for p in (out / "own").iterdir()) == ["verhulst.c",
                                                               "verhulst.tuned.fpcore"]


def test_tune_leaves_its_input_alone(runs) -> None:
    out, _ = runs
    assert (out / "own" / "verhulst.c").read_bytes() == Path(VERHULST).read_bytes()


def test_same_input_and_seed_give_byte_identical_files(runs) -> None:
    """Two runs at once (text and JSON report): the same file, byte for byte."""
    out, _ = runs
    assert (out / "a.c").read_bytes() == (out / "b.c").read_bytes()


def test_tuned_file_keeps_the_signature_and_builds_strictly(runs) -> None:
    out, _ = runs
    text = (out / "a.c").read_text()
    assert re.search(r"^double verhulst\(double x\)$", text, re.M)
    assert "#pragma" not in text
    build_check(out / "a.c", benchmark("verhulst"))  # -std=c11 -O2 -Wall -Wextra -Werror


def test_tuned_file_is_a_drop_in_with_cflags(runs, tmp_path: Path) -> None:
    out, results = runs
    flags = shlex.split(results["cflags"].stdout.strip())
    app = tmp_path / "app.c"
    app.write_text('#include <stdio.h>\ndouble verhulst(double x);\n'
                   'int main(void) { printf("%.17g\\n", verhulst(0.2)); return 0; }\n')
    exe = tmp_path / "app"
    compiled = subprocess.run([find_toolchain().cc, "-O2", str(app), str(out / "a.c"), *flags,
                               "-o", str(exe)], capture_output=True, text=True, check=False)
    assert compiled.returncode == 0, compiled.stderr
    value = float(subprocess.run([str(exe)], capture_output=True, text=True,
                                 check=True).stdout)
    assert value == pytest.approx(0.8 / (1 + 0.2 / 1.11), rel=1e-13, abs=0)


def test_text_report_lists_every_operation(runs) -> None:
    _, results = runs
    report = results["tune text"].stdout
    assert re.search(r"line:col\s+op\b.*\bbits\b.*budget share\s+executed", report)
    for site in benchmark("verhulst").sites:  # every site runs on every input: 100%
        row = (rf"^\s*{site.loc.line}:{site.loc.col}\s+{site.op}\s.*?(\d+)\s+([\d.]+)%"
               r"\s+100\.0%\s*$")
        assert re.search(row, report, re.M), (site, report)
    for field in ("predicted RMSE", "measured RMSE", "mean bits", "first-order optimum",
                  "double baseline RMSE", "wrote"):
        assert field in report, field
    assert "TARGET MISSED" not in report


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
    assert report["measured"]["samples"] == report["validation"]["samples"] == int(SAMPLES)
    assert report["measured"]["max_error"] >= report["measured"]["rmse"]
    operations = report["operations"]
    assert [(o["site"], o["line"], o["col"], o["op"]) for o in operations] == [
        (n, s.loc.line, s.loc.col, s.op) for n, s in enumerate(k.sites)]
    bits = [o["bits"] for o in operations]
    assert all(isinstance(b, int) and 2 <= b <= 53 + 10 for b in bits)
    assert report["mean_bits"] == pytest.approx(sum(bits) / len(bits), rel=1e-12, abs=0)
    assert all(0 < o["budget_share"] <= 1 for o in operations)
    assert sum(o["budget_share"] for o in operations) == pytest.approx(
        (report["measured"]["rmse"] / k.target_rmse) ** 2, rel=1e-9)
    assert 40 < report["first_order_optimum_mean_bits"] < 55
    assert report["training_steps"] > 0
    assert {"reference", "analysis", "training", "refinement", "verification",
            "total"} <= set(report["seconds"])
    # the tuned file says what it is and what was measured
    header = (out / "b.c").read_text().split("*/")[0]
    assert "verhulst" in header and "seed 5" in header
    assert f"{report['measured']['rmse']:.3e}" in header
    assert f"mean bits {report['mean_bits']:.2f}" in header


def test_fpcore_output_carries_the_same_bits(runs) -> None:
    """--emit fpcore writes KERNEL.tuned.fpcore by default, with the bits the C file of
    the same seed has."""
    out, results = runs
    report = json.loads(results["tune fpcore"].stdout)
    path = out / "own" / "verhulst.tuned.fpcore"
    assert Path(report["output"]) == path
    kernel, bits = parse_tuned_fpcore(path.read_text(), str(path))
    assert bits == [o["bits"] for o in json.loads(results["tune json"].stdout)["operations"]]
    assert len(kernel.sites) == len(benchmark("verhulst").sites)


def test_check_passes_within_target(runs) -> None:
    out, _ = runs
    result = run_cli("check", VERHULST, str(out / "a.c"), "--json", "--samples", SAMPLES,
                     "--seed", "11")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["within_target"] is True and report["backend"] == "mpfr"
    assert report["measured"]["rmse"] <= report["target_rmse"] == benchmark("verhulst").target_rmse
    assert report["measured"]["samples"] == int(SAMPLES)
    tuned = json.loads(runs[1]["tune json"].stdout)
    assert report["mean_bits"] == pytest.approx(tuned["mean_bits"], rel=1e-12, abs=0)


def test_check_exits_1_when_the_target_is_missed(runs) -> None:
    out, _ = runs
    result = run_cli("check", VERHULST, str(out / "a.c"), "--rmse", "1e-18", "--samples",
                     "1000")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "TARGET MISSED" in result.stdout


def test_analyze_jet_json(runs) -> None:
    _, results = runs
    report = json.loads(results["analyze jet"].stdout)
    k = benchmark("jet")
    assert report["kernel"] == "jet"
    assert report["target_rmse"] == k.target_rmse
    assert 40 < report["first_order_optimum_mean_bits"] < 50
    assert 0 < report["double_rmse"] < k.target_rmse
    assert report["double_max_error"] >= report["double_rmse"]
    assert len(report["operations"]) == len(k.sites)
    shares = [o["double_share"] for o in report["operations"]]
    assert sum(shares) == pytest.approx(1.0, rel=1e-9, abs=0)
    assert all(o["sensitivity"] >= 0 for o in report["operations"])
    assert all(o["bits"] is None for o in report["operations"])
    uniform = report["uniform_bits"]
    assert uniform is not None and 40 <= uniform <= 53


def test_analyze_text_report(runs) -> None:
    _, results = runs
    stdout = results["analyze text"].stdout
    for field in ("sensitivity", "double baseline RMSE", "smallest uniform precision",
                  "first-order optimum mean bits"):
        assert field in stdout, field
    assert re.search(r"^\s*5:17\s+mul\b", stdout, re.M)
    assert "1000 inputs (seed 0)" in stdout.splitlines()[0]


def test_list_tells_supported_from_refused(runs) -> None:
    out, results = runs
    lines = results["list text"].stdout.splitlines()
    assert len(lines) == 2
    assert re.match(r"\s*0\s+halve\s+\(x\)\s+supported$", lines[0])
    assert lines[1].endswith(f"unsupported: {out / 'two.fpcore'}:8:2: `for` loops are not "
                             "supported")
    listing = json.loads(results["list json"].stdout)
    assert [(e["index"], e["name"], e["args"], e["supported"]) for e in listing] == [
        (0, "halve", ["x"], True), (1, "loop", ["x"], False)]
    assert listing[1]["where"] == f"{out / 'two.fpcore'}:8:2"
    assert listing[0]["reason"] is None and "for" in listing[1]["reason"]


def test_cflags_prints_link_flags(runs) -> None:
    _, results = runs
    flags = results["cflags"].stdout.strip()
    assert "mpfr" in flags and "gmp" in flags
    assert len(results["cflags"].stdout.strip().splitlines()) == 1


def test_commands_that_do_not_tune_do_not_import_jax() -> None:
    """`cflags`, `list` and refusals of bad input answer without loading the tuner."""
    probe = "import sys, precisec.cli; sys.exit('jax' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


def test_default_output_name() -> None:
    assert default_output("dir/kernel.c") == Path("dir/kernel.tuned.c")
    assert default_output("verhulst.c") == Path("verhulst.tuned.c")
    assert default_output("dir/k.fpcore", "fpcore") == Path("dir/k.tuned.fpcore")


def test_extreme_ranges_and_targets_are_analysed_quietly(tmp_path: Path) -> None:
    """Inputs up to ±1.7e308 and a target of 1e290: squares of such numbers overflow a
    double, which must not show (no traceback, no numpy warning on stderr)."""
    source = tmp_path / "big.c"
    source.write_text("#pragma precisec range(x, -1.7e308, 1.7e308)\n"
                      "#pragma precisec rmse(1e290)\n"
                      "double f(double x) {\n    return x * 0.5;\n}\n")
    result = run_cli("analyze", str(source), "--samples", "200", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["uniform_bits"] is not None


def test_analyze_without_a_target_prints_what_needs_none(tmp_path: Path) -> None:
    """No rmse pragma and no --rmse: sensitivities, shares, coverage and the baseline,
    and no figure that would need a target."""
    source = tmp_path / "untargeted.c"
    source.write_text("#pragma precisec range(x, 1, 2)\n"
                      "double f(double x) {\n    return x * x + 1.0;\n}\n")
    text = run_cli("analyze", str(source), "--samples", "300")
    assert text.returncode == 0, text.stderr
    assert "no error target" in text.stdout and "double baseline RMSE" in text.stdout
    assert re.search(r"^\s*3:14\s+mul\s+[\d.e+-]+\s+[\d.]+%\s+100\.0%", text.stdout, re.M)
    report = json.loads(run_cli("analyze", str(source), "--samples", "300", "--json").stdout)
    assert report["target_rmse"] is None and 0 < report["double_rmse"] < 1e-15
    assert [(o["line"], o["col"], o["op"]) for o in report["operations"]] == [
        (3, 14, "mul"), (3, 18, "add")]
    assert "uniform_bits" not in report and "first_order_optimum_mean_bits" not in report


@pytest.mark.slow
@pytest.mark.parametrize(("ranges", "target", "body"), [
    ("4.9e-324, 1e-320", "1e-322", "x * 3.0 + x"),      # subnormal inputs and target
    ("-1.7e308, 1.7e308", "1e290", "x - 1.0"),         # squares beyond the double range
])
def test_extreme_kernels_tune_quietly_with_honest_figures(tmp_path: Path, ranges: str,
                                                           target: str, body: str) -> None:
    """Tuning where squares of errors or sensitivities leave the double range: exit 0 or 1
    (never an internal error), nothing on stderr, and a measured RMSE that neither
    underflows to 0 nor exceeds the max error."""
    source = tmp_path / "extreme.c"
    source.write_text(f"#pragma precisec range(x, {ranges})\n#pragma precisec rmse({target})\n"
                      f"double f(double x) {{\n    return {body};\n}}\n")
    result = run_cli("tune", str(source), "-o", str(tmp_path / "out.c"), "--samples", "300",
                     "--json")
    assert result.returncode in (0, 1), result.stderr
    assert result.stderr == ""
    measured = json.loads(result.stdout)["measured"]
    assert measured["rmse"] <= measured["max_error"]
    assert (measured["rmse"] > 0) == (measured["max_error"] > 0)


def test_a_seed_beyond_64_bits_is_accepted_and_deterministic() -> None:
    """--seed 2**128 (numpy's SeedSequence takes any non-negative integer)."""
    args = ("analyze", str(benchmark_path("verhulst")), "--samples", "200", "--json",
            "--seed", str(2**128))
    first, second = run_cli(*args), run_cli(*args)
    assert first.returncode == 0, first.stderr

    def figures(report: object) -> object:  # all but timings
        if isinstance(report, dict):
            return {k: figures(v) for k, v in report.items() if k != "seconds"}
        return report

    assert figures(json.loads(first.stdout)) == figures(json.loads(second.stdout))
    assert json.loads(first.stdout)["double_rmse"] > 0


def test_analyze_near_dbl_max_prints_finite_figures(tmp_path: Path) -> None:
    """Results near ±DBL_MAX: the sensitivities exceed the double range, so they are shown
    from their log2 with a located note; no inf or nan anywhere, and a first-order optimum
    near the 56 bits that ½·log2(n·k²·S/τ²) gives, not the 512-bit cap."""
    source = tmp_path / "huge.c"
    source.write_text("#pragma precisec range(x, -1.7e308, 1.7e308)\n"
                      "#pragma precisec rmse(1e290)\n"
                      "double f(double x) {\n    return x * 0.5;\n}\n")
    text = run_cli("analyze", str(source), "--samples", "300")
    assert text.returncode == 0, text.stderr
    assert not re.search(r"inf|nan", text.stdout, re.I), text.stdout
    assert re.search(r"^\s*4:14\s+mul\s+\d\.\d{3}e\+61\d\s+100\.0%", text.stdout, re.M)
    assert re.search(rf"^{re.escape(str(source))}:3:8: note: sensitivities exceed the double "
                     r"range; shown from their log2, computed on the \d+ of 300 inputs",
                     text.stdout, re.M)
    optimum = float(re.search(r"first-order optimum mean bits\s+([\d.]+)", text.stdout)[1])
    assert 50 < optimum < 60
    report = run_cli("analyze", str(source), "--samples", "300", "--json")
    assert report.returncode == 0 and report.stderr == ""
    assert not re.search(r"inf|nan", report.stdout, re.I)
    row = json.loads(report.stdout)["operations"][0]
    assert row["sensitivity"] is None and 2030 < row["log2_sensitivity"] < 2050
    assert row["double_share"] == 1.0
