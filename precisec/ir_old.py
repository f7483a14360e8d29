"""The kernel IR: inputs, exact constants and operations in topological order.

Nodes refer to their arguments by index into `Kernel.nodes`, so a value used twice in the
source is one node used twice here (shared subexpressions stay shared).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from typing import Any

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
    """One operation of the table applied to earlier nodes.

    site: the source operation this node is an instance of (an unrolled loop or an inlined
      helper makes several nodes of one site; they share one precision). None: its own.
    guard: a boolean node that is true where this node's value is used (it lies on an
      if/else branch); None: always used.
    """

    op: str
    args: tuple[int, ...]
    loc: SourceLoc
    site: int | None = None
    guard: int | None = None

    @property
    def spec(self) -> OpSpec:
        return OPS[self.op]


Node = Input | Const | Op


@dataclass(frozen=True)
class Param:
    """A C parameter of a structured kernel: a scalar (shape ()) or a fixed-size array;
    `output` arrays (non-const) receive results, the others are inputs."""

    name: str
    shape: tuple[int, ...] = ()
    output: bool = False

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Branch:
    """One dynamic execution of an if/?: decision (in program order after unrolling):
    `cond` is its boolean node (None: decided statically, `static` gives the outcome);
    it executes where `guard` is true (None: always). `site` names the source decision."""

    site: int
    cond: int | None
    guard: int | None
    static: bool = False


@dataclass(frozen=True)
class Kernel:
    """A kernel: results computed from parameters by the nodes.

    A straight-line kernel has one double result (`output`). A structured kernel (loops,
    branches, arrays, helpers; docs/real-kernels.md) may instead have several results
    (`outputs`, the elements of output arrays), a C type `precision` ("double" or
    "float"), its parameters' shapes, its branch decisions, and the C source structure the
    structured backend re-emits (`structure`, opaque here).
    """

    name: str
    nodes: tuple[Node, ...]
    inputs: tuple[int, ...]
    output: int
    target_rmse: float | None
    loc: SourceLoc
    outputs: tuple[int, ...] = ()
    precision: str = "double"
    params: tuple[Param, ...] = ()
    branches: tuple[Branch, ...] = ()
    structure: Any = field(default=None, compare=False, repr=False)

    @property
    def results(self) -> tuple[int, ...]:
        """The result nodes: the output array elements, or the one returned value."""
        return self.outputs or (self.output,)

    @property
    def is_structured(self) -> bool:
        return self.structure is not None

    @cached_property
    def sites(self) -> tuple[int, ...]:
        """One representative (first) rounding node per precision site, in order; for a
        straight-line kernel these are exactly `rounding_ops`."""
        seen: dict[object, int] = {}
        for index in self.rounding_ops:
            seen.setdefault(self._site_key(index), index)
        return tuple(seen.values())

    @cached_property
    def site_index(self) -> dict[int, int]:
        """Rounding node -> position of its site in `sites`."""
        position = {self._site_key(rep): k for k, rep in enumerate(self.sites)}
        return {index: position[self._site_key(index)] for index in self.rounding_ops}

    def _site_key(self, index: int) -> object:
        node = self.nodes[index]
        assert isinstance(node, Op)
        return ("node", index) if node.site is None else ("site", node.site)

    def expand_bits(self, site_bits: Sequence[int]) -> dict[int, int]:
        """Per-site precisions to per-node precisions over every rounding node."""
        return {index: int(site_bits[k]) for index, k in self.site_index.items()}

    def site_bits(self, bits: Mapping[int, int]) -> list[int]:
        """Per-node precisions to per-site ones (the site's representative's)."""
        return [bits[index] for index in self.sites]

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
        return replace(self, target_rmse=target)
