"""The committed Table 1 (docs/table1.json) against a fresh regeneration.

Floats move with the machine; the kernel list and the claims must not: every kernel within
its target and with fewer bits than the paper, in the fresh run as in the committed one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ("within_target", "fewer_bits_than_paper")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("table")
    result = subprocess.run([sys.executable, "-m", "precisec.cli", "table", "--out", str(out),
                             "--jobs", "2"], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("table1.md", "table1.json", "table1.csv", "table1.png"):
        assert (out / name).stat().st_size > 0
    assert len(list((out / "tuned").glob("*.tuned.c"))) == 15
    return json.loads((out / "table1.json").read_text())


def committed() -> dict:
    return json.loads((ROOT / "docs" / "table1.json").read_text())


def test_fresh_table_meets_every_target_with_fewer_bits_than_the_paper(fresh: dict) -> None:
    for row in fresh["rows"]:
        assert row["rmse"] <= row["fptuner_bound"], row["benchmark"]
        assert row["mean_bits"] <= row["paper_mean_bits"] - 1, row["benchmark"]
    assert fresh["summary"]["within_target"] == 15


def test_committed_table_lists_the_same_kernels_and_claims(fresh: dict) -> None:
    old = committed()
    assert [r["benchmark"] for r in old["rows"]] == [r["benchmark"] for r in fresh["rows"]]
    for before, now in zip(old["rows"], fresh["rows"], strict=True):
        for claim in CLAIMS:
            assert before[claim] == now[claim], (before["benchmark"], claim)
        assert before["operations"] == now["operations"]
    assert old["summary"]["within_target"] == fresh["summary"]["within_target"]
    assert old["summary"]["fewer_bits_than_paper"] == fresh["summary"]["fewer_bits_than_paper"]


def test_committed_markdown_matches_committed_json() -> None:
    text = (ROOT / "docs" / "table1.md").read_text()
    for row in committed()["rows"]:
        assert f"| {row['benchmark']} | {row['operations']} |" in text
        assert f"{row['mean_bits']:.2f}" in text
