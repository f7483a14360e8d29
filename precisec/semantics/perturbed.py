"""The perturbation-carrying evaluation of a kernel's IR in JAX (docs/method.md §2).

Each rounding's result is multiplied by (1 + σ_s·w·ε), ε ~ N(0, 1), σ_s its site's
deviation and w its significand weight. Subtracting a clean float64 run from a noisy one
would drown σ ≲ 2^-53 in float64's own rounding, so the model never does that: beside
each clean value v it carries the perturbation d the noise has caused so far, and each
operation computes its result's perturbation from its arguments' with the cancellation-free
rules of `precisec.semantics.jax_rules`. The output perturbation is then exact in relative
terms however small σ is (tested from 2^-8 down to 2^-120, also inside loops).

The IR's structure is kept: a `Loop` is a `lax.scan` (compile time independent of the
trip count) whose per-iteration ε are the scan's inputs; a `Cond` evaluates both sides and
merges them with `jnp.where` on the clean condition (the model follows clean branches).
On the side not taken every real operation computes on harmless arguments, so its values,
perturbations and gradients stay finite and the merge discards them. Arrays are flat jnp
vectors (`zeros` makes one) read and written at dynamic positions; integers are int64,
with C's truncating division.

Noise variables (`NoiseLayout`): one ε per dynamic execution of each site, then one per
execution of each inexact literal argument of a rounding operation — a decimal constant
not exact in CONSTANT_EXACT_BITS bits is rounded at its consumer's precision, so it gets
the consumer's σ and an ε of its own. Slot k < n_sites belongs to site k; its array has
one axis per enclosing loop (trip counts, outermost first). For a straight-line kernel
this is one ε per rounding in site order, then one per constant slot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import jax
import jax.numpy as jnp
from jax import lax

from precisec.ir.core import (
    BOOL,
    INT,
    REAL,
    Atom,
    Cond,
    Eqn,
    Input,
    Kernel,
    Lit,
    Loop,
    Region,
    Var,
    site_eqns,
)
from precisec.semantics.jax_rules import OTHER_RULES, REAL_RULES

Array = jax.Array
Pair = tuple[Array, Array | None]
"""A value and its perturbation (None for integers and booleans, which carry none)."""

CONSTANT_EXACT_BITS = 24
HARMLESS = 0.5
"""What real operations compute on where their branch is not taken: every operation is
finite and smooth there (1.0 is not harmless: acos and asin have infinite slopes at 1)."""
SIGNIFICAND_SCALE = math.sqrt(3.0) * (1.0 / math.sqrt(8.0 * math.log(2.0)))
"""√3·k with k = 1/√(8 ln 2), the RMS relative rounding error per 2^-p of log-distributed
significands (the mapper's k, docs/method.md §3): E[1/m²] = 3k², so 1/(√3·k·m) has mean
square 1."""


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
    """Every noise slot of a kernel, which loops they lie in, and its dynamic size."""

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
        return {(s.site, s.position): k for k, s in enumerate(self.slots)
                if s.position is not None}

    def offsets(self) -> list[int]:
        starts = [0]
        for slot in self.slots:
            starts.append(starts[-1] + slot.size)
        return starts

    def split(self, flat: Array) -> dict[int, Array]:
        """Flat noise vectors (last axis `size`, any leading axes) as the per-slot arrays
        the model takes."""
        starts = self.offsets()
        lead = flat.shape[:-1]
        return {k: flat[..., starts[k]] if not slot.shape else
                flat[..., starts[k]:starts[k + 1]].reshape(*lead, *slot.shape)
                for k, slot in enumerate(self.slots)}

    def zeros(self) -> dict[int, Array]:
        return {k: jnp.zeros(slot.shape, dtype=jnp.float64) for k, slot in enumerate(self.slots)}


def layout(kernel: Kernel) -> NoiseLayout:
    shapes: dict[int, tuple[int, ...]] = {}
    members: dict[int, list[int]] = {}
    dynamic = 0

    def visit(region: Region, trips: tuple[int, ...], loops: list[int]) -> None:
        nonlocal dynamic
        for stmt in region.stmts:
            if isinstance(stmt, Eqn):
                dynamic += math.prod(trips)
                if stmt.site is not None:
                    shapes[stmt.site] = trips
                    for loop in loops:
                        members[loop].append(stmt.site)
            elif isinstance(stmt, Loop):
                members[id(stmt)] = []
                visit(stmt.body, (*trips, stmt.trips), [*loops, id(stmt)])
            else:
                visit(stmt.then, trips, loops)
                visit(stmt.other, trips, loops)

    visit(kernel.body, (), [])
    n_sites = len(kernel.sites)
    slots = [Slot(site, None, shapes[site]) for site in range(n_sites)]
    slots += [Slot(site, position, shapes[site])
              for site, position, _ in constant_slots(kernel)]
    inside = {loop: set(sites) for loop, sites in members.items()}
    loop_slots = {loop: tuple(k for k, slot in enumerate(slots) if slot.site in sites)
                  for loop, sites in inside.items()}
    return NoiseLayout(tuple(slots), n_sites, loop_slots, dynamic)


def significand_weight(value: Array) -> Array:
    """1/(√3·k·m) for value = ±m·2^e, 1 ≤ m < 2; 0 for zero, which rounds exactly.
    Its square averages to 1 over log-distributed significands, so σ keeps its meaning."""
    mantissa, _ = jnp.frexp(lax.stop_gradient(value))
    m = 2.0 * jnp.abs(mantissa)
    safe = jnp.where(m == 0, 1.0, m)
    return jnp.where(m == 0, 0.0, 1.0 / (SIGNIFICAND_SCALE * safe))


class PerturbedModel:
    """f(x, σ, ε) -> (clean results, result perturbations) at one input point.

    x: the point in `kernel.input_labels` order; σ: one per site; ε: per slot arrays
    (`NoiseLayout.zeros` shapes). A kernel returning one scalar gives scalars; otherwise
    vectors in result-column order."""

    def __init__(self, kernel: Kernel, significand_aware: bool = False) -> None:
        self.kernel = kernel
        self.layout = layout(kernel)
        self.significand_aware = significand_aware
        self.constant_slot = self.layout.constant_slot

    def __call__(self, x: Array, sigma: Array, eps: dict[int, Array]) -> tuple[Array, Array]:
        kernel = self.kernel
        if kernel.precision == "float":
            x = x.astype(jnp.float32).astype(jnp.float64)
        params: list[Pair] = []
        position = 0
        for param, var in zip(kernel.params, kernel.body.params, strict=True):
            if not isinstance(param, Input):
                params.append((jnp.zeros(var.size), jnp.zeros(var.size)))
                continue
            value = x[position:position + var.size] if var.shape else x[position]
            position += var.size
            params.append((value, jnp.zeros_like(value)))
        results = _Run(self, sigma).region(kernel.body, {}, params, eps, None)
        if len(results) == 1 and not kernel.outputs:
            return results[0]  # type: ignore[return-value]
        return (jnp.concatenate([jnp.atleast_1d(v) for v, _ in results]),
                jnp.concatenate([jnp.atleast_1d(d) for _, d in results]))  # type: ignore[misc]

    def flat(self, x: Array, sigma: Array, eps: Array) -> tuple[Array, Array]:
        """The model with one sample's noise as a flat vector (`NoiseLayout.split`)."""
        return self(x, sigma, self.layout.split(eps))

    def batch(self, xs: Array, sigma: Array, eps: Array) -> tuple[Array, Array]:
        """The model over rows of inputs and of flat noise (split before the per-row
        evaluation, which keeps the compiled program small for loop kernels)."""
        return jax.vmap(self, in_axes=(0, None, 0))(xs, sigma, self.layout.split(eps))

    def weight(self, value: Array) -> Array:
        return significand_weight(value) if self.significand_aware else jnp.ones_like(value)


class _Run:
    """One traced evaluation at fixed σ."""

    def __init__(self, model: PerturbedModel, sigma: Array) -> None:
        self.model = model
        self.sigma = sigma

    @staticmethod
    def atom(atom: Atom, env: dict[int, Pair]) -> Pair:
        if isinstance(atom, Var):
            return env[id(atom)]
        if atom.type == REAL:
            return (jnp.asarray(float(atom.value), dtype=jnp.float64),
                    jnp.zeros((), dtype=jnp.float64))
        if atom.type == INT:
            return jnp.asarray(int(atom.text), dtype=jnp.int64), None
        assert atom.type == BOOL
        return jnp.asarray(atom.text == "1"), None

    def region(self, region: Region, env: dict[int, Pair], params: Sequence[Pair],
               eps: dict[int, Array], live: Array | None) -> list[Pair]:
        """Evaluate a region; `live` is where it runs (None: everywhere)."""
        for var, value in zip(region.params, params, strict=True):
            env[id(var)] = value
        for stmt in region.stmts:
            if isinstance(stmt, Eqn):
                env[id(stmt.out)] = self.eqn(stmt, env, eps, live)
                continue
            outs = self.loop(stmt, env, eps, live) if isinstance(stmt, Loop) else \
                self.cond(stmt, env, eps, live)
            for var, value in zip(stmt.outs, outs, strict=True):
                env[id(var)] = value
        return [self.atom(a, env) for a in region.results]

    def eqn(self, eqn: Eqn, env: dict[int, Pair], eps: dict[int, Array],
            live: Array | None) -> Pair:
        if eqn.op in ("load", "store", "zeros"):
            return self.array(eqn, env)
        args = [self.atom(a, env) for a in eqn.args]
        if eqn.op in OTHER_RULES:
            value = OTHER_RULES[eqn.op](*(v for v, _ in args))
            return value, (jnp.zeros((), dtype=jnp.float64) if eqn.op == "itof" else None)
        values = [v for v, _ in args]
        deltas: list[Array] = [d for _, d in args]  # type: ignore[misc]
        if live is not None:
            values = [jnp.where(live, v, HARMLESS) for v in values]
            deltas = [jnp.where(live, d, 0.0) for d in deltas]
        weight = self.model.weight
        if eqn.site is not None:
            for k in range(len(values)):
                slot = self.model.constant_slot.get((eqn.site, k))
                if slot is not None:
                    deltas[k] = values[k] * self.sigma[eqn.site] * eps[slot] * weight(values[k])
        rule = REAL_RULES[eqn.op]
        value = rule.fn(*values)
        delta = rule.propagate(values, deltas)
        if eqn.site is not None:
            delta = delta + (value + delta) * self.sigma[eqn.site] * eps[eqn.site] \
                * weight(value)
        return value, delta

    def array(self, eqn: Eqn, env: dict[int, Pair]) -> Pair:
        if eqn.op == "zeros":
            return jnp.zeros(eqn.out.size), jnp.zeros(eqn.out.size)
        array = eqn.args[0]
        assert isinstance(array, Var)
        values, deltas = env[id(array)]
        assert deltas is not None
        is_load = eqn.op == "load"
        position = jnp.zeros((), dtype=jnp.int64)
        for index, extent in zip(eqn.args[1:] if is_load else eqn.args[1:-1], array.shape,
                                 strict=True):
            position = position * extent + self.atom(index, env)[0]
        if is_load:
            return (lax.dynamic_index_in_dim(values, position, keepdims=False),
                    lax.dynamic_index_in_dim(deltas, position, keepdims=False))
        value, delta = self.atom(eqn.args[-1], env)
        return (lax.dynamic_update_index_in_dim(values, value, position, 0),
                lax.dynamic_update_index_in_dim(deltas, delta, position, 0))

    def loop(self, loop: Loop, env: dict[int, Pair], eps: dict[int, Array],
             live: Array | None) -> list[Pair]:
        init = [self.atom(a, env) for a in loop.init]
        if loop.trips == 0:
            return init
        counters = loop.start + loop.step * jnp.arange(loop.trips, dtype=jnp.int64)
        inner = {k: eps[k] for k in self.model.layout.loop_slots[id(loop)]}

        def body(carried: list[Pair], xs: tuple[Array, dict[int, Array]]
                 ) -> tuple[list[Pair], None]:
            counter, step_eps = xs
            results = self.region(loop.body, dict(env), [(counter, None), *carried],
                                  step_eps, live)
            return results, None

        outs, _ = lax.scan(body, init, (counters, inner))
        return outs

    def cond(self, cond: Cond, env: dict[int, Pair], eps: dict[int, Array],
             live: Array | None) -> list[Pair]:
        pred = self.atom(cond.pred, env)[0]
        then_live = pred if live is None else live & pred
        other_live = ~pred if live is None else live & ~pred
        then = self.region(cond.then, env, [], eps, then_live)
        other = self.region(cond.other, env, [], eps, other_live)
        return [(jnp.where(pred, va, vb), None if da is None else jnp.where(pred, da, db))
                for (va, da), (vb, db) in zip(then, other, strict=True)]
