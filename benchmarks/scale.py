"""How tuning scales: three generated kernel families of growing size, tuned end to end.

Families (docs/scale.md):
  integrator  explicit Euler for a Lotka–Volterra system, 11 sites, STEPS steps;
  straight    a Horner chain `p = p * x + c_k;` written out, 2 sites per statement;
  stencil     a 1D heat stencil over an N-point array, T steps (6 sites).

Each size runs `precisec.flow.run` (tune, emit, compile, verify on 10,000 fresh inputs)
in its own process, so the peak RSS is that run's alone, and prints the seconds per stage
(parse, reference, analysis, training, refinement, verification) and the peak RSS of the
process and its children (gcc, the compiled evaluators). Then the growth exponent of the
total time in the family's size (least squares in log–log over the sizes past the first)
and a plot.

    .venv/bin/python benchmarks/scale.py                      # all families, default sizes
    .venv/bin/python benchmarks/scale.py --family integrator --sizes 1000 10000
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

FAMILIES = {
    "integrator": (10, 100, 1000, 10000),
    "straight": (10, 100, 1000, 2000, 5000),
    "stencil": (100, 800, 6400),
}
STAGES = ("parse", "reference", "analysis", "training", "refinement", "prediction",
          "emission", "verification")


def integrator(steps: int) -> str:
    return f"""#include <math.h>
#define STEPS {steps}
#pragma precisec range(x0, 0.5, 1.5)
#pragma precisec range(y0, 0.5, 1.5)
#pragma precisec rmse(1e-10)
double lotka(double x0, double y0) {{
    double x = x0;
    double y = y0;
    for (int n = 0; n < STEPS; n++) {{
        double dx = x * (1.1 - 0.4 * y);
        double dy = y * (0.1 * x - 0.4);
        x = x + 0.01 * dx;
        y = y + 0.01 * dy;
    }}
    return x + y;
}}
"""


def straight(sites: int) -> str:
    lines = [f"    p = p * x + 0.{(37 * k) % 90 + 10};" for k in range(sites // 2)]
    body = "\n".join(lines)
    return f"""#pragma precisec range(x, -0.5, 0.5)
#pragma precisec rmse(1e-12)
double horner(double x) {{
    double p = 1.0;
{body}
    return p;
}}
"""


def stencil_shape(size: int) -> tuple[int, int]:
    """N points × T steps with N·T = size and T = N·100/64 (64 × 100 at 6,400)."""
    points = max(4, round(math.sqrt(size * 64 / 100)))
    return points, max(1, size // points)


def stencil(size: int) -> str:
    points, steps = stencil_shape(size)
    return f"""#define N {points}
#define T {steps}
#pragma precisec range(u0[], 0, 1)
#pragma precisec rmse(1e-12)
void heat(const double u0[N], double out[N]) {{
    double u[N];
    double v[N];
    for (int i = 0; i < N; i++) u[i] = u0[i];
    for (int t = 0; t < T; t++) {{
        v[0] = u[0];
        v[N - 1] = u[N - 1];
        for (int i = 1; i < N - 1; i++) v[i] = u[i] + 0.25 * (u[i - 1] - 2.0 * u[i] + u[i + 1]);
        for (int i = 0; i < N; i++) u[i] = v[i];
    }}
    for (int i = 0; i < N; i++) out[i] = u[i];
}}
"""


SOURCES = {"integrator": integrator, "straight": straight, "stencil": stencil}


def worker(family: str, size: int) -> None:
    """One end-to-end run; prints one JSON line."""
    from precisec import flow
    from precisec.frontend.c import parse_c
    from precisec.ir import executions
    from precisec.tune.tuner import require_target

    source = SOURCES[family](size)
    clock = time.perf_counter()
    kernel = parse_c(source, f"{family}{size}.c")
    parsed = time.perf_counter() - clock
    result = flow.run(kernel, require_target(kernel, None), f"{family}{size}.c")
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    measured = result.verification.measurement
    print(json.dumps({
        "family": family, "size": size, "sites": len(kernel.sites),
        "dynamic_ops": sum(executions(kernel)), "seconds": {"parse": parsed, **result.seconds},
        "peak_rss_mb": rss / 1024, "mean_bits": result.tuning.mean_bits,
        "rmse": measured.rmse, "target": result.target, "within_target": result.within_target,
    }))


def run_size(family: str, size: int) -> dict:
    completed = subprocess.run([sys.executable, __file__, "--worker", family, str(size)],
                               capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"{family} {size} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def growth_exponent(rows: list[dict]) -> float | None:
    """Slope of log(total seconds) against log(size), fitted past the smallest size."""
    points = [(math.log(r["size"]), math.log(r["seconds"]["total"])) for r in rows[1:]]
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def plot(results: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for family, rows in results.items():
        ax.loglog([r["dynamic_ops"] for r in rows], [r["seconds"]["total"] for r in rows],
                  marker="o", label=family)
    ax.set_xlabel("dynamic rounding operations per input")
    ax.set_ylabel("tune + verify, seconds")
    ax.set_title("precisec end to end (10,000 validation + 10,000 test inputs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", choices=sorted(FAMILIES), action="append")
    parser.add_argument("--sizes", type=int, nargs="+")
    parser.add_argument("--out", type=Path, help="write scale.json and scale.png here")
    parser.add_argument("--worker", nargs=2, metavar=("FAMILY", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return
    results: dict[str, list[dict]] = {}
    for family in args.family or list(FAMILIES):
        rows = results.setdefault(family, [])
        print(f"{family}: size, sites, dynamic ops, "
              + ", ".join(STAGES) + ", total s, peak RSS MB, bits, RMSE/target")
        for size in args.sizes or FAMILIES[family]:
            row = run_size(family, size)
            rows.append(row)
            stages = " ".join(f"{row['seconds'].get(s, 0.0):7.2f}" for s in STAGES)
            print(f"  {size:>6} {row['sites']:>5} {row['dynamic_ops']:>9} {stages} "
                  f"{row['seconds']['total']:8.2f} {row['peak_rss_mb']:8.0f} "
                  f"{row['mean_bits']:6.2f} {row['rmse'] / row['target']:6.2f}", flush=True)
        exponent = growth_exponent(rows)
        if exponent is not None:
            print(f"  growth exponent of total time in size: {exponent:.2f}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "scale.json").write_text(json.dumps(results, indent=2) + "\n")
        plot(results, args.out / "scale.png")


if __name__ == "__main__":
    main()
