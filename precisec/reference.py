"""Exact reference and per-operation precision emulation, both with gmpy2 (MPFR).

One evaluator serves both: the gmpy2 context methods named in the operation table round
correctly to the context's precision, so running every operation at REFERENCE_BITS gives
the real-arithmetic result (design §3.1) and running operation i at p_i bits gives exactly
what the MPFR backend computes (design §3.2). Evaluation goes node by node over whole
columns of samples, so the per-call cost is one C-level map per node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import gmpy2
import numpy as np

from precisec.errors import PrecisecError
from precisec.ir import Const, Input, Kernel, Op

REFERENCE_BITS = 320
INPUT_BITS = 53


@cache
def _context(bits: int) -> gmpy2.context:
    return gmpy2.context(precision=bits, round=gmpy2.RoundToNearest)


def sample_inputs(kernel: Kernel, count: int, seed: int) -> np.ndarray:
    """`count` points drawn uniformly from the kernel's range box, shape (count, inputs)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    lows = np.array([kernel.input(i).lo for i in range(len(kernel.inputs))])
    highs = np.array([kernel.input(i).hi for i in range(len(kernel.inputs))])
    return lows + (highs - lows) * rng.random((count, len(kernel.inputs)))


def operation_bits(kernel: Kernel, bits: Mapping[int, int]) -> dict[int, int]:
    """Precision of every operation: rounding ones from `bits`; exact ones (negation,
    fabs, fmin, fmax) as wide as their widest argument, inputs and constants being 53."""
    width: dict[int, int] = {}
    for index, node in enumerate(kernel.nodes):
        if isinstance(node, Op):
            width[index] = bits[index] if node.spec.rounds else max(
                width.get(a, INPUT_BITS) for a in node.args)
    return width


def _evaluate(kernel: Kernel, inputs: np.ndarray, bits: Mapping[int, int],
              round_arguments: bool = False) -> list[list]:
    """Every node's column of gmpy2 values; op i runs at bits[i], and a constant is
    rounded to the precision of the operation consuming it. With round_arguments, an
    argument wider than its consumer is first rounded to the consumer's precision (the
    narrowing cast of a hardware-format kernel)."""
    columns: list[list] = []
    width = {i: INPUT_BITS for i in kernel.inputs} | dict(bits)
    position = {node: k for k, node in enumerate(kernel.inputs)}
    count = len(inputs)
    for index, node in enumerate(kernel.nodes):
        if isinstance(node, Input):
            columns.append([gmpy2.mpfr(float(v)) for v in inputs[:, position[index]]])
        elif isinstance(node, Const):
            columns.append([gmpy2.mpfr(node.text, INPUT_BITS)] * count)
        else:
            context = _context(bits[index])
            args = [[gmpy2.mpfr(c.text, context.precision)] * count
                    if isinstance(c := kernel.nodes[a], Const) else
                    list(map(context.plus, columns[a]))
                    if round_arguments and width[a] > bits[index] else columns[a]
                    for a in node.args]
            columns.append(list(map(getattr(context, node.spec.gmpy2_method), *args)))
    return columns


@dataclass(frozen=True)
class Reference:
    """Exact outputs as double-double (hi + lo), so errors of doubles are exact in numpy."""

    hi: np.ndarray
    lo: np.ndarray

    def errors(self, outputs: np.ndarray) -> np.ndarray:
        """outputs − exact, for double outputs close to the exact values."""
        return (outputs - self.hi) - self.lo


def exact(kernel: Kernel, inputs: np.ndarray, bits: int = REFERENCE_BITS) -> Reference:
    """The kernel in real arithmetic (design §3.1) at `bits` bits of working precision."""
    every_op = {i: bits for i, n in enumerate(kernel.nodes) if isinstance(n, Op)}
    columns = _evaluate(kernel, inputs, every_op)
    _check_finite(kernel, inputs, columns)
    column = columns[kernel.output]
    context = _context(bits)
    hi = np.array([float(v) for v in column])
    lo = np.array([float(context.sub(v, gmpy2.mpfr(h))) for v, h in zip(column, hi, strict=True)])
    return Reference(hi, lo)


def _check_finite(kernel: Kernel, inputs: np.ndarray, columns: list[list]) -> None:
    """Locate the first operation with a non-finite or undefined result on the domain."""
    for index, node in enumerate(kernel.nodes):
        if not isinstance(node, Op):
            continue
        for row, value in enumerate(columns[index]):
            if not gmpy2.is_finite(value):
                point = ", ".join(f"{name}={inputs[row, k]!r}"
                                  for k, name in enumerate(kernel.input_names))
                raise PrecisecError(node.loc, f"'{node.spec.name}' has a non-finite result "
                                              f"({value}) on the input domain, at {point}")


def emulate(kernel: Kernel, bits: Mapping[int, int], inputs: np.ndarray,
            round_arguments: bool = False) -> np.ndarray:
    """Outputs (doubles) of the kernel with rounding operation i at bits[i] bits; with
    round_arguments, arguments are rounded to their consumer's precision first."""
    missing = set(kernel.rounding_ops) - set(bits)
    if missing:
        raise ValueError(f"no precision for operations {sorted(missing)}")
    columns = _evaluate(kernel, inputs, operation_bits(kernel, bits), round_arguments)
    return np.array([float(v) for v in columns[kernel.output]])
