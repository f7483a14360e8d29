"""Wall time of `precisec tune` per kernel, JIT included, and where it goes.

Each kernel is tuned in a fresh process with an empty JAX compilation cache (cold: every
XLA compilation is paid) and then again with the cache that run filled (warm), and the
per-stage seconds of the cold run are printed.
Run: .venv/bin/python benchmarks/tuning_speed.py [KERNEL ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("reference", "analysis", "training", "refinement", "verification")


def tune_seconds(kernel: Path, cache: str, workdir: str) -> dict[str, float]:
    env = {**os.environ, "PRECISEC_JAX_CACHE": cache}
    out = subprocess.run([sys.executable, "-m", "precisec.cli", "tune", str(kernel), "--json",
                          "-o", str(Path(workdir) / f"{kernel.stem}.tuned.c")],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode not in (0, 1):
        raise SystemExit(out.stderr)
    return json.loads(out.stdout)["seconds"]


def main() -> None:
    names = sys.argv[1:] or [r["benchmark"] for r in json.loads(
        (ROOT / "benchmarks_fptuner" / "table1_paper.json").read_text())["rows"]]
    header = "".join(f"{s:>13}" for s in STAGES)
    print(f"{'kernel':<13}{'cold total':>11}{'warm total':>11}   cold run:{header}")
    for name in names:
        kernel = ROOT / "benchmarks_fptuner" / f"{name}.c"
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as work:
            cold = tune_seconds(kernel, cache, work)
            warm = tune_seconds(kernel, cache, work)
        stages = "".join(f"{cold[s]:>13.2f}" for s in STAGES)
        print(f"{name:<13}{cold['total']:>11.2f}{warm['total']:>11.2f}            {stages}")


if __name__ == "__main__":
    main()
