"""Two precisec processes at once: two `tune` runs sharing one fresh JAX compilation cache
($PRECISEC_JAX_CACHE), and two `table` runs into different directories. Both succeed and
write exactly what a run alone writes (docs/cli.md, "Concurrency")."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from helpers import benchmark_path, precisec_command, small_benchmarks

SMALL = ("verhulst", "sineOrder3")
TABLE_FILES = ("table1.md", "table1.json", "table1.csv", "table1.png")


def start(args: list[str], cache: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PRECISEC_JAX_CACHE": str(cache)}
    return subprocess.Popen([*precisec_command(), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def finish(process: subprocess.Popen[str]) -> None:
    stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == 0, (stdout, stderr)
    assert "Traceback" not in stderr, stderr


@pytest.mark.slow
def test_two_tunes_share_one_fresh_compilation_cache(tmp_path: Path) -> None:
    cache = tmp_path / "jax-cache"
    kernel = str(benchmark_path("verhulst"))
    outputs = [tmp_path / f"{name}.c" for name in ("a", "b", "alone")]
    common = ["tune", kernel, "--samples", "2000", "--seed", "3", "-o"]
    together = [start([*common, str(out)], cache) for out in outputs[:2]]
    for process in together:
        finish(process)
    finish(start([*common, str(outputs[2])], tmp_path / "another-cache"))
    texts = [out.read_text() for out in outputs]
    assert texts[0] == texts[1] == texts[2]
    assert any(cache.iterdir()), "the shared cache was not used"


def written(out: Path) -> dict[str, bytes]:
    names = [*TABLE_FILES, *(f"tuned/{name}.tuned.c" for name in SMALL)]
    return {name: (out / name).read_bytes() for name in names}


@pytest.mark.slow
def test_two_tables_at_once_write_what_one_writes_alone(tmp_path: Path) -> None:
    bench = small_benchmarks(tmp_path / "bench", SMALL)
    cache = tmp_path / "jax-cache"
    common = ["table", "--benchmarks", str(bench), "--samples", "1000", "--no-timings",
              "--out"]
    together = [start([*common, str(tmp_path / name)], cache) for name in ("a", "b")]
    for process in together:
        finish(process)
    finish(start([*common, str(tmp_path / "alone")], cache))
    assert written(tmp_path / "a") == written(tmp_path / "b") == written(tmp_path / "alone")
    leftovers = [p for name in ("a", "b") for p in (tmp_path / name).rglob(".*.tmp")]
    assert not leftovers, leftovers
