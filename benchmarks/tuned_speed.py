"""Speed of tuned code in three call styles: time per call of the tuned MPFR file, the
fast backend's file of the same bits, and the native all-float kernel, relative to the
plain-double kernel (docs/fast.md, Call styles).

Each FPTuner kernel is tuned at its Table-1 target through `precisec.flow.run` (seed 0:
the bits `precisec table` writes). The fast file (`--backend fast`) and the native kernel
with every site in float (what `--backend native` emits when it picks float everywhere)
are emitted with their batched entry points and headers. Call styles:

* inline: the header (`--emit h`; for double, the source) included into an array map
  compiled with -O3;
* drop-in: the file compiled separately (-O2), called once per input;
* batch: the file's `NAME_batch(n, in..., out)`, compiled separately (-O2).

All variants are linked into one program per kernel that times them over the same 10^6
inputs, interleaved in each of `--repeats` rounds (the minimum kept), in CPU time of the
thread. The MPFR file is timed drop-in on the first 10^5 of them (it is 100s of times
slower; per-call times do not depend on the count). The last column is the native
all-float batch against the plain double kernel compiled separately and called per input
(what a user of the untuned kernel runs today), not against double's own batch; the one
before it is a memory floor on the same scale: a batch that only adds its inputs
(vectorised, -O3), the least time any batch with the double interface takes here.

Everything is built with -march=native, or with `--portable` without it, as the README's
build line does (a native batch then runs its AVX2 or AVX-512 clone where the machine has
it; the fast batch and the inline maps stay SSE2).

    .venv/bin/python benchmarks/tuned_speed.py [KERNEL ...] [--repeats 5] [--portable]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

from precisec import flow
from precisec.backend.entry import header_text, with_batch
from precisec.backend.fast import emit_fast
from precisec.backend.formats import FLOAT
from precisec.backend.native import emit_native
from precisec.frontend.c import load_c
from precisec.ir import Kernel
from precisec.toolchain import NATIVE_LIBS, find_toolchain
from precisec.tune.samples import sample_inputs
from precisec.tune.tuner import require_target

ROOT = Path(__file__).resolve().parents[1]
CALLS = 1_000_000
MPFR_CALLS = 100_000
MARCH: tuple[str, ...] = ("-march=native",)
VARIANTS = ("double", "fast", "float")
STYLES = ("inline", "dropin", "batch")

DRIVER = """
#define _POSIX_C_SOURCE 199309L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
{declarations}
static double seconds(void) {{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}}
#define TIME(slot, count, stmt) do {{ double s = seconds(); stmt; \\
    double e = seconds() - s; if (r == 0 || e < best[slot]) best[slot] = e; \\
    for (long i = 0; i < count; i++) sink += out[i]; }} while (0)
int main(void) {{
    const long n = {calls}, m = {mpfr_calls};
    double *in[{arity}], *out = malloc(sizeof(double) * n), best[{slots}], sink = 0;
    for (int j = 0; j < {arity}; j++) {{
        in[j] = malloc(sizeof(double) * n);
        if (fread(in[j], sizeof(double), n, stdin) != (size_t) n) return 1;
    }}
    for (int r = 0; r < {repeats}; r++) {{
{timings}
    }}
    for (int k = 0; k < {slots}; k++) printf("%.6e ", best[k] / (k == {slots} - 1 ? m : n));
    printf("%d\\n", sink != sink);
    return 0;
}}
"""


def texts(kernel: Kernel, source: Path, bits: tuple[int, ...]) -> dict[str, str]:
    """Each variant's C file (with its batched entry point)."""
    return {"double": with_batch(kernel, source.read_text()),
            "fast": with_batch(kernel, emit_fast(kernel, bits, ["fast backend"])),
            "float": with_batch(kernel, emit_native(kernel, [FLOAT] * len(kernel.sites),
                                                    ["native, all float"]))}


def dropin(function: str, arrays: str, args: str) -> str:
    """`each_FUNCTION(n, x..., out)`, the drop-in call loop, not inlined into the timing
    code: there gcc kept a constant of the timer in a register across the calls, spilling
    and reloading it every call (a store-to-load chain of ~2 ns without -march)."""
    return (f"static __attribute__((noinline)) void each_{function}(long n, {arrays}, "
            f"double *out) {{ for (long i = 0; i < n; i++) out[i] = {function}({args}); }}")


def build(kernel: Kernel, source: Path, mpfr_text: str, bits: tuple[int, ...],
          workdir: Path, repeats: int, march: tuple[str, ...] = MARCH) -> Path:
    """The timing program: every variant in every style, the memory floor, and the MPFR
    file drop-in."""
    chain = find_toolchain()
    name, arity = kernel.name, len(kernel.params)
    base = ["-std=c11", "-Wno-unknown-pragmas", "-ffp-contract=off", *march, *chain.cflags]
    columns = ", ".join(f"in[{j}]" for j in range(arity))
    args = ", ".join(f"x{j}[i]" for j in range(arity))
    params = ", ".join(["double"] * arity)
    arrays = ", ".join(f"const double *x{j}" for j in range(arity))
    objects, declarations, timings = [], [], []
    for variant, text in texts(kernel, source, bits).items():
        plain = workdir / f"{variant}.c"
        plain.write_text(text)
        inline = workdir / f"inline_{variant}.c"
        if variant == "double":
            included = f'#include "{plain.name}"'
        else:
            (workdir / f"tuned_{variant}.h").write_text(header_text(
                kernel, text[:text.rindex("#include <stddef.h>")]))
            included = f'#include "tuned_{variant}.h"'
        inline.write_text(f"{included}\nvoid map_{variant}(long n, {arrays}, double *out)\n"
                          f"{{\n    for (long i = 0; i < n; i++) out[i] = {name}({args});\n}}\n")
        renames = [f"-D{name}={name}_{variant}", f"-D{name}_batch={name}_{variant}_batch"]
        for path, flags in ((plain, ["-O2", *renames]), (inline, ["-O3"])):
            obj = path.with_suffix(".o")
            subprocess.run([chain.cc, *base, *flags, "-I", str(workdir), "-c", str(path),
                            "-o", str(obj)], check=True)
            objects.append(str(obj))
        declarations += [f"double {name}_{variant}({params});",
                         f"void {name}_{variant}_batch(size_t n, {arrays}, double *out);",
                         f"void map_{variant}(long n, {arrays}, double *out);",
                         dropin(f"{name}_{variant}", arrays, args)]
        slot = 3 * VARIANTS.index(variant)
        timings += [f"TIME({slot}, n, map_{variant}(n, {columns}, out));",
                    f"TIME({slot + 1}, n, each_{name}_{variant}(n, {columns}, out));",
                    f"TIME({slot + 2}, n, {name}_{variant}_batch(n, {columns}, out));"]
    floor = workdir / "floor.c"
    restricted = ", ".join(f"const double *restrict x{j}" for j in range(arity))
    total = " + ".join(f"x{j}[i]" for j in range(arity))
    floor.write_text(f"void floor_batch(long n, {restricted}, double *restrict out)\n"
                     f"{{\n    for (long i = 0; i < n; i++) out[i] = {total};\n}}\n")
    subprocess.run([chain.cc, *base, "-O3", "-c", str(floor), "-o", str(workdir / "floor.o")],
                   check=True)
    objects.append(str(workdir / "floor.o"))
    declarations.append(f"void floor_batch(long n, {arrays}, double *out);")
    timings.append(f"TIME({3 * len(VARIANTS)}, n, floor_batch(n, {columns}, out));")
    mpfr = workdir / "mpfr.c"
    mpfr.write_text(mpfr_text)
    subprocess.run([chain.cc, *base, "-O2", f"-D{name}={name}_mpfr", "-c", str(mpfr), "-o",
                    str(workdir / "mpfr.o")], check=True)
    objects.append(str(workdir / "mpfr.o"))
    declarations += [f"double {name}_mpfr({params});", dropin(f"{name}_mpfr", arrays, args)]
    slots = 3 * len(VARIANTS) + 2
    timings.append(f"TIME({slots - 1}, m, each_{name}_mpfr(m, {columns}, out));")
    driver = workdir / "driver.c"
    driver.write_text(DRIVER.format(
        declarations="\n".join(declarations), calls=CALLS, mpfr_calls=MPFR_CALLS, arity=arity,
        slots=slots, repeats=repeats, timings="\n".join(f"        {t}" for t in timings)))
    exe = workdir / "bench"
    subprocess.run([chain.cc, *base, "-O2", str(driver), *objects, "-o", str(exe), *chain.libs,
                    *NATIVE_LIBS, "-lm"], check=True)
    return exe


def measure(kernel: Kernel, source: Path, mpfr_text: str, bits: tuple[int, ...],
            repeats: int, march: tuple[str, ...] = MARCH) -> dict[str, float]:
    """Seconds per call of each variant in each style, and of the MPFR file."""
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(kernel, source, mpfr_text, bits, Path(tmp), repeats, march)
        data = sample_inputs(kernel, CALLS, 7).T.astype("<f8").tobytes()
        out = subprocess.run([str(exe)], input=data, capture_output=True, check=True).stdout
    values = [float(v) for v in out.split()[:-1]]
    keys = [f"{v}_{s}" for v in VARIANTS for s in STYLES] + ["floor_batch", "mpfr_dropin"]
    return dict(zip(keys, values, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernels", nargs="*", help="FPTuner kernel names (default: all)")
    parser.add_argument("--repeats", type=int, default=5, help="timing rounds (default 5)")
    parser.add_argument("--portable", action="store_true",
                        help="build without -march=native (the README's build line)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    names = args.kernels or [r["benchmark"] for r in json.loads(
        (ROOT / "benchmarks_fptuner" / "table1_paper.json").read_text())["rows"]]
    print("time per call relative to plain double in the same call style "
          "(MPFR, floor and the last column: relative to double drop-in)")
    print(f"{'kernel':<13}{'double ns':>10}{'mpfr':>8}"
          + "".join(f"{f'{v} {s}':>14}" for v in VARIANTS[1:] for s in STYLES)
          + f"{'floor':>8}{'float batch/double drop-in':>28}")
    results = {}
    for name in names:
        source = ROOT / "benchmarks_fptuner" / f"{name}.c"
        kernel = load_c(source)
        result = flow.run(kernel, require_target(kernel, None), source.name)
        t = measure(kernel, source, result.text, result.bits, args.repeats,
                    () if args.portable else MARCH)
        results[name] = {key: value * 1e9 for key, value in t.items()}
        ratios = [t[f"{v}_{s}"] / t[f"double_{s}"] for v in VARIANTS[1:] for s in STYLES]
        print(f"{name:<13}{t['double_dropin'] * 1e9:>10.2f}"
              f"{t['mpfr_dropin'] / t['double_dropin']:>8.0f}"
              + "".join(f"{r:>14.2f}" for r in ratios)
              + f"{t['floor_batch'] / t['double_dropin']:>8.2f}"
              + f"{t['float_batch'] / t['double_dropin']:>28.2f}", flush=True)
    if len(results) > 1:
        def median(variant: str, style: str) -> float:
            return statistics.median(r[f"{variant}_{style}"] / r[f"double_{style}"]
                                     for r in results.values())
        mpfr = statistics.median(r["mpfr_dropin"] / r["double_dropin"] for r in results.values())
        dropin = {key: statistics.median(r[key] / r["double_dropin"] for r in results.values())
                  for key in ("floor_batch", "float_batch")}
        print(f"{'median':<13}{'':>10}{mpfr:>8.0f}"
              + "".join(f"{median(v, s):>14.2f}" for v in VARIANTS[1:] for s in STYLES)
              + f"{dropin['floor_batch']:>8.2f}{dropin['float_batch']:>28.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
