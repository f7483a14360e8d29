"""Snapping up, verified: each kernel's bits snapped to formats, compiled and checked.

For every FPTuner kernel at its Table-1 target and at 1e-4 of its output scale: the
compiled RMSE (fresh test sample, as `precisec check` measures it) of the assignment that
only snaps the continuous bits up to the covering formats, and of the searched one, with
their casts and float shares. Prints a markdown table (for docs/native.md).

    python benchmarks/native_snap.py [--start optimum|sgd]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from precisec import flow
from precisec.backend.casts import NativeTypes
from precisec.backend.native import emit_native
from precisec.frontend.c import load_c
from precisec.semantics.compiled import Evaluator
from precisec.tune.samples import Sample, test_seed, validation_seed

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", default=str(ROOT / "benchmarks_fptuner"))
    parser.add_argument("--start", choices=("sgd", "optimum"), default="optimum")
    parser.add_argument("--samples", type=int, default=10_000)
    args = parser.parse_args(argv)
    print("| kernel | target | start mean bits | snapped: formats (float share), casts | "
          "snapped RMSE | searched: float share, casts | searched RMSE |")
    print("|" + "---|" * 7)
    misses = 0
    for path in sorted(Path(args.benchmarks).glob("*.c")):
        kernel = load_c(path)
        with Evaluator(kernel) as evaluator:
            scale = float(np.sqrt(np.mean(Sample.draw(
                evaluator, args.samples, validation_seed(0)).reference.hi ** 2)))
            test = Sample.draw(evaluator, args.samples, test_seed(0))
        for label, target in (("Table 1", kernel.target_rmse), ("rel 1e-4", 1e-4 * scale)):
            assert target is not None
            options = flow.Options(samples=args.samples, backend="native", start=args.start)
            result = flow.run(kernel, target, path.name, options)
            search = result.search
            assert search is not None
            snapped_rmse = flow.verify_text(kernel, emit_native(kernel, search.snapped, [label]),
                                            test, native=True).measurement.rmse
            searched_rmse = result.verification.measurement.rmse
            misses += (snapped_rmse > target) + (searched_rmse > target)
            kinds = sorted({f.bits for f in search.snapped})
            names = "/".join({24: "f", 53: "d", 64: "ld", 113: "q"}[b] for b in kinds)
            snapped_float = sum(f.bits == 24 for f in search.snapped) / len(search.snapped)
            snapped_casts = len(NativeTypes(kernel, search.snapped).casts)
            print(f"| {kernel.name} | {label} {target:.2e} | {np.mean(result.bits):.1f} | "
                  f"{names} ({snapped_float:.0%}), {snapped_casts} | {snapped_rmse:.2e}"
                  f"{' MISSED' if snapped_rmse > target else ''} | "
                  f"{search.float_fraction:.0%}, {search.casts} | "
                  f"{searched_rmse:.2e}{' MISSED' if searched_rmse > target else ''} |",
                  flush=True)
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
