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
perturbations and gradients stay finite and the merge discards them. A `While` is a
`lax.scan` too (reverse mode cannot go through `lax.while_loop`), as long as its bound:
the most iterations the clean program makes on the inputs at hand, which `trip_bounds`
finds first by a forward pass in which every while loop is a `lax.while_loop`. Each
iteration tests the clean condition; once it fails the sample is done, its operations
compute on harmless arguments and its carried values pass through unchanged. Arrays are flat jnp
vectors (`zeros` makes one) read and written at dynamic positions; integers are int64,
with C's truncating division. Long straight runs are tapes (`precisec.semantics.tape`).

The noise is either drawn (`Draws`: ε values, for Monte Carlo and forward mode) or
tapped (`Taps`: ε = 0, for first-order moments by one reverse-mode pass).

It stays one module (over ~500 lines) because `_Run`'s region, loop, while-loop and cond
walkers recurse into one another over one environment and one noise source; split apart
they would only pass that state back and forth.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
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
    While,
)
from precisec.ops import OPS
from precisec.semantics.jax_rules import OTHER_RULES, REAL_RULES
from precisec.semantics.noise_layout import NoiseLayout, layout
from precisec.semantics.tape import MAX_ARITY, Tape, build, long_runs, referenced

Array = jax.Array
Pair = tuple[Array, Array | None]
"""A value and its perturbation (None for integers and booleans, and for every value when
the noise is tapped)."""

HARMLESS = 0.5
"""What real operations compute on where their branch is not taken: every operation is
finite and smooth there (1.0 is not harmless: acos and asin have infinite slopes at 1)."""
SIGNIFICAND_SCALE = math.sqrt(3.0) * (1.0 / math.sqrt(8.0 * math.log(2.0)))
"""√3·k with k = 1/√(8 ln 2), the RMS relative rounding error per 2^-p of log-distributed
significands (the mapper's k, docs/method.md §3): E[1/m²] = 3k², so 1/(√3·k·m) has mean
square 1."""


_configured = False


def configure_jax() -> None:
    """float64 and the persistent compilation cache ($PRECISEC_JAX_CACHE, else
    ~/.cache/precisec-jax; compilations under 0.2 s are not worth a file). Called on
    first use rather than at import, so importing precisec changes no global state."""
    global _configured
    if _configured:
        return
    # The model's graphs are small and compiled once per kernel: XLA's backend optimisation
    # costs more compile time than it saves (about half of jet's tuning time), so it is off
    # unless the user set XLA_FLAGS. XLA reads them when its backend starts, on first use.
    os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_compilation_cache_dir", os.environ.get(
        "PRECISEC_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "precisec-jax")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    _configured = True


def significand_weight(value: Array) -> Array:
    """1/(√3·k·m) for value = ±m·2^e, 1 ≤ m < 2; 0 for zero, which rounds exactly.
    Its square averages to 1 over log-distributed significands, so σ keeps its meaning."""
    mantissa, _ = jnp.frexp(lax.stop_gradient(value))
    m = 2.0 * jnp.abs(mantissa)
    safe = jnp.where(m == 0, 1.0, m)
    return jnp.where(m == 0, 0.0, 1.0 / (SIGNIFICAND_SCALE * safe))


@jax.custom_vjp
def tap(scale: Array, tag: Array) -> Array:
    """ε·scale at ε = 0, that is zero, whose gradient with respect to `tag` is declared to
    be the squared gradient with respect to ε, (cotangent·scale)². Reverse mode adds up a
    tag's cotangents over all its uses, so the VJP with respect to the tags is, per site,
    Σ_j (∂y/∂ε_j)² over its executions j: the first-order moments without an input (or
    a stored gradient) per execution."""
    return jnp.zeros_like(scale)


def _tap_forward(scale: Array, tag: Array) -> tuple[Array, Array]:
    return jnp.zeros_like(scale), scale


def _tap_backward(scale: Array, cotangent: Array) -> tuple[Array, Array]:
    return jnp.zeros_like(scale), (cotangent * scale) ** 2


tap.defvjp(_tap_forward, _tap_backward)


@dataclass(frozen=True)
class Taps:
    """ε = 0 everywhere, each site's executions tapped into `tags[site]` (see `tap`).
    One scalar per site rather than a vector: a loop body's uses then accumulate their
    cotangents in scalars, where indexing a vector would scatter into a whole vector at
    every use and iteration (four times slower on a 1,000-step loop)."""

    tags: tuple[Array, ...]


@dataclass(frozen=True)
class Draws:
    """ε values at one loop depth: slot k's values for the rest of the loops below are
    `row[starts[k]:starts[k] + sizes[k]]` (one value at the slot's own depth)."""

    row: Array
    starts: dict[int, int]
    sizes: dict[int, int]

    def enter(self, slots: Sequence[int], trips: int
              ) -> tuple[Array, dict[int, int], dict[int, int]]:
        """(trips, m) per-iteration rows for a loop holding `slots`, and their starts and
        sizes within a row."""
        blocks, starts, sizes = [], {}, {}
        position = 0
        for k in slots:
            size = self.sizes[k] // trips
            blocks.append(self.row[self.starts[k]:self.starts[k] + self.sizes[k]]
                          .reshape(trips, size))
            starts[k], sizes[k] = position, size
            position += size
        rows = jnp.concatenate(blocks, axis=1) if blocks else jnp.zeros((trips, 0))
        return rows, starts, sizes


Noise = Draws | Taps


@dataclass(frozen=True)
class Watch:
    """Hooks on branches for the flip model (`precisec.semantics.flips`): for each branch
    number in `gaps`, its comparison's arguments (a, b), whose a − b (value, perturbation)
    and liveness the run records in `seen`; `force`, (branch number, side) as arrays so
    that one compilation serves every branch, makes that branch take that side whatever
    its predicate. Only for branches outside loops (a record inside a scan would leak its
    tracer)."""

    gaps: Mapping[int, tuple[Atom, Atom]]
    force: tuple[Array, Array] | None
    seen: dict[int, tuple[Array, Array | None, Array | None]]


class PerturbedModel:
    """f(x, σ, noise) -> (clean results, result perturbations) at one input point.

    x: the point in `kernel.input_labels` order; σ: one per site. A kernel returning one
    scalar gives scalars; otherwise vectors in result-column order. With `Taps` only the
    values are carried (their perturbations are zero at ε = 0): each rounding adds its
    tap to its value, and the VJP of the values with respect to the tags gives the
    first-order moments at the cost of one reverse pass of the clean program."""

    def __init__(self, kernel: Kernel, significand_aware: bool = False,
                 bounds: Mapping[int, int] | None = None) -> None:
        configure_jax()
        self.kernel = kernel
        self.bounds = dict(bounds or {})
        if kernel.n_whiles and set(self.bounds) != set(range(kernel.n_whiles)):
            raise ValueError("a kernel with while loops needs their bounds (trip_bounds)")
        self.layout: NoiseLayout = layout(kernel, self.bounds)
        self.significand_aware = significand_aware
        self.constant_slot = self.layout.constant_slot
        starts = self.layout.offsets()
        self.starts = dict(enumerate(starts[:-1]))
        self.sizes = {k: slot.size for k, slot in enumerate(self.layout.slots)}

    def __call__(self, x: Array, sigma: Array, noise: Noise, watch: Watch | None = None
                 ) -> tuple[Array, Array | None]:
        kernel = self.kernel
        run = _Run(self, sigma, isinstance(noise, Taps), watch=watch)
        results = run.region(kernel.body, {}, self.params(x, run), noise, None)
        if len(results) == 1 and not kernel.outputs:
            return results[0]  # type: ignore[return-value]
        values = jnp.concatenate([jnp.atleast_1d(v) for v, _ in results])
        if run.taps:
            return values, None
        return values, jnp.concatenate([jnp.atleast_1d(d) for _, d in results])  # type: ignore

    def trips(self, x: Array) -> Array:
        """Per while loop, the most iterations the clean program makes at x (forward only:
        every while loop a `lax.while_loop`)."""
        n_sites = len(self.kernel.sites)
        run = _Run(self, jnp.ones(n_sites), True, counting=True)
        run.region(self.kernel.body, {}, self.params(x, run),
                   Taps(tuple(jnp.zeros(n_sites))), None)
        return jnp.stack([run.seen[w] for w in range(self.kernel.n_whiles)])

    def params(self, x: Array, run: _Run) -> list[Pair]:
        """The body's parameters at x: inputs (as the kernel's type), zero outputs."""
        kernel = self.kernel
        if kernel.precision == "float":
            x = x.astype(jnp.float32).astype(jnp.float64)
        params: list[Pair] = []
        position = 0
        for param, var in zip(kernel.params, kernel.body.params, strict=True):
            if isinstance(param, Input):
                value = x[position:position + var.size] if var.shape else x[position]
                position += var.size
            else:
                value = jnp.zeros(var.size)
            params.append((value, run.zero(value)))
        return params

    def flat(self, x: Array, sigma: Array, eps: Array) -> tuple[Array, Array]:
        """The model with one sample's ε as a flat vector, slot after slot."""
        return self(x, sigma, Draws(eps, self.starts, self.sizes))  # type: ignore[return-value]

    def batch(self, xs: Array, sigma: Array, eps: Array) -> tuple[Array, Array]:
        """The model over rows of inputs and of flat ε."""
        return jax.vmap(self.flat, in_axes=(0, None, 0))(xs, sigma, eps)

    def noise(self, base: Array, value: Array, source: Array, taps: bool) -> Array:
        """base·ε·w(value), what a rounding of `value` adds to its perturbation (base is
        the perturbed value times σ); ε is `source`, or `source` is the tag to tap."""
        if taps:
            scale = base * significand_weight(value) if self.significand_aware else base
            return tap(lax.stop_gradient(scale), source)  # its cotangent is zero anyway
        term = base * source
        return term * significand_weight(value) if self.significand_aware else term


class _Run:
    """One traced evaluation at fixed σ, drawn or tapped; with `counting`, the forward
    pass that records each while loop's most trips in `seen` (threaded through every
    loop's carry, since a traced value cannot leave its loop otherwise)."""

    def __init__(self, model: PerturbedModel, sigma: Array, taps: bool,
                 counting: bool = False, watch: Watch | None = None) -> None:
        self.model = model
        self.watch = watch
        self.sigma = sigma
        self.taps = taps
        self.counting = counting
        self.seen = {w: jnp.zeros((), dtype=jnp.int64) for w in range(model.kernel.n_whiles)}

    def zero(self, value: Array) -> Array | None:
        """The perturbation of an exact value (none is carried with taps)."""
        return None if self.taps else jnp.zeros_like(value, dtype=jnp.float64)

    def atom(self, atom: Atom, env: dict[int, Pair]) -> Pair:
        if isinstance(atom, Var):
            return env[id(atom)]
        if atom.type == REAL:
            return (jnp.asarray(float(atom.value), dtype=jnp.float64),
                    None if self.taps else jnp.zeros((), dtype=jnp.float64))
        if atom.type == INT:
            return jnp.asarray(int(atom.text), dtype=jnp.int64), None
        assert atom.type == BOOL
        return jnp.asarray(atom.text == "1"), None

    def perturb(self, value: Array, delta: Array | None, site: int, source: Array,
                mask: Array | None = None) -> tuple[Array, Array | None]:
        """A rounding's noise added to (value, delta): to the delta when drawn, to the
        value when tapped; only where `mask` holds, if given."""
        term = self.model.noise(value * self.sigma[site] if delta is None else
                                (value + delta) * self.sigma[site], value, source, self.taps)
        if mask is not None:
            term = jnp.where(mask, term, 0.0)
        if delta is None:
            return value + term, None
        return value, delta + term

    @staticmethod
    def source(noise: Noise, slot: int, site: int) -> Array:
        return noise.tags[site] if isinstance(noise, Taps) else noise.row[noise.starts[slot]]

    def region(self, region: Region, env: dict[int, Pair], params: Sequence[Pair],
               noise: Noise, live: Array | None) -> list[Pair]:
        """Evaluate a region; `live` is where it runs (None: everywhere)."""
        for var, value in zip(region.params, params, strict=True):
            env[id(var)] = value
        stmts = region.stmts
        runs = long_runs(stmts)
        index = 0
        while index < len(stmts):
            stmt = stmts[index]
            if index in runs:
                end = runs[index]
                tape = build(stmts[index:end], self.model.constant_slot,  # type: ignore[arg-type]
                             referenced(stmts[end:], region.results))
                self.tape(tape, env, noise, live)
                index = end
                continue
            if isinstance(stmt, Eqn):
                if id(stmt.out) not in env:  # else hoisted out of its loop (`hoist`)
                    env[id(stmt.out)] = self.eqn(stmt, env, noise, live)
            else:
                if isinstance(stmt, Loop):
                    outs = self.loop(stmt, env, noise, live)
                elif isinstance(stmt, While):
                    outs = self.while_loop(stmt, env, noise, live)
                else:
                    outs = self.cond(stmt, env, noise, live)
                for var, value in zip(stmt.outs, outs, strict=True):
                    env[id(var)] = value
            index += 1
        return [self.atom(a, env) for a in region.results]

    def eqn(self, eqn: Eqn, env: dict[int, Pair], noise: Noise, live: Array | None) -> Pair:
        if eqn.op in ("load", "store", "zeros"):
            return self.array(eqn, env)
        args = [self.atom(a, env) for a in eqn.args]
        if eqn.op in OTHER_RULES:
            value = OTHER_RULES[eqn.op](*(v for v, _ in args))
            return value, (self.zero(value) if eqn.op == "itof" else None)
        values = [v for v, _ in args]
        deltas = [d for _, d in args]
        if live is not None:
            values = [jnp.where(live, v, HARMLESS) for v in values]
            deltas = [None if d is None else jnp.where(live, d, 0.0) for d in deltas]
        site = eqn.site
        if site is not None:
            for k in range(len(values)):
                slot = self.model.constant_slot.get((site, k))
                if slot is not None:
                    term = self.model.noise(values[k] * self.sigma[site], values[k],
                                            self.source(noise, slot, site), self.taps)
                    if self.taps:
                        values[k] = values[k] + term
                    else:
                        deltas[k] = term
        rule = REAL_RULES[eqn.op]
        value = rule.fn(*values)
        delta = None if self.taps else rule.propagate(values, deltas)  # type: ignore[arg-type]
        if site is not None:
            return self.perturb(value, delta, site, self.source(noise, site, site))
        return value, delta

    def tape(self, tape: Tape, env: dict[int, Pair], noise: Noise, live: Array | None) -> None:
        """Run a tape as a scan over its instructions (`precisec.semantics.tape`). The
        registers are values, and with drawn noise also perturbations."""
        inputs = [env[id(v)] for v in tape.inputs]
        spare = jnp.zeros(tape.registers - len(inputs))
        values = jnp.concatenate([jnp.asarray([v for v, _ in inputs]), spare])
        deltas = None if self.taps else \
            jnp.concatenate([jnp.asarray([d for _, d in inputs]), spare])  # type: ignore
        width = tape.constant_slots.shape[1]
        if isinstance(noise, Taps):
            sources = jnp.stack(noise.tags)[tape.sites]
            constant_sources = jnp.zeros((len(tape.sites), width))  # taps use the site's tag
        else:
            starts = np.array([noise.starts.get(k, 0) for k in range(len(self.model.sizes))]
                              + [0])
            sources = noise.row[np.where(tape.rounds, starts[tape.sites], 0)]
            constant_sources = noise.row[starts[tape.constant_slots]]
        branches = [self.instruction(op) for op in tape.ops]

        def step(registers: tuple[Array, Array | None], ins: tuple[Array, ...]
                 ) -> tuple[tuple[Array, Array | None], None]:
            values, deltas = registers
            (out, opcode, args, literal, literals, site, rounds, positions, source,
             constant_source) = ins
            a, d = [], []
            for k in range(MAX_ARITY):
                a_k = jnp.where(literal[k], literals[k], values[args[k]])
                d_k = None if deltas is None else jnp.where(literal[k], 0.0, deltas[args[k]])
                if live is not None:
                    a_k = jnp.where(live, a_k, HARMLESS)
                    d_k = None if d_k is None else jnp.where(live, d_k, 0.0)
                if width:
                    hits = [positions[j] == k for j in range(width)]
                    draw = source if self.taps else constant_source[0]
                    for j in range(1, 0 if self.taps else width):
                        draw = jnp.where(hits[j], constant_source[j], draw)
                    term = jnp.where(jnp.any(jnp.stack(hits)), self.model.noise(
                        a_k * self.sigma[site], a_k, draw, self.taps), 0.0)
                    a_k, d_k = (a_k + term, d_k) if d_k is None else (a_k, d_k + term)
                a.append(a_k)
                d.append(d_k)
            value, delta = lax.switch(opcode, branches, a, d)
            value, delta = self.perturb(value, delta, site, source, rounds)
            return (values.at[out].set(value),
                    None if deltas is None else deltas.at[out].set(delta)), None

        static = (tape.out, tape.opcode, tape.args, tape.literal, tape.literals, tape.sites,
                  tape.rounds, tape.constant_positions)
        xs = (*(jnp.asarray(a) for a in static), sources, constant_sources)
        (values, deltas), _ = lax.scan(step, (values, deltas), xs)
        for var, register in tape.exports:
            env[id(var)] = (values[register], None if deltas is None else deltas[register])

    def instruction(self, op: str) -> Callable[[list[Array], list[Array | None]],
                                               tuple[Array, Array | None]]:
        """The switch branch of one operation: arguments' (values, deltas) -> the
        result's (value, delta)."""
        rule, arity = REAL_RULES[op], OPS[op].arity

        def branch(a: list[Array], d: list[Array | None]) -> tuple[Array, Array | None]:
            delta = None if self.taps else rule.propagate(a[:arity], d[:arity])  # type: ignore
            return rule.fn(*a[:arity]), delta

        return branch

    def array(self, eqn: Eqn, env: dict[int, Pair]) -> Pair:
        if eqn.op == "zeros":
            zeros = jnp.zeros(eqn.out.size)
            return zeros, self.zero(zeros)
        array = eqn.args[0]
        assert isinstance(array, Var)
        values, deltas = env[id(array)]
        is_load = eqn.op == "load"
        position = jnp.zeros((), dtype=jnp.int64)
        for index, extent in zip(eqn.args[1:] if is_load else eqn.args[1:-1], array.shape,
                                 strict=True):
            position = position * extent + self.atom(index, env)[0]
        if is_load:
            return (lax.dynamic_index_in_dim(values, position, keepdims=False),
                    None if deltas is None else
                    lax.dynamic_index_in_dim(deltas, position, keepdims=False))
        value, delta = self.atom(eqn.args[-1], env)
        return (lax.dynamic_update_index_in_dim(values, value, position, 0),
                None if deltas is None else
                lax.dynamic_update_index_in_dim(deltas, delta, position, 0))

    def loop(self, loop: Loop, env: dict[int, Pair], noise: Noise,
             live: Array | None) -> list[Pair]:
        init = [self.atom(a, env) for a in loop.init]
        if loop.trips == 0:
            return init
        counters = loop.start + loop.step * jnp.arange(loop.trips, dtype=jnp.int64)
        draws = isinstance(noise, Draws)
        if draws:
            rows, starts, sizes = noise.enter(  # type: ignore[union-attr]
                self.model.layout.loop_slots[id(loop)], loop.trips)
        else:
            rows = jnp.zeros((loop.trips, 0))

        def body(state: tuple[list[Pair], dict[int, Array]],
                 xs: tuple[Array, Array, dict[int, Pair]]
                 ) -> tuple[tuple[list[Pair], dict[int, Array]], None]:
            carried, self.seen = state
            counter, row, loaded = xs
            step_noise = Draws(row, starts, sizes) if draws else noise
            return (self.region(loop.body, {**env, **loaded}, [(counter, None), *carried],
                                step_noise, live), self.seen), None

        (outs, self.seen), _ = lax.scan(body, (init, self.seen),
                                        (counters, rows, self.hoist(loop, env, counters)))
        return outs

    def while_loop(self, loop: While, env: dict[int, Pair], noise: Noise,
                   live: Array | None) -> list[Pair]:
        """Counting: a `lax.while_loop` that records its trips. Else a scan of the loop's
        bound: each step tests the clean condition where the sample still runs, and a
        done sample's carried values pass through unchanged."""
        init = [self.atom(a, env) for a in loop.init]
        if self.counting:
            return self.count(loop, env, noise, live, init)
        bound = self.model.bounds[loop.number]
        if bound == 0:
            return init
        draws = isinstance(noise, Draws)
        if draws:
            rows, starts, sizes = noise.enter(  # type: ignore[union-attr]
                self.model.layout.loop_slots[id(loop)], bound)
        else:
            rows = jnp.zeros((bound, 0))

        def step(state: tuple[Array, list[Pair]], row: Array
                 ) -> tuple[tuple[Array, list[Pair]], None]:
            running, carried = state
            step_noise = Draws(row, starts, sizes) if draws else noise
            alive = running if live is None else running & live
            test = self.region(loop.cond, dict(env), carried, step_noise, alive)[0][0]
            going = alive & test
            nexts = self.region(loop.body, dict(env), carried, step_noise, going)
            return (going, [(jnp.where(going, v, v0),
                             None if d is None else jnp.where(going, d, d0))
                            for (v, d), (v0, d0) in zip(nexts, carried, strict=True)]), None

        (_, outs), _ = lax.scan(step, (jnp.asarray(True), init), rows)
        return outs

    def count(self, loop: While, env: dict[int, Pair], noise: Noise, live: Array | None,
              init: list[Pair]) -> list[Pair]:
        """The counting pass's while loop (at most `cap` trips; none where not live)."""

        def test(state: tuple[Array, list[Pair], dict[int, Array]]) -> Array:
            trips, carried, _ = state
            holds = self.region(loop.cond, dict(env), carried, noise, live)[0][0]
            go = (trips < loop.cap) & holds
            return go if live is None else go & live

        def body(state: tuple[Array, list[Pair], dict[int, Array]]
                 ) -> tuple[Array, list[Pair], dict[int, Array]]:
            trips, carried, self.seen = state
            nexts = self.region(loop.body, dict(env), carried, noise, live)
            return trips + 1, nexts, self.seen

        trips, outs, self.seen = lax.while_loop(
            test, body, (jnp.zeros((), dtype=jnp.int64), init, dict(self.seen)))
        self.seen[loop.number] = jnp.maximum(self.seen[loop.number], trips)
        return outs

    def hoist(self, loop: Loop, env: dict[int, Pair], counters: Array) -> dict[int, Pair]:
        """The loads of the loop body (its top level) from arrays defined before the loop,
        at positions computed from the counter and earlier values only, gathered for every
        iteration before the scan. Their reverse pass then adds all iterations' cotangents
        into the array with one scatter, where a load inside the scan would add a whole
        array's worth at every iteration (three times slower on a heat stencil)."""
        defs = {id(s.out): s for s in loop.body.stmts if isinstance(s, Eqn)}
        known: dict[int, Array | None] = {id(loop.counter): counters}

        def integer(atom: Atom) -> Array | None:
            if isinstance(atom, Lit):
                return jnp.asarray(int(atom.text), dtype=jnp.int64)
            if id(atom) in env:
                return env[id(atom)][0]
            if id(atom) not in known:
                eqn = defs.get(id(atom))
                args = [integer(a) for a in eqn.args] if eqn and eqn.spec.kind == "int" else [None]
                known[id(atom)] = None if any(a is None for a in args) else \
                    OTHER_RULES[eqn.op](*args)  # type: ignore[union-attr]
            return known[id(atom)]

        gathered: dict[int, Pair] = {}
        for stmt in defs.values():
            if stmt.op != "load" or id(stmt.args[0]) not in env:
                continue
            array = stmt.args[0]
            indices = [integer(a) for a in stmt.args[1:]]
            if any(i is None for i in indices):
                continue
            position = jnp.zeros(loop.trips, dtype=jnp.int64)
            for index, extent in zip(indices, array.shape, strict=True):  # type: ignore
                position = position * extent + index
            values, deltas = env[id(array)]
            gathered[id(stmt.out)] = (jnp.take(values, position, mode="clip"),
                                      None if deltas is None else
                                      jnp.take(deltas, position, mode="clip"))
        return gathered

    def cond(self, cond: Cond, env: dict[int, Pair], noise: Noise,
             live: Array | None) -> list[Pair]:
        pred = self.atom(cond.pred, env)[0]
        if self.watch is not None:
            pred = self.watched(cond, env, pred, live)
        then_live = pred if live is None else live & pred
        other_live = ~pred if live is None else live & ~pred
        then = self.region(cond.then, env, [], noise, then_live)
        other = self.region(cond.other, env, [], noise, other_live)
        return [(jnp.where(pred, va, vb), None if da is None else jnp.where(pred, da, db))
                for (va, da), (vb, db) in zip(then, other, strict=True)]

    def watched(self, cond: Cond, env: dict[int, Pair], pred: Array,
                live: Array | None) -> Array:
        """Record the branch's comparison gap if watched; its predicate, or the forced side."""
        watch = self.watch
        assert watch is not None
        if cond.branch in watch.gaps:
            (va, da), (vb, db) = (self.atom(a, env) for a in watch.gaps[cond.branch])
            watch.seen[cond.branch] = (va - vb, None if da is None or db is None else da - db,
                                       live)
        if watch.force is None:
            return pred
        number, side = watch.force
        return jnp.where(number == cond.branch, side, pred)
