"""Relative and bits targets end to end (docs/method.md §10, §6): tuned through the one
flow, emitted, compiled and measured on the fresh test sample in the target's metric, in
the C frontend (pragmas) and the FPCore frontend (properties, unbounded arguments,
preconditions), and through the CLI with its flags and report."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import kernel

from precisec import flow
from precisec.frontend.fpcore import parse_fpcore
from precisec.semantics.compiled import Evaluator
from precisec.tune import samples
from precisec.tune.metrics import Target
from precisec.tune.samples import Sample

SAMPLES = 2000
RELATIVE_C = """\
#pragma precisec range(x, 0.5, 100)
#pragma precisec range(y, 1, 2)
#pragma precisec relrmse(1e-12)
double f(double x, double y) {
    return (x * y + 1.0) / (x - 0.25);
}
"""
HERON_C = """\
#pragma precisec range(a, 1, 9)
#pragma precisec range(b, 1, 9)
#pragma precisec range(c, 1, 9)
#pragma precisec pre(a + b > c && a + c > b && b + c > a)
#pragma precisec bits(3)
double heron(double a, double b, double c) {
    double s = (a + b + c) / 2;
    return sqrt(s * (s - a) * (s - b) * (s - c));
}
"""
UNBOUNDED_FPCORE = """\
(FPCore (x)
 :name "NMSE example 3.1"
 :pre (>= x 0)
 :precisec-bits 16
 (- (sqrt (+ x 1)) (sqrt x)))
"""


def remeasured(result: flow.Result) -> float:
    """The emitted text compiled and run again on the test sample: the reported figure."""
    with Evaluator(result.kernel) as evaluator:
        sample = Sample.draw(evaluator, SAMPLES, samples.test_seed(0), corners=False,
                             metric=result.metric)
    return flow.verify_text(result.kernel, result.text, sample).measurement.value


@pytest.mark.slow
def test_a_relative_target_is_met_in_compiled_c() -> None:
    k = kernel(RELATIVE_C)
    result = flow.run(k, Target(k.target_metric, k.target_rmse), "f.c",
                      flow.Options(samples=SAMPLES))
    measured = result.verification.measurement
    assert (result.metric, measured.metric) == ("relrmse", "relrmse")
    assert result.within_target and measured.value <= 1e-12
    assert "target relative RMSE 1.000e-12; measured relative RMSE" in result.text
    assert remeasured(result) == measured.value
    # the same kernel under an absolute target is a different problem with other bits
    absolute = flow.run(k, 1e-10, "f.c", flow.Options(samples=SAMPLES))
    assert absolute.metric == "rmse" and absolute.verification.measurement.rmse <= 1e-10
    assert "target RMSE 1.000e-10" in absolute.text


@pytest.mark.slow
def test_a_bits_target_with_a_c_precondition() -> None:
    k = kernel(HERON_C)
    result = flow.run(k, Target("bits", 3.0), "heron.c", flow.Options(samples=SAMPLES))
    assert result.within_target and result.verification.measurement.value <= 3.0
    assert 0.3 < result.acceptance < 0.9
    assert "target bits of error 3.00; measured bits of error" in result.text


@pytest.mark.slow
def test_an_unbounded_fpcore_is_tuned_to_its_bits_property() -> None:
    k = parse_fpcore(UNBOUNDED_FPCORE, "nmse.fpcore")
    assert (k.target_metric, k.target_rmse, k.highs) == ("bits", 16.0, (float("inf"),))
    result = flow.run(k, Target("bits", 16.0), "nmse.fpcore", flow.Options(samples=SAMPLES))
    assert result.within_target
    assert result.verification.measurement.value <= 16.0 < result.verification.measurement.max_error
    assert remeasured(result) == result.verification.measurement.value


@pytest.mark.slow
def test_the_cli_takes_one_target_flag_and_reports_the_metric(tmp_path: Path) -> None:
    source = tmp_path / "nmse.fpcore"
    source.write_text(UNBOUNDED_FPCORE)

    def precisec(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "precisec.cli", *args], capture_output=True,
                              text=True, timeout=600, check=False)

    both = precisec("tune", str(source), "--rmse", "1e-3", "--bits", "3")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    absolute = precisec("tune", str(source), "--rmse", "1e-3")
    assert absolute.returncode == 2
    assert ":2:" not in absolute.stderr and "no finite range" in absolute.stderr
    assert "relative target" in absolute.stderr
    tuned = precisec("tune", str(source), "--bits", "20", "--samples", str(SAMPLES), "--json",
                     "-o", str(tmp_path / "out.c"))
    assert tuned.returncode == 0, tuned.stderr
    report = json.loads(tuned.stdout)
    assert report["target"] == {"metric": "bits", "value": 20.0}
    assert "target_rmse" not in report and report["measured"]["metric"] == "bits"
    assert report["measured"]["value"] <= 20.0 and report["within_target"]
    assert math.isfinite(report["predicted_rmse"])  # a relative RMSE, over finite draws
    checked = precisec("check", str(source), str(tmp_path / "out.c"), "--bits", "20",
                       "--samples", str(SAMPLES))
    assert checked.returncode == 0, checked.stderr
    assert "measured bits of error (compiled C)" in checked.stdout
