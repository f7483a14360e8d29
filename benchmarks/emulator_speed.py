"""Speed of the compiled evaluator (`precisec.semantics.compiled`, docs/method.md §5)
against the defining interpreter (`precisec.semantics.interpret`).

Three kernels: jet (FPTuner, 26 rounding operations), a generated straight-line chain of
30 and a loop of 4 running 1,000 times (4,000 dynamic rounding operations per input). For
each: the seconds to build the evaluator (gcc, once per kernel), to compute the exact
reference on `--samples` inputs (320 bits, checked by recomputation at 480), to emulate
one allocation (40 bits everywhere) on the same inputs, that emulation's nanoseconds per
dynamic rounding operation and input, and the interpreter's seconds for the same
emulation extrapolated from `--interpret` inputs (on which both must agree bit for bit).

    .venv/bin/python benchmarks/emulator_speed.py [--samples 10000] [--interpret 100]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from precisec.frontend.c import load_c, parse_c
from precisec.ir import Kernel, executions
from precisec.semantics.compiled import Evaluator
from precisec.semantics.interpret import point_outputs
from precisec.tune.samples import sample_inputs

ROOT = Path(__file__).resolve().parents[1]
BITS = 40


def chain_kernel(operations: int) -> str:
    """A straight-line kernel with `operations` rounding operations over three inputs."""
    lines = ["#pragma precisec range(x, 0.5, 2)", "#pragma precisec range(y, -1, 1)",
             "#pragma precisec range(z, 1, 3)", "double chain(double x, double y, double z) {",
             "    double a = x * y;"]
    symbols = ["+", "*", "-", "/"]
    for k in range(1, operations - 2):
        operand = ("x", "y", "z")[k % 3]
        lines.append(f"    a = a {symbols[k % 4]} {operand};")
    lines += ["    return a + sqrt(z);", "}"]
    return "\n".join(lines) + "\n"


def loop_kernel(steps: int) -> str:
    """A logistic-growth loop: 4 rounding operations per step."""
    return f"""#pragma precisec range(x0, 0.1, 0.9)
double logistic(double x0) {{
    double x = x0;
    for (int n = 0; n < {steps}; n++) x = x + 0.001 * x * (1.0 - x);
    return x;
}}
"""


def measure(kernel: Kernel, samples: int, interpret: int) -> str:
    """One line of figures for `kernel`."""
    inputs = sample_inputs(kernel, samples, 0)
    bits = [BITS] * len(kernel.sites)
    dynamic = sum(executions(kernel))
    clock = time.perf_counter()
    with Evaluator(kernel) as evaluator:
        build = time.perf_counter() - clock
        clock = time.perf_counter()
        evaluator.exact(inputs)
        exact = time.perf_counter() - clock
        clock = time.perf_counter()
        emulated = evaluator.emulate(bits, inputs).outputs
        emulate = time.perf_counter() - clock
    clock = time.perf_counter()
    interpreted = np.array([point_outputs(kernel, point, bits) for point in inputs[:interpret]])
    per_point = (time.perf_counter() - clock) / interpret
    agree = np.array_equal(interpreted.view("<u8"), emulated[:interpret].view("<u8"))
    return (f"{kernel.name:<9}{len(kernel.sites):>6}{dynamic:>9}{build:>8.2f}{exact:>8.2f}"
            f"{emulate:>10.2f}{emulate / (samples * dynamic) * 1e9:>9.0f}"
            f"{per_point * samples:>13.1f}{'yes' if agree else 'NO':>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--interpret", type=int, default=100,
                        help="inputs the interpreter runs (its time is extrapolated)")
    args = parser.parse_args()
    kernels = [load_c(ROOT / "benchmarks_fptuner" / "jet.c"),
               parse_c(chain_kernel(30), "chain.c"), parse_c(loop_kernel(1000), "logistic.c")]
    print(f"{args.samples} inputs, emulation at {BITS} bits; seconds unless marked")
    print(f"{'kernel':<9}{'sites':>6}{'dynamic':>9}{'build':>8}{'exact':>8}{'emulate':>10}"
          f"{'ns/op':>9}{'interpreter':>13}{'agree':>7}")
    for kernel in kernels:
        print(measure(kernel, args.samples, min(args.interpret, args.samples)), flush=True)


if __name__ == "__main__":
    main()
