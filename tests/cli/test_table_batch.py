"""`precisec table` through the batch runner: a Dask cluster run writes the same bytes as a
local run, and bad paths are located errors before any work. The cluster test (two runs of
two small kernels at 1,000 inputs) took 36 s on a busy machine (load average 8 on 2 cores);
it is marked slow (CI runs it in `make test-slow`) to keep `make test` under five minutes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import error_location, run_cli, small_benchmarks

from precisec.table import PAPER_FILE

SMALL = ("verhulst", "sineOrder3")
TABLE_FILES = ("table1.md", "table1.json", "table1.csv", "table1.png")


def written(out: Path) -> dict[str, bytes]:
    files = [*TABLE_FILES, *(f"tuned/{name}.tuned.c" for name in SMALL)]
    return {name: (out / name).read_bytes() for name in files}


@pytest.mark.slow
def test_a_local_cluster_writes_the_same_table_as_local_processes(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    bench = small_benchmarks(tmp_path / "bench", SMALL)
    common = ("table", "--benchmarks", str(bench), "--samples", "1000", "--no-timings")
    local = run_cli(*common, "--out", str(tmp_path / "local"), "--jobs", "2")
    assert local.returncode == 0, local.stderr
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        remote = run_cli(*common, "--out", str(tmp_path / "cluster"),
                         "--scheduler", cluster.scheduler_address)
    assert remote.returncode == 0, remote.stderr
    assert written(tmp_path / "cluster") == written(tmp_path / "local")
    rows = json.loads((tmp_path / "local" / "table1.json").read_text())["rows"]
    assert [row["benchmark"] for row in rows] == list(SMALL)
    assert all(row["seconds"] is None for row in rows)
    assert not list((tmp_path / "local").glob(".*.tmp")), "a temporary file was left behind"


def test_a_missing_benchmarks_directory_is_a_located_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    result = run_cli("table", "--benchmarks", str(missing), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert error_location(result.stderr)[0] == str(missing)
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_a_file_is_a_located_error_before_any_work(tmp_path: Path) -> None:
    bench = small_benchmarks(tmp_path / "bench", SMALL)
    out = tmp_path / "table.md"
    out.write_text("kept\n")
    result = run_cli("table", "--benchmarks", str(bench), "--out", str(out))
    assert result.returncode == 2
    file, _, _, message = error_location(result.stderr)
    assert file == str(out) and "not a directory" in message
    assert out.read_text() == "kept\n"


def test_a_benchmarks_directory_without_the_papers_rows_is_a_located_error(
        tmp_path: Path) -> None:
    result = run_cli("table", "--benchmarks", str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert error_location(result.stderr)[0] == str(tmp_path / PAPER_FILE)


def test_a_scheduler_that_is_not_an_address_is_an_error_before_any_work(tmp_path: Path) -> None:
    bench = small_benchmarks(tmp_path / "bench", SMALL)
    result = run_cli("table", "--benchmarks", str(bench), "--out", str(tmp_path / "out"),
                     "--scheduler", "nonsense")
    assert result.returncode == 2
    assert result.stderr.startswith("precisec: error: cannot reach the Dask scheduler at "
                                    "nonsense"), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_failing_kernel_is_reported_located_and_no_table_is_written(tmp_path: Path) -> None:
    bench = small_benchmarks(tmp_path / "bench", SMALL)
    paper = json.loads((bench / PAPER_FILE).read_text())
    paper["rows"] = [{**paper["rows"][0], "benchmark": "broken"}, paper["rows"][0]]
    (bench / PAPER_FILE).write_text(json.dumps(paper))
    (bench / "broken.c").write_text("double broken(double x) {\n  return x +;\n}\n")
    out = tmp_path / "out"
    result = run_cli("table", "--benchmarks", str(bench), "--out", str(out),
                     "--samples", "500")
    assert result.returncode == 2, result.stderr
    located, summary = result.stderr.splitlines()
    assert error_location(located)[:2] == (str(bench / "broken.c"), 2)
    assert summary == "Table 1: 1 of 2 kernels failed; table not written"
    assert [p.name for p in out.iterdir()] == ["tuned"]
    assert [p.name for p in (out / "tuned").iterdir()] == [f"{SMALL[0]}.tuned.c"]


def test_jobs_and_a_scheduler_are_refused_together() -> None:
    result = run_cli("table", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:8786")
    assert result.returncode == 2
    assert "--scheduler: not allowed with argument --jobs" in result.stderr
