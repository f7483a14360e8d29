"""Wall time of tuning each FPTuner kernel end to end, JIT included, and where it goes.

Each kernel goes through `precisec.flow.run` (what `precisec tune` runs: reference,
analysis, training, refinement, emission, compiled verification on 10,000 fresh inputs)
at its Table-1 target, in a fresh process with an empty JAX compilation cache (cold:
every XLA compilation is paid), then again in a fresh process with the cache that run
filled (warm). Prints both totals, the cold run's seconds per stage and how many
emulations of the validation sample refinement took.

    .venv/bin/python benchmarks/tuning_speed.py [KERNEL ...] [--samples N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("reference", "analysis", "training", "refinement", "prediction", "emission",
          "verification")


def worker(name: str, samples: int) -> None:
    """One tuning in this process; prints its seconds per stage and refinement's
    emulations as JSON."""
    from precisec import flow
    from precisec.frontend.c import load_c
    from precisec.tune.tuner import require_target

    kernel = load_c(ROOT / "benchmarks_fptuner" / f"{name}.c")
    result = flow.run(kernel, require_target(kernel, None), f"{name}.c",
                      flow.Options(samples=samples))
    assert result.tuning is not None
    print(json.dumps({**result.seconds, "emulations": result.tuning.refinement.emulations}))


def tune_seconds(name: str, samples: int, cache: str) -> dict[str, float]:
    env = {**os.environ, "PRECISEC_JAX_CACHE": cache}
    done = subprocess.run([sys.executable, __file__, "--worker", name, "--samples",
                           str(samples)], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernels", nargs="*", help="FPTuner kernel names (default: all)")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.samples)
        return
    names = args.kernels or [r["benchmark"] for r in json.loads(
        (ROOT / "benchmarks_fptuner" / "table1_paper.json").read_text())["rows"]]
    header = "".join(f"{s:>13}" for s in STAGES)
    print(f"{'kernel':<13}{'cold total':>11}{'warm total':>11}   cold run:{header}"
          f"{'emulations':>12}")
    for name in names:
        with tempfile.TemporaryDirectory(prefix="precisec-jax-") as cache:
            cold = tune_seconds(name, args.samples, cache)
            warm = tune_seconds(name, args.samples, cache)
        stages = "".join(f"{cold[s]:>13.2f}" for s in STAGES)
        print(f"{name:<13}{cold['total']:>11.2f}{warm['total']:>11.2f}            {stages}"
              f"{cold['emulations']:>12.0f}", flush=True)


if __name__ == "__main__":
    main()
