"""The kernel IR: inputs, exact constants and operations in topological order.

Nodes refer to their arguments by index into `Kernel.nodes`, so a value used twice in the
source is one node used twice here (shared subexpressions stay shared).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from precisec.errors import SourceLoc
from precisec.ops import OPS, OpSpec


@dataclass(frozen=True)
class Input:
    """A kernel parameter, drawn uniformly from [lo, hi] (both doubles)."""

    name: str
    lo: float
    hi: float
    loc: SourceLoc


@dataclass(frozen=True)
class Const:
    """A literal, kept as its exact decimal text (331.4 means 3314/10)."""

    text: str
    loc: SourceLoc

    @property
    def value(self) -> Fraction:
        return Fraction(Decimal(self.text))


@dataclass(frozen=True)
class Op:
    """One operation of the table applied to earlier nodes."""

    op: str
    args: tuple[int, ...]
    loc: SourceLoc

    @property
    def spec(self) -> OpSpec:
        return OPS[self.op]


Node = Input | Const | Op


@dataclass(frozen=True)
class Kernel:
    """A straight-line kernel: one double result computed from double parameters."""

    name: str
    nodes: tuple[Node, ...]
    inputs: tuple[int, ...]
    output: int
    target_rmse: float | None
    loc: SourceLoc

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(self.input(i).name for i in range(len(self.inputs)))

    def input(self, position: int) -> Input:
        node = self.nodes[self.inputs[position]]
        assert isinstance(node, Input)
        return node

    @property
    def rounding_ops(self) -> tuple[int, ...]:
        """Indices of the operations that round, the ones that get a precision."""
        return tuple(i for i, n in enumerate(self.nodes) if isinstance(n, Op) and n.spec.rounds)

    def with_target(self, target: float) -> Kernel:
        return Kernel(self.name, self.nodes, self.inputs, self.output, target, self.loc)
