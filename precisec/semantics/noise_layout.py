"""Where the noise model's random variables live (docs/method.md §2).

One ε per dynamic execution of each site, then one per execution of each inexact literal
argument of a rounding operation: a decimal constant not exact in CONSTANT_EXACT_BITS
bits is rounded at its consumer's precision, so it gets the consumer's σ and an ε of its
own. Slot k < n_sites belongs to site k; each slot has one axis per enclosing loop (trip
counts, outermost first; a while loop's axis is its bound, the most trips it makes on the
inputs at hand, `precisec.semantics.perturbed`). A sample's noise is one flat vector, slot
after slot, so a straight-line kernel has one ε per rounding in site order, then one per
constant slot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from precisec.ir.core import REAL, Atom, Eqn, Kernel, Lit, Loop, Region, While, site_eqns

CONSTANT_EXACT_BITS = 24


def significant_bits(value: Fraction) -> int | None:
    """Bits needed to represent value exactly in binary floating point (None: infinite)."""
    if value == 0:
        return 1
    den = value.denominator
    if den & (den - 1):
        return None
    num = abs(value.numerator)
    while num % 2 == 0:
        num //= 2
    return num.bit_length()


def is_inexact(atom: Atom) -> bool:
    """A real literal that rounding at its consumer's precision can change."""
    if not isinstance(atom, Lit) or atom.type != REAL:
        return False
    bits = significant_bits(atom.value)
    return bits is None or bits > CONSTANT_EXACT_BITS


def constant_slots(kernel: Kernel) -> list[tuple[int, int, Lit]]:
    """The inexact literal arguments of rounding operations as (site, position, literal),
    by site, then position (the order of their noise slots)."""
    return [(eqn.site, position, arg)  # type: ignore[misc]
            for eqn in site_eqns(kernel)
            for position, arg in enumerate(eqn.args) if is_inexact(arg)]


@dataclass(frozen=True)
class Slot:
    """The noise variables of one site or one constant slot: `shape` has one axis per
    enclosing loop; `position` is the literal's argument position (None: the rounding)."""

    site: int
    position: int | None
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class NoiseLayout:
    """Every noise slot of a kernel, the slots inside each loop (by `id`), and how many
    equations one sample executes."""

    slots: tuple[Slot, ...]
    n_sites: int
    loop_slots: dict[int, tuple[int, ...]] = field(compare=False)
    dynamic_ops: int

    @property
    def size(self) -> int:
        """Noise variables per sample."""
        return sum(slot.size for slot in self.slots)

    @property
    def constant_slot(self) -> dict[tuple[int, int], int]:
        """(site, argument position) -> its constant slot."""
        return {(s.site, s.position): k for k, s in enumerate(self.slots)
                if s.position is not None}

    def offsets(self) -> list[int]:
        """Where each slot starts in a sample's flat noise vector (and the end)."""
        starts = [0]
        for slot in self.slots:
            starts.append(starts[-1] + slot.size)
        return starts


def layout(kernel: Kernel, bounds: Mapping[int, int] | None = None) -> NoiseLayout:
    """The noise slots of a kernel whose while loop w runs at most `bounds[w]` times
    (0 if not given)."""
    bounds = bounds or {}
    shapes: dict[int, tuple[int, ...]] = {}
    members: dict[int, set[int]] = {}
    dynamic = 0

    def visit(region: Region, trips: tuple[int, ...], loops: list[int]) -> None:
        nonlocal dynamic
        for stmt in region.stmts:
            if isinstance(stmt, Eqn):
                dynamic += math.prod(trips)
                if stmt.site is not None:
                    shapes[stmt.site] = trips
                    for loop in loops:
                        members[loop].add(stmt.site)
            elif isinstance(stmt, Loop):
                members[id(stmt)] = set()
                visit(stmt.body, (*trips, stmt.trips), [*loops, id(stmt)])
            elif isinstance(stmt, While):
                members[id(stmt)] = set()
                inner = (*trips, bounds.get(stmt.number, 0))
                visit(stmt.cond, inner, [*loops, id(stmt)])
                visit(stmt.body, inner, [*loops, id(stmt)])
            else:
                visit(stmt.then, trips, loops)
                visit(stmt.other, trips, loops)

    visit(kernel.body, (), [])
    n_sites = len(kernel.sites)
    slots = [Slot(site, None, shapes[site]) for site in range(n_sites)]
    slots += [Slot(site, position, shapes[site])
              for site, position, _ in constant_slots(kernel)]
    loop_slots = {loop: tuple(k for k, slot in enumerate(slots) if slot.site in sites)
                  for loop, sites in members.items()}
    return NoiseLayout(tuple(slots), n_sites, loop_slots, dynamic)
