"""benchmarks/fpbench_corpus.py on a three-file corpus, through the batch runner: rows in
file and FPCore order, an unsupported FPCore and an unreadable file with their located
reasons, a supported one tuned and verified within its target."""

from __future__ import annotations

import importlib.util
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

SAMPLES = Path(__file__).resolve().parents[1] / "unit" / "fpcore_samples"


def test_a_small_corpus_report(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SAMPLES / "verhulst.fpcore", corpus / "b.fpcore")
    (corpus / "a.fpcore").write_text(
        '(FPCore (x) :name "loop" :pre (<= 0 x 1) (for ([i 3]) ([y x (+ y 1)]) y))\n')
    (corpus / "c.fpcore").write_text("(FPCore (x)\n")
    report = tmp_path / "report.md"
    ran = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fpbench_corpus.py"),
                          "--corpus", str(corpus), "--out", str(report), "--samples", "500",
                          "--jobs", "2"], capture_output=True, text=True, timeout=600,
                         check=False)
    assert ran.returncode == 0, ran.stderr
    assert "FPBench: 3 FPCores, 1 supported, 1 tuned, 1/1 within target" in ran.stdout
    rows = [line for line in report.read_text().splitlines()
            if line.startswith("| ") and ".fpcore |" in line]
    assert [row.split(" | ")[:3] for row in rows] == [
        ["| a.fpcore", "0", "loop"], ["| b.fpcore", "0", "verhulst"],
        ["| c.fpcore", "-1", "(whole file)"]]
    assert f"unsupported: {corpus / 'a.fpcore'}:1:" in rows[0]
    assert "| supported |" in rows[1] and "| yes |" in rows[1]
    assert f"unsupported: {corpus / 'c.fpcore'}:1:1:" in rows[2]
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_fpcore_over_the_time_limit_is_stopped_and_recorded() -> None:
    """The per-FPCore limit stops the tuning (and the programs it started) and records a
    row over the time limit with the seconds it ran."""
    spec = importlib.util.spec_from_file_location(
        "fpbench_corpus", ROOT / "benchmarks" / "fpbench_corpus.py")
    assert spec is not None and spec.loader is not None
    corpus = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = corpus  # its dataclasses look their module up
    spec.loader.exec_module(corpus)
    text = (SAMPLES / "verhulst.fpcore").read_text()
    result = corpus.tune_entry("v.fpcore", text, 0, "verhulst", 2000, 0, 0.5)
    assert (result.stage, result.reason) == ("time limit", "over the time limit of 0.5 s")
    assert 0.5 <= result.seconds < 5 and not result.tuned
    assert "stopped: over the time limit of 0.5 s" in corpus.markdown(
        [result], "c", 0, 2000, 1.0, limit=0.5)
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
