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
    points = lows + (highs - lows) * rng.random((count, len(kernel.inputs)))
    if kernel.precision == "float":
        points = np.clip(points.astype(np.float32), lows.astype(np.float32),
                         highs.astype(np.float32)).astype(np.float64)
    return points


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
              constant_bits: int = INPUT_BITS, round_arguments: bool = False) -> list[list]:
    """Every node's column of gmpy2 values; op i runs at bits[i], and a constant is
    rounded to the precision of the operation consuming it (to `constant_bits` where it
    is the result itself). With round_arguments, an argument wider than its consumer is
    first rounded to the consumer's precision (the narrowing cast of a hardware-format
    kernel)."""
    columns: list[list] = []
    width = {i: INPUT_BITS for i in kernel.inputs} | dict(bits)
    position = {node: k for k, node in enumerate(kernel.inputs)}
    count = len(inputs)
    for index, node in enumerate(kernel.nodes):
        if isinstance(node, Input):
            columns.append([gmpy2.mpfr(float(v)) for v in inputs[:, position[index]]])
        elif isinstance(node, Const):
            columns.append([gmpy2.mpfr(node.text, constant_bits)] * count)
        else:
            context = _context(bits[index])
            args = [[gmpy2.mpfr(c.text, context.precision)] * count
                    if isinstance(c := kernel.nodes[a], Const) else
                    list(map(context.plus, columns[a]))
                    if round_arguments and width[a] > bits[index] else columns[a]
                    for a in node.args]
            columns.append(list(map(node.spec.gmpy2(context), *args)))
    return columns


def relative_rounding_error(text: str, bits: int) -> float:
    """(c_p − c)/c for the decimal constant c rounded to nearest at `bits` bits."""
    context = _context(REFERENCE_BITS)
    value = gmpy2.mpfr(text, REFERENCE_BITS)
    if value == 0:
        return 0.0
    return float(context.div(context.sub(gmpy2.mpfr(text, bits), value), value))


@dataclass(frozen=True)
class Reference:
    """Exact outputs as double-double (hi + lo), so errors of doubles are exact in numpy.
    Shape (samples,), or (samples, results) for a kernel with output arrays. `branches`:
    the exact program's branch trace per sample (`branch_trace`), if it has branches."""

    hi: np.ndarray
    lo: np.ndarray
    branches: np.ndarray | None = None

    def errors(self, outputs: np.ndarray) -> np.ndarray:
        """outputs − exact, for double outputs close to the exact values."""
        return (outputs - self.hi) - self.lo


def exact(kernel: Kernel, inputs: np.ndarray, bits: int = REFERENCE_BITS) -> Reference:
    """The kernel in real arithmetic (design §3.1) at `bits` bits of working precision."""
    every_op = {i: bits for i, n in enumerate(kernel.nodes) if isinstance(n, Op)}
    columns = _evaluate(kernel, inputs, every_op, bits)
    _check_finite(kernel, inputs, columns)
    context = _context(bits)
    his, los = [], []
    for result in kernel.results:
        column = columns[result]
        hi = np.array([float(v) for v in column])
        his.append(hi)
        los.append(np.array([float(context.sub(v, gmpy2.mpfr(h)))
                             for v, h in zip(column, hi, strict=True)]))
    trace = branch_trace(kernel, columns, len(inputs)) if kernel.branches else None
    if not kernel.outputs:
        return Reference(his[0], los[0], trace)
    return Reference(np.stack(his, axis=1), np.stack(los, axis=1), trace)


NO_BRANCH = -1


def branch_trace(kernel: Kernel, columns: list[list], count: int) -> np.ndarray:
    """Per sample, the executed branch decisions in program order, each coded as
    2·site + outcome, padded with NO_BRANCH to one slot per `kernel.branches` entry (the
    same coding the tuned C's trace hook writes; docs/real-kernels.md)."""
    trace = np.full((count, len(kernel.branches)), NO_BRANCH, dtype=np.int64)
    filled = np.zeros(count, dtype=np.int64)
    rows = np.arange(count)
    for branch in kernel.branches:
        taken = np.ones(count, dtype=bool) if branch.guard is None else \
            np.array([bool(v) for v in columns[branch.guard]])
        if branch.cond is None:
            outcome = np.full(count, int(branch.static))
        else:
            outcome = np.array([int(bool(v)) for v in columns[branch.cond]])
        trace[rows[taken], filled[taken]] = 2 * branch.site + outcome[taken]
        filled += taken
    return trace


def _check_finite(kernel: Kernel, inputs: np.ndarray, columns: list[list]) -> None:
    """Locate the first operation with a non-finite or undefined result on the domain."""
    for index, node in enumerate(kernel.nodes):
        if not isinstance(node, Op):
            continue
        for row, value in enumerate(columns[index]):
            if node.guard is not None and not columns[node.guard][row]:
                continue
            if not gmpy2.is_finite(value):
                point = ", ".join(f"{name}={float(inputs[row, k])!r}"
                                  for k, name in enumerate(kernel.input_names))
                raise PrecisecError(node.loc, f"'{node.spec.name}' has a non-finite result "
                                              f"({value}) on the input domain, at {point}")


def box_corners(kernel: Kernel, limit: int = 4096) -> np.ndarray:
    """The corners of the range box and its centre (at most `limit` corners): the points
    uniform sampling never hits but the domain includes."""
    count = len(kernel.inputs)
    lows = np.array([kernel.input(i).lo for i in range(count)])
    highs = np.array([kernel.input(i).hi for i in range(count)])
    corners = min(2**count, limit)
    choice = (np.arange(corners)[:, None] >> np.arange(count)[None, :]) & 1
    return np.vstack([np.where(choice == 1, highs, lows), (lows + highs) / 2])


def check_domain(kernel: Kernel) -> None:
    """Raise a located error if an operation is non-finite at a corner of the range box."""
    exact(kernel, box_corners(kernel))


def emulate(kernel: Kernel, bits: Mapping[int, int], inputs: np.ndarray,
            round_arguments: bool = False) -> np.ndarray:
    """Outputs (doubles) of the kernel with rounding operation i at bits[i] bits; with
    round_arguments, arguments are rounded to their consumer's precision first."""
    missing = set(kernel.rounding_ops) - set(bits)
    if missing:
        raise ValueError(f"no precision for operations {sorted(missing)}")
    columns = _evaluate(kernel, inputs, operation_bits(kernel, bits),
                        round_arguments=round_arguments)
    if kernel.outputs:
        return np.stack([_doubles(kernel, columns[r]) for r in kernel.outputs], axis=1)
    return _doubles(kernel, columns[kernel.output])


def _doubles(kernel: Kernel, column: list) -> np.ndarray:
    """A result column as the kernel returns it: a double, or a float for float kernels."""
    if kernel.precision == "float":
        context = _context(24)
        return np.array([float(context.plus(v)) for v in column])
    return np.array([float(v) for v in column])
