"""The kernel IR: SSA values, equations, and regions for loops and branches.

The shape follows JAX's jaxpr: a `Region` is a small program (parameters, statements,
results); a statement is an `Eqn` (one operation of `precisec.ops` producing one value),
a `Loop` (a counted loop whose body region maps the counter and the carried values to the
next carried values, like `lax.scan`), a `While` (a loop whose trip count depends on the
data: a condition region and a body region over the carried values, like
`lax.while_loop`, stopped at a hard iteration cap), or a `Cond` (two regions and the values
they merge, like `lax.cond`). Regions may read values of enclosing regions (lexical scope).

Loops are never unrolled, so the IR's size is the source's size. Every rounding equation
is one *site* (a static source operation) and gets one precision however often it runs;
`Kernel.sites` lists them in index order. docs/method.md §1 defines the semantics every
interpreter implements; `precisec.ir.check` verifies the invariants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cached_property

from precisec.errors import SourceLoc
from precisec.ops import OPS, OpSpec

REAL, INT, BOOL = "real", "int", "bool"

WHILE_CAP = 1_000_000
"""The default hard iteration cap of a `While` (docs/method.md §1): a loop whose condition
still holds after this many iterations stops there, in every interpreter and in the
emitted C alike."""


@dataclass(frozen=True, eq=False)
class Var:
    """An SSA value. `shape` is () for scalars; real arrays have their dimensions.
    `hint` is the source name it came from (for printing and emitted names only).
    Compared by identity."""

    type: str
    shape: tuple[int, ...] = ()
    hint: str = ""

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Lit:
    """A literal operand. Reals keep their exact decimal text (331.4 means 3314/10);
    integers and booleans their decimal value."""

    type: str
    text: str

    @property
    def value(self) -> Fraction:
        return Fraction(Decimal(self.text))

    @staticmethod
    def real(text: str) -> Lit:
        return Lit(REAL, text)

    @staticmethod
    def int(value: int) -> Lit:
        return Lit(INT, str(value))


Atom = Var | Lit


@dataclass(frozen=True)
class Eqn:
    """out = op(args). `site` is set exactly when the operation rounds."""

    op: str
    args: tuple[Atom, ...]
    out: Var
    loc: SourceLoc
    site: int | None = None

    @property
    def spec(self) -> OpSpec:
        return OPS[self.op]


@dataclass(frozen=True)
class Region:
    """A sub-program: `params` are bound by its owner, `results` are handed back."""

    params: tuple[Var, ...]
    stmts: tuple[Stmt, ...]
    results: tuple[Atom, ...]


@dataclass(frozen=True)
class Loop:
    """`trips` iterations with counter start, start+step, …; `body` maps
    (counter, *carried) to the next carried values; `outs` are the final ones
    (`init` when trips is 0)."""

    start: int
    step: int
    trips: int
    init: tuple[Atom, ...]
    body: Region
    outs: tuple[Var, ...]
    loc: SourceLoc

    @property
    def counter(self) -> Var:
        return self.body.params[0]

    @property
    def carried(self) -> tuple[Var, ...]:
        return self.body.params[1:]


@dataclass(frozen=True)
class Cond:
    """if pred then `then` else `other`; both regions take no parameters and their
    results are merged into `outs`. `branch` numbers the decision (0..n_branches-1) for
    branch traces."""

    pred: Atom
    then: Region
    other: Region
    outs: tuple[Var, ...]
    loc: SourceLoc
    branch: int


@dataclass(frozen=True)
class While:
    """while cond(carried) and fewer than `cap` iterations ran: carried ← body(carried).

    `cond` maps the carried values (its own parameters) to one boolean; `body` maps them
    (its parameters) to the next carried values; `outs` are the final ones (`init` when
    the condition fails at once). The condition is not evaluated once `cap` iterations
    ran, so its sites run trips + 1 times, or `cap` times at the cap. `number` numbers the
    loop (0..n_whiles-1) for trip-count traces. `stated`: the source stated the cap; a
    loop under the default cap (`WHILE_CAP`) that reaches it in the exact reference is
    refused there (docs/method.md §1), a stated cap is the loop's semantics."""

    init: tuple[Atom, ...]
    cond: Region
    body: Region
    outs: tuple[Var, ...]
    cap: int
    loc: SourceLoc
    number: int
    stated: bool = False

    @property
    def carried(self) -> tuple[Var, ...]:
        return self.body.params


Stmt = Eqn | Loop | While | Cond


@dataclass(frozen=True)
class Input:
    """A parameter the kernel reads: a scalar (shape ()) or a fixed-size array, with one
    sampling range per element (row-major)."""

    name: str
    shape: tuple[int, ...]
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    loc: SourceLoc

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Output:
    """An array parameter the kernel writes (it starts as zeros)."""

    name: str
    shape: tuple[int, ...]
    loc: SourceLoc

    @property
    def size(self) -> int:
        return math.prod(self.shape)


Param = Input | Output


@dataclass(frozen=True)
class Site:
    """A rounding source operation."""

    op: str
    loc: SourceLoc


@dataclass(frozen=True)
class Precondition:
    """A constraint on the inputs beyond their ranges (FPCore `:pre`, C `pre` pragma):
    a region from one value per sampled scalar (`Kernel.input_labels` order) to one
    boolean. Its operations are no sites; samplers evaluate it soundly and reject the
    points where it does not hold (docs/method.md §6)."""

    region: Region
    loc: SourceLoc
    text: str


@dataclass(frozen=True)
class Kernel:
    """A kernel: C parameters in signature order, a body, its rounding sites.

    `body.params` has one value per parameter (an input's value; an output array's
    initial zeros). `body.results` are the returned scalar (if `returns`), then each
    output array's final value in parameter order. `precision` is the C element type,
    "double" or "float". `properties` carries frontend facts emitters may reuse (for
    FPCore: the core's name and properties), as (key, text) pairs. `target_rmse` is
    the source's error target in `target_metric` (rmse, relrmse or bits); `precondition`
    constrains the inputs beyond their ranges; `target_maxerr` is the source's
    worst-case target (a sound bound on the absolute error, docs/method.md §9). An input
    range may be infinite on either side (sampled over the floating-point values under
    relative metrics).
    """

    name: str
    loc: SourceLoc
    params: tuple[Param, ...]
    returns: bool
    body: Region
    sites: tuple[Site, ...]
    n_branches: int = 0
    precision: str = "double"
    target_rmse: float | None = None
    properties: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    target_metric: str = "rmse"
    precondition: Precondition | None = None
    target_maxerr: float | None = None
    n_whiles: int = 0

    @property
    def inputs(self) -> tuple[Input, ...]:
        return tuple(p for p in self.params if isinstance(p, Input))

    @property
    def outputs(self) -> tuple[Output, ...]:
        return tuple(p for p in self.params if isinstance(p, Output))

    @property
    def baseline_bits(self) -> int:
        """The precision of the original kernel: 53 (double), 24 (float)."""
        return 24 if self.precision == "float" else 53

    @cached_property
    def input_labels(self) -> tuple[str, ...]:
        """One label per sampled scalar, in sample-column order: `x`, `A[1][2]`."""
        return tuple(label for p in self.inputs for label in _element_labels(p.name, p.shape))

    @property
    def result_labels(self) -> tuple[str, ...]:
        """One label per result scalar, in result-column order."""
        labels = ["return"] if self.returns else []
        for out in self.outputs:
            labels.extend(_element_labels(out.name, out.shape))
        return tuple(labels)

    @property
    def lows(self) -> tuple[float, ...]:
        return tuple(v for p in self.inputs for v in p.lo)

    @property
    def highs(self) -> tuple[float, ...]:
        return tuple(v for p in self.inputs for v in p.hi)

    def prop(self, key: str) -> str | None:
        return dict(self.properties).get(key)


def _element_labels(name: str, shape: tuple[int, ...]) -> list[str]:
    if not shape:
        return [name]
    labels = [name]
    for n in shape:
        labels = [f"{label}[{k}]" for label in labels for k in range(n)]
    return labels


def walk(region: Region):  # type: ignore[no-untyped-def]
    """Every statement of a region and its sub-regions, in program order (pre-order)."""
    for stmt in region.stmts:
        yield stmt
        if isinstance(stmt, Loop):
            yield from walk(stmt.body)
        elif isinstance(stmt, While):
            yield from walk(stmt.cond)
            yield from walk(stmt.body)
        elif isinstance(stmt, Cond):
            yield from walk(stmt.then)
            yield from walk(stmt.other)


def site_eqns(kernel: Kernel) -> list[Eqn]:
    """The rounding equation of each site, by site index."""
    found: dict[int, Eqn] = {}
    for stmt in walk(kernel.body):
        if isinstance(stmt, Eqn) and stmt.site is not None:
            found[stmt.site] = stmt
    return [found[k] for k in range(len(kernel.sites))]


def executions(kernel: Kernel) -> list[int]:
    """Per site, how often it runs per sample at most (loops multiply; both branch
    sides count): the dynamic size the interpreters stream over. A `While` counts as its
    cap (its body `cap` times, its condition `cap` times too): the static bound, which is
    what timeouts and memory budgets need; its actual trip count is data (docs/method.md
    §1), so estimates that want the typical cost over-count such kernels and stay on
    their safe side (fewer inputs, smaller chunks)."""
    counts = [0] * len(kernel.sites)

    def visit(region: Region, times: int) -> None:
        for stmt in region.stmts:
            if isinstance(stmt, Eqn):
                if stmt.site is not None:
                    counts[stmt.site] += times
            elif isinstance(stmt, Loop):
                visit(stmt.body, times * stmt.trips)
            elif isinstance(stmt, While):
                visit(stmt.cond, times * stmt.cap)
                visit(stmt.body, times * stmt.cap)
            else:
                visit(stmt.then, times)
                visit(stmt.other, times)

    visit(kernel.body, 1)
    return counts
