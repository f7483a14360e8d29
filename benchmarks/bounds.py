"""Sound all-double error bounds of the Table-1 kernels beside FPTaylor's published ones.

Each kernel's bound (`precisec.semantics.bound`, docs/method.md §8) with every site at 53
bits, its ratio to FPTaylor's binary64 bound (benchmarks_fptuner/fptaylor_bounds.json),
the midpoint estimate that shows how tight it is, and the seconds it took.

    .venv/bin/python benchmarks/bounds.py [KERNEL ...] [--budget SECONDS]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from precisec.frontend.c import load_c
from precisec.semantics.bound import DEFAULT_BUDGET, bound

ROOT = Path(__file__).resolve().parents[1]
FPTAYLOR = ROOT / "benchmarks_fptuner" / "fptaylor_bounds.json"


def fptaylor_bounds() -> dict[str, float]:
    return json.loads(FPTAYLOR.read_text())["bounds"]


def main() -> None:
    reference = fptaylor_bounds()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernels", nargs="*", default=list(reference))
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET)
    args = parser.parse_args()
    print(f"{'kernel':14s} {'bound':>10s} {'FPTaylor':>10s} {'ratio':>6s} {'estimate':>10s} "
          f"{'converged':>9s} {'seconds':>7s}")
    ratios = []
    for name in args.kernels:
        kernel = load_c(ROOT / "benchmarks_fptuner" / f"{name}.c")
        result = bound(kernel, [53] * len(kernel.sites), args.budget)
        if result.value is None:
            print(f"{name:14s} {result.describe()}")
            continue
        ratio = result.value / reference[name]
        ratios.append(ratio)
        print(f"{name:14s} {result.value:10.3e} {reference[name]:10.3e} {ratio:6.3f} "
              f"{result.lower:10.3e} {result.converged!s:>9s} {result.seconds:7.2f}")
    print(f"ratio <= 1.25 on {sum(r <= 1.25 for r in ratios)} of {len(args.kernels)}, "
          f"largest {max(ratios):.3f}")


if __name__ == "__main__":
    main()
