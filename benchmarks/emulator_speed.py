"""Emulator speed: 10,000 inputs through a kernel of about 30 rounding operations.

Prints seconds for the exact reference and for the per-operation precision emulator on
jet (26 rounding operations) and on a generated 30-operation kernel.
Run: .venv/bin/python benchmarks/emulator_speed.py
"""

from __future__ import annotations

import time
from pathlib import Path

from precisec.frontend.c import load_c, parse_c
from precisec.reference import emulate, exact, sample_inputs

ROOT = Path(__file__).resolve().parents[1]


def chain_kernel(operations: int) -> str:
    """A straight-line kernel with `operations` rounding operations over three inputs."""
    lines = ["#pragma precisec range(x, 0.5, 2)", "#pragma precisec range(y, -1, 1)",
             "#pragma precisec range(z, 1, 3)", "double chain(double x, double y, double z) {",
             "    double a = x * y;"]
    symbols = ["+", "*", "-", "/"]
    for k in range(1, operations - 1):
        operand = ("x", "y", "z")[k % 3]
        lines.append(f"    a = a {symbols[k % 4]} {operand};")
    lines += ["    return a + sqrt(z);", "}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    kernels = [load_c(ROOT / "benchmarks_fptuner" / "jet.c"),
               parse_c(chain_kernel(30), "chain.c")]
    for kernel in kernels:
        inputs = sample_inputs(kernel, 10_000, 0)
        bits = dict.fromkeys(kernel.rounding_ops, 40)
        clock = time.perf_counter()
        exact(kernel, inputs)
        reference_seconds = time.perf_counter() - clock
        clock = time.perf_counter()
        emulate(kernel, bits, inputs)
        emulate_seconds = time.perf_counter() - clock
        print(f"{kernel.name:8s} {len(kernel.rounding_ops):3d} rounding ops, 10000 inputs: "
              f"exact reference {reference_seconds:.2f} s, emulator {emulate_seconds:.2f} s")


if __name__ == "__main__":
    main()
