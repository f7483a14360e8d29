"""Speed of tuned code: per-call time of (a) the tuned MPFR kernel, (b) the same kernel
with every operation at 53 bits in MPFR, (c) the original plain-double kernel.

Each FPTuner kernel is tuned at its Table-1 target through `precisec.flow.run` (seed 0:
the same file `precisec table` writes); all three versions are compiled with -O2 into one
program that times them over the same 10^5 inputs, the three interleaved in each of
`--repeats` rounds (the minimum kept), in CPU time of the thread, so that other processes
on a shared machine disturb the ratios as little as possible.

    .venv/bin/python benchmarks/tuned_speed.py [KERNEL ...] [--repeats 11] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from precisec import flow
from precisec.backend.mpfr import emit_mpfr
from precisec.frontend.c import load_c
from precisec.ir import Kernel
from precisec.toolchain import find_toolchain
from precisec.tune.samples import sample_inputs
from precisec.tune.tuner import require_target, uniform

ROOT = Path(__file__).resolve().parents[1]
CALLS = 100_000

DRIVER = """
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
double {name}_tuned({params});
double {name}_mpfr53({params});
double {name}_double({params});
static double seconds(void) {{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}}
#define TIME(fn, best) do {{ double s = seconds(), acc = 0; \\
    for (long i = 0; i < n; i++) acc += fn({args}); sink += acc; \\
    double e = seconds() - s; if (r == 0 || e < best) best = e; }} while (0)
int main(void) {{
    long n = {calls}; int k = {arity};
    double *in = malloc(sizeof(double) * n * k), sink = 0, a = 0, b = 0, c = 0;
    if (fread(in, sizeof(double), n * k, stdin) != (size_t)(n * k)) return 1;
    for (int r = 0; r < {repeats}; r++) {{
        TIME({name}_tuned, a); TIME({name}_mpfr53, b); TIME({name}_double, c);
    }}
    printf("%.6e %.6e %.6e %d\\n", a / n, b / n, c / n, sink != sink);
    free(in); return 0;
}}
"""


def measure(kernel: Kernel, source: Path, tuned_text: str, workdir: Path,
            repeats: int) -> tuple[float, ...]:
    """Seconds per call of the tuned, the MPFR-53 and the double kernel."""
    chain = find_toolchain()
    tuned, mpfr53 = workdir / "tuned.c", workdir / "mpfr53.c"
    tuned.write_text(tuned_text)
    mpfr53.write_text(emit_mpfr(kernel, uniform(kernel, 53), ["all operations at 53 bits"]))
    n = len(kernel.input_labels)
    driver = workdir / "driver.c"
    driver.write_text(DRIVER.format(
        name=kernel.name, params=", ".join(["double"] * n), calls=CALLS, arity=n, repeats=repeats,
        args=", ".join(f"in[i * k + {j}]" for j in range(n))))
    objects = []
    for variant, path, mpfr in (("tuned", tuned, True), ("mpfr53", mpfr53, True),
                                ("double", source, False)):
        obj = workdir / f"{variant}.o"
        subprocess.run([chain.cc, "-std=c11", "-O2", "-Wno-unknown-pragmas",
                        *(chain.cflags if mpfr else ()), f"-D{kernel.name}={kernel.name}_{variant}",
                        "-c", str(path), "-o", str(obj)], check=True)
        objects.append(str(obj))
    exe = workdir / "bench"
    subprocess.run([chain.cc, "-O2", str(driver), *objects, "-o", str(exe), *chain.libs, "-lm"],
                   check=True)
    data = sample_inputs(kernel, CALLS, 7).astype("<f8").tobytes()
    out = subprocess.run([str(exe)], input=data, capture_output=True, check=True).stdout
    return tuple(float(v) for v in out.split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernels", nargs="*", help="FPTuner kernel names (default: all)")
    parser.add_argument("--repeats", type=int, default=11, help="timing rounds (default 11)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    names = args.kernels or [r["benchmark"] for r in json.loads(
        (ROOT / "benchmarks_fptuner" / "table1_paper.json").read_text())["rows"]]
    print(f"{'kernel':<13}{'tuned ns':>10}{'mpfr53 ns':>11}{'double ns':>11}"
          f"{'tuned/mpfr53':>14}{'tuned/double':>14}")
    results = {}
    for name in names:
        source = ROOT / "benchmarks_fptuner" / f"{name}.c"
        kernel = load_c(source)
        tuned = flow.run(kernel, require_target(kernel, None), source.name).text
        with tempfile.TemporaryDirectory() as tmp:
            a, b, c = measure(kernel, source, tuned, Path(tmp), args.repeats)
        results[name] = {"tuned_ns": a * 1e9, "mpfr53_ns": b * 1e9, "double_ns": c * 1e9}
        print(f"{name:<13}{a * 1e9:>10.1f}{b * 1e9:>11.1f}{c * 1e9:>11.2f}"
              f"{a / b:>14.2f}{a / c:>14.0f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
