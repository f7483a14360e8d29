"""Speed of native tuned kernels against the all-double kernel (docs/native.md).

For each FPTuner kernel and each target loose enough for float (1e-6 and 1e-4 of the
kernel's output scale, the RMS of the exact output over the input box; plus FPTuner's
float/double thresholds for sine and jet), the kernel is tuned with `--backend native`,
its compiled RMSE measured against the exact reference, and three versions are timed on
the same 10^6 inputs in one C driver: the tuned kernel, the all-double kernel and the
all-float kernel (the ceiling: what float everywhere would buy, accuracy aside). All
three come from the same IR through the same emitter, are `static` in the driver's
translation unit (so gcc may inline and vectorise them), are built with
`-std=c11 -O3 -ffp-contract=off` and, as a second column set, with `-march=native` too;
each loop is timed with clock_gettime, the variants interleaved, the minimum of
`--repeats` runs (31) kept.

    python benchmarks/native_speed.py [--jobs 2] [--start sgd|optimum] [--out docs]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from precisec import batch

if TYPE_CHECKING:
    from precisec.ir import Kernel

ROOT = Path(__file__).resolve().parent.parent
FPTUNER_THRESHOLDS = {"sine": (1e-6, 2e-7, 1e-7), "jet": (5e-2, 1e-2, 5e-3)}
RELATIVE = (1e-6, 1e-4)
FLAG_SETS = {"O3": ("-O3",), "O3 native": ("-O3", "-march=native"),
             "O3 noinline": ("-O3", "-DPRECISEC_NOINLINE")}


@dataclass(frozen=True)
class Case:
    """One kernel at one target."""

    kernel: str
    label: str
    target: float


@dataclass(frozen=True)
class Tuned:
    """A tuned case: figures and the three C sources to time."""

    case: Case
    scale: float
    ops: int
    formats: dict[str, int]
    float_fraction: float
    casts: int
    method: str
    rmse: float
    within: bool
    float_rmse: float
    sources: dict[str, str]


def _cases(benchmarks: Path, samples: int, relative: tuple[float, ...], fptuner: bool,
           ) -> list[Case]:
    from precisec.frontend.c import load_c

    cases = []
    for path in sorted(benchmarks.glob("*.c")):
        kernel = load_c(path)
        scale = _scale(kernel, samples)
        cases += [Case(kernel.name, f"rel {r:g}", r * scale) for r in relative]
        cases += [Case(kernel.name, f"FPTuner {t:g}", t)
                  for t in (FPTUNER_THRESHOLDS.get(kernel.name, ()) if fptuner else ())]
    return cases


def _scale(kernel: Kernel, samples: int) -> float:
    """RMS of the exact output over the input box (validation sample of seed 0)."""
    from precisec.semantics.compiled import Evaluator
    from precisec.tune.samples import Sample, validation_seed

    with Evaluator(kernel) as evaluator:
        sample = Sample.draw(evaluator, samples, validation_seed(0))
    return float(np.sqrt(np.mean(sample.reference.hi ** 2)))


def _tune(job: tuple[Case, str, int, str, float]) -> Tuned:
    case, start, samples, benchmarks, cast_cost = job
    from precisec import flow
    from precisec.backend.formats import DOUBLE, FLOAT
    from precisec.backend.native import emit_native
    from precisec.frontend.c import load_c
    from precisec.semantics.compiled import Evaluator
    from precisec.tune.samples import Sample, test_seed
    from precisec.tune.typesearch import format_counts, uniform

    kernel = load_c(Path(benchmarks) / f"{case.kernel}.c")
    options = flow.Options(samples=samples, backend="native", start=start, cast_cost=cast_cost)
    result = flow.run(kernel, case.target, f"{case.kernel}.c", options)
    search = result.search
    assert search is not None
    with Evaluator(kernel) as evaluator:
        test = Sample.draw(evaluator, samples, test_seed(0))
    sources = {"tuned": emit_native(kernel, search.formats, [case.label]),
               "double": emit_native(kernel, uniform(kernel, DOUBLE), ["all double"]),
               "float": emit_native(kernel, uniform(kernel, FLOAT), ["all float"])}
    measured = result.verification.measurement
    float_measured = flow.verify_text(kernel, sources["float"], test, native=True).measurement
    return Tuned(case, _scale(kernel, samples), len(kernel.sites), format_counts(search.formats),
                 search.float_fraction, search.casts, search.method, measured.rmse,
                 measured.rmse <= case.target, float_measured.rmse, sources)


_DRIVER = """\
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <quadmath.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef PRECISEC_NOINLINE
#define KERNEL static __attribute__((noinline))
#else
#define KERNEL static
#endif
{kernels}
static double now(void)
{{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}}
{loops}
int main(int argc, char **argv)
{{
    size_t n = (size_t)atol(argv[1]);
    int repeats = atoi(argv[2]);
    double *in[{arity}];
    double *out = malloc(n * sizeof(double));
    (void)argc;
    for (int k = 0; k < {arity}; k++) {{
        in[k] = malloc(n * sizeof(double));
        if (fread(in[k], sizeof(double), n, stdin) != n) return 1;
    }}
    double best[3] = {{1e30, 1e30, 1e30}}, check = 0.0;
    for (int r = 0; r < repeats; r++) {{
{timing}
    }}
    printf("%.17g %.17g %.17g %g\\n", best[0] / n, best[1] / n, best[2] / n, check);
    return 0;
}}
"""


def _driver(tuned: Tuned, name: str, arity: int) -> str:
    variants = ("tuned", "double", "float")
    kernels, loops, timing = [], [], []
    params = ", ".join(f"const double *restrict in{k}" for k in range(arity))
    args = ", ".join(f"in{k}[i]" for k in range(arity))
    for v, variant in enumerate(variants):
        kernels.append(tuned.sources[variant].replace(f"double {name}(",
                                                      f"KERNEL double {name}_{variant}("))
        loops.append(f"static void loop_{variant}(size_t n, double *restrict out, {params})\n"
                     f"{{\n    for (size_t i = 0; i < n; i++)\n"
                     f"        out[i] = {name}_{variant}({args});\n}}\n")
        call = ", ".join(f"in[{k}]" for k in range(arity))
        timing.append(f"        {{ double t = now(); loop_{variant}(n, out, {call});\n"
                      f"          t = now() - t; if (t < best[{v}]) best[{v}] = t;\n"
                      f"          check += out[n / 2]; }}")
    return _DRIVER.format(kernels="\n".join(kernels), loops="\n".join(loops),
                          timing="\n".join(timing), arity=arity)


def _time(tuned: Tuned, benchmarks: Path, count: int, repeats: int) -> dict[str, list[float]]:
    from precisec.frontend.c import load_c
    from precisec.toolchain import compiler
    from precisec.tune.samples import sample_inputs

    kernel = load_c(benchmarks / f"{tuned.case.kernel}.c")
    arity = len(kernel.inputs)
    inputs = sample_inputs(kernel, count, 12345)
    data = np.ascontiguousarray(inputs.T, dtype="<f8").tobytes()
    timings = {}
    with tempfile.TemporaryDirectory(prefix="precisec-speed-") as tmp:
        driver = Path(tmp) / "driver.c"
        driver.write_text(_driver(tuned, kernel.name, arity))
        for label, flags in FLAG_SETS.items():
            program = Path(tmp) / "speed"
            subprocess.run([compiler(), "-std=c11", *flags, "-ffp-contract=off", str(driver),
                            "-o", str(program), "-lquadmath", "-lm"], check=True)
            ran = subprocess.run([str(program), str(count), str(repeats)], input=data,
                                 capture_output=True, check=True)
            timings[label] = [float(x) * 1e9 for x in ran.stdout.split()[:3]]
    return timings


def _table(rows: list[dict]) -> str:
    head = ("| kernel | target | ops | formats | float | casts | RMSE (compiled) | "
            "double ns/eval | tuned/double | ceiling float/double | -march=native: tuned | "
            "ceiling | not inlined: tuned | ceiling |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        ratios = " | ".join(f"{ns[0] / ns[1]:.2f} | {ns[2] / ns[1]:.2f}"
                            for ns in (r["ns"][k] for k in FLAG_SETS))
        formats = ", ".join(f"{n} {k}" for k, n in r["formats"].items())
        lines.append(
            f"| {r['kernel']} | {r['label']} = {r['target']:.2e} | {r['ops']} | {formats} | "
            f"{r['float_fraction']:.0%} | {r['casts']} | {r['rmse']:.2e}"
            f"{'' if r['within'] else ' MISSED'} | {r['ns']['O3'][1]:.2f} | {ratios} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmarks", default=str(ROOT / "benchmarks_fptuner"))
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--start", choices=("sgd", "optimum"), default="sgd")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--only", nargs="*", help="kernel names to run")
    parser.add_argument("--cast-cost", type=float, default=4.0,
                        help="cost of one interior cast in the cost model (default 4)")
    parser.add_argument("--relative", nargs="*", type=float, default=list(RELATIVE),
                        help="targets relative to the output scale (default 1e-6 1e-4)")
    parser.add_argument("--no-fptuner", action="store_true",
                        help="leave out FPTuner's thresholds for sine and jet")
    parser.add_argument("--marker", default="speed-table",
                        help="the docs/native.md markers to write the table between")
    parser.add_argument("--time-only", action="store_true",
                        help="re-time the kernels tuned by the last run (OUT/MARKER.tuned.json)")
    args = parser.parse_args(argv)
    benchmarks = Path(args.benchmarks)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / f"{args.marker}.tuned.json"
    if args.time_only:
        tuned = [Tuned(**{**t, "case": Case(**t["case"])})
                 for t in json.loads(cache.read_text())]
        tuned = [t for t in tuned if not args.only or t.case.kernel in args.only]
    else:
        cases = [c for c in _cases(benchmarks, args.samples, tuple(args.relative),
                                   not args.no_fptuner)
                 if not args.only or c.kernel in args.only]
        jobs = [(c, args.start, args.samples, str(benchmarks), args.cast_cost) for c in cases]
        tuned = batch.run(_tune, [(job,) for job in jobs],
                          [f"{c.kernel} {c.label}" for c in cases], workers=args.jobs,
                          what="tunings")
        failed = batch.failures(tuned)
        for failure in failed:
            print(failure, file=sys.stderr)
        if failed:
            return batch.exit_code(failed)
        cache.write_text(json.dumps([asdict(t) for t in tuned], indent=1) + "\n")
    rows = []
    for t in tuned:
        ns = _time(t, benchmarks, args.count, args.repeats)
        row = {**asdict(t.case), **{k: v for k, v in asdict(t).items()
                                    if k not in ("case", "sources")}, "ns": ns}
        rows.append(row)
        ratios = ", ".join(f"{k} {v[0] / v[1]:.2f}/{v[2] / v[1]:.2f}" for k, v in ns.items())
        print(f"{t.case.kernel:<13}{t.case.label:<15}float {t.float_fraction:4.0%} casts "
              f"{t.casts:2d}  tuned/double, float/double: {ratios}", flush=True)
    (out / f"{args.marker}.json").write_text(json.dumps(rows, indent=1) + "\n")
    doc = out / "native.md"
    table = _table(rows)
    begin, end = f"<!-- {args.marker}:begin -->", f"<!-- {args.marker}:end -->"
    if doc.exists() and begin in doc.read_text():
        text = doc.read_text()
        head, rest = text.split(begin, 1)
        text = f"{head}{begin}\n{table}\n{end}{rest.split(end, 1)[1]}"
    else:
        text = f"# Native backend\n\n{begin}\n{table}\n{end}\n"
    doc.write_text(text)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
