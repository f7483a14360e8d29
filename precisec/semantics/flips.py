"""What a flipped branch costs, in the noise model (docs/method.md §2).

The model follows the clean program's branches, so on its own it never prices a flip: a
rounding that moves a comparison's operands across each other sends the tuned program
down the other side, a jump of the output. For a branch on a real comparison a ? b, with
gap d = a − b on the clean input and σ_d the first-order deviation of the gap under the
noise, the branch flips with probability Φ(−|d|/σ_d) and the flip costs the squared jump
J² = (y_then − y_else)² (mean over results), so the expected squared error gains
Φ(−|d|/σ_d)·J². σ_d² = Σ_s σ_s² H_s(x) is linear in the σ_s², with H_s the tapped
first-order moments of the gap (`precisec.semantics.perturbed.tap`), so the term is
differentiable in every site's σ.

**Rare events.** At the σ a tight target needs, only inputs within a few σ_d of the
boundary can flip: averaged over a sample as it stands, the term is zero on almost every
sample and the estimate would be zero until σ is large enough to reach the nearest sample
(then the tuned program flips on inputs the sample never saw). So each sample's gap is
smoothed by a Gaussian of bandwidth h (a kernel density estimate of the gap at the
boundary): E_{t ~ N(d, h²)} Φ(−|t|/σ_d) = 2·T(|d|/√(σ_d² + h²), σ_d/h), Owen's T, which is
Φ(−|d|/σ_d) as h → 0 and ≈ √(2/π)·σ_d·φ_h(d) for σ_d ≪ h: linear in σ_d, as the true
expectation over inputs is. h is the distance from the boundary of the ⌈√n⌉-th nearest of
the n live gaps (a nearest-neighbour bandwidth: it adapts to how densely the sample meets
the boundary). σ_d is taken at the sample's projection on the boundary, x − d·∇d/|∇d|²
(one Newton step), not at the sample itself: noise proportional to the gap, like the
rounding of a − b compared with 0, cannot flip the sign, and at a sample a bandwidth away
it would look as if it could. The moments there are extrapolated to a zero gap from the
sample and its projection (`to_boundary`), which removes such noise exactly. So is the
squared jump: a kernel continuous across the boundary (a hinge) jumps by about the gap,
and a flip there costs nothing to first order.

**Undefined sides.** Both sides are evaluated on every clean input and its projection;
where the jump at the boundary is not finite (sqrt of a negative on the side not taken),
the sample's projection's jump, else its own, is used, and where neither is finite the
largest finite squared jump of that branch over the samples whose gap some noise reaches
(the others carry none): a flip into an undefined value costs at least the worst flip
seen (0 if no jump of the branch is finite).

**Scope.** Branches outside loops whose predicate is <, <=, > or >= of two reals. Branches
inside loops and while loops' tests are not priced (a flip there changes every later
iteration, a jump the clean scan cannot evaluate without re-running the rest of the
loop for every iteration), nor are == and != and compound predicates; their condition
sites keep the kernel's precision by default (docs/method.md §4).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import owens_t

from precisec.ir.core import REAL, Atom, Cond, Eqn, Kernel, Region, Var, walk
from precisec.semantics.noise import chunk_size, in_chunks, model_for
from precisec.semantics.perturbed import Draws, PerturbedModel, Taps, Watch

COMPARISONS = ("lt", "le", "gt", "ge")


def priced_branches(kernel: Kernel) -> dict[int, tuple[Atom, Atom]]:
    """Branch number -> its comparison's arguments (a, b), for the branches outside loops
    whose predicate compares two reals."""
    defs = {id(s.out): s for s in walk(kernel.body) if isinstance(s, Eqn)}
    found: dict[int, tuple[Atom, Atom]] = {}

    def visit(region: Region) -> None:
        for stmt in region.stmts:
            if isinstance(stmt, Cond):
                eqn = defs.get(id(stmt.pred)) if isinstance(stmt.pred, Var) else None
                if eqn is not None and eqn.op in COMPARISONS and \
                        all(a.type == REAL for a in eqn.args):
                    found[stmt.branch] = (eqn.args[0], eqn.args[1])
                visit(stmt.then)
                visit(stmt.other)

    visit(kernel.body)
    return found


class FlipTable(NamedTuple):
    """Per sample and priced branch: the clean gap a − b, the gap's first-order moments at
    the boundary for each site in `columns` (the sites whose noise reaches some priced
    gap, so σ_d² = Σ_j σ_{columns[j]}² moments[..., j]: a large kernel stores only its
    condition sites) and the squared jump; per branch the bandwidth. Rows where a branch
    is not reached have gap 1 and zero moments and jump. A pytree, so training passes it
    to its compiled steps as data."""

    gaps: np.ndarray
    moments: np.ndarray
    jumps: np.ndarray
    bandwidths: np.ndarray
    columns: np.ndarray


def flip_probability(gap: jax.Array, deviation: jax.Array, bandwidth: jax.Array) -> jax.Array:
    """E_{t ~ N(gap, h²)} Φ(−|t|/σ_d) = 2·T(|gap|/√(σ_d² + h²), σ_d/h) (Owen's T); 0 where
    σ_d = 0."""
    spread = jnp.sqrt(deviation**2 + bandwidth**2)
    return 2.0 * owens_t(jnp.abs(gap) / spread, deviation / bandwidth)


def flip_mse(sigma: jax.Array, table: FlipTable) -> jax.Array:
    """The expected squared error of flips at σ: the mean over samples of
    Σ_branches P(flip)·J²."""
    variance = jnp.einsum("ncs,s->nc", table.moments, sigma[table.columns]**2)
    positive = variance > 0
    deviation = jnp.where(positive, jnp.sqrt(jnp.where(positive, variance, 1.0)), 0.0)
    probability = flip_probability(table.gaps, deviation, table.bandwidths)
    return jnp.mean(jnp.sum(probability * table.jumps, axis=1))


def _point_fn(model: PerturbedModel, gaps: Mapping[int, tuple[Atom, Atom]]
              ) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """(x, c) -> one flat row for priced branch c (an index into `gaps`, traced: one
    compilation serves every branch): its gap, liveness and squared jump, its gap and
    squared jump at the sample's projection on the boundary, then its moments at the
    projection and at the sample itself."""
    branches = tuple(gaps)
    numbers = jnp.asarray(branches)
    n_sites = model.layout.n_sites
    ones = jnp.ones(n_sites)
    quiet = Draws(jnp.zeros(model.layout.size), model.starts, model.sizes)

    def clean(point: jax.Array) -> tuple[jax.Array, jax.Array]:
        watch = Watch(gaps, None, {})
        model(point, ones, quiet, watch)
        seen = [watch.seen[b] for b in branches]
        return (jnp.stack([g for g, _, _ in seen]),
                jnp.stack([jnp.asarray(True) if live is None else live for _, _, live in seen]))

    def moments(point: jax.Array, c: jax.Array) -> jax.Array:
        def gap(*tags: jax.Array) -> jax.Array:
            watch = Watch(gaps, None, {})
            model(point, ones, Taps(tags), watch)
            return jnp.stack([watch.seen[b][0] for b in branches])[c]

        _, vjp = jax.vjp(gap, *jnp.zeros(n_sites))
        return jnp.stack(vjp(jnp.ones(())))

    def jump(point: jax.Array, c: jax.Array) -> jax.Array:
        sides = [jnp.atleast_1d(model(point, ones, quiet,
                                      Watch({}, (numbers[c], jnp.asarray(side)), {}))[0])
                 for side in (True, False)]
        return jnp.mean((sides[0] - sides[1])**2)

    def row(x: jax.Array, c: jax.Array) -> jax.Array:
        values, live = clean(x)
        slope = jax.jacfwd(lambda p: clean(p)[0][c])(x)
        norm = jnp.sum(slope**2)
        step = jnp.where(norm > 0, values[c] / jnp.where(norm > 0, norm, 1.0), 0.0)
        projection = x - step * slope
        return jnp.concatenate([
            jnp.stack([values[c], live[c].astype(jnp.float64), jump(x, c),
                       clean(projection)[0][c], jump(projection, c)]),
            moments(projection, c), moments(x, c)])

    return row


def to_boundary(gaps: np.ndarray, near: np.ndarray, own: np.ndarray,
                projected: np.ndarray) -> np.ndarray:
    """A quantity (moments, squared jumps) at the boundary, extrapolated linearly in the
    squared gap from the sample (gap d, value `own`) and its projection (gap d* = `near`,
    value `projected`): H(0) = H* − (H − H*)·d*²/(d² − d*²), within [0, max(H, H*)], so
    that a quantity proportional to d² (noise proportional to the gap; the squared jump
    of a kernel continuous across the boundary) vanishes there exactly, and a smooth one
    is kept to second order in the residual d*. NaN where the Newton step does not
    approach the boundary (at an extremum of the gap, where it leaves for far away) or
    the extrapolation is not finite."""
    extra = own.ndim - gaps.ndim
    d2 = np.expand_dims(gaps**2, tuple(range(-extra, 0))) if extra else gaps**2
    near2 = np.expand_dims(near**2, tuple(range(-extra, 0))) if extra else near**2
    closer = np.isfinite(near2) & (d2 > near2)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        slope = (own - projected) / np.where(closer, d2 - near2, 1.0)
        extrapolated = np.clip(projected - slope * near2, 0.0, np.maximum(own, projected))
    return np.where(closer & np.isfinite(extrapolated), extrapolated, np.nan)


def flip_table(kernel: Kernel, inputs: np.ndarray) -> FlipTable | None:
    """The flip table of a kernel over `inputs` (the module docstring), keeping the
    branches whose gap some site's noise reaches; None if there are none. Its moments have
    no significand weights: the weights jump between a sample and its projection, which
    would leave a spurious floor under noise proportional to the gap."""
    gaps = priced_branches(kernel)
    inputs = np.asarray(inputs, dtype=np.float64)
    if not gaps or len(inputs) == 0:
        return None
    model = model_for(kernel, inputs=inputs)
    fn = jax.jit(jax.vmap(_point_fn(model, gaps), in_axes=(0, None)))
    size = max(1, chunk_size(model.layout, len(inputs)) // 2)  # a row holds two VJPs
    per_branch = [_column(np.concatenate(in_chunks(fn, inputs, size,
                                                   lambda _, __, k=k: jnp.asarray(k))))
                  for k in range(len(gaps))]
    kept = [column for column in per_branch if column is not None]
    if not kept:
        return None
    sites = np.flatnonzero(np.any([np.any(m > 0, axis=0) for _, m, _, _ in kept], axis=0))
    return FlipTable(np.stack([gap for gap, _, _, _ in kept], axis=1),
                     np.stack([m[:, sites] for _, m, _, _ in kept], axis=1),
                     np.stack([jump for _, _, jump, _ in kept], axis=1),
                     np.array([h for _, _, _, h in kept]), sites)


def _column(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """One branch's gaps, moments (per site), squared jumps and bandwidth from its rows
    (`_point_fn`), with the rows where it is not reached neutral; None if no noise
    reaches its gap."""
    values, live, own_jumps = rows[:, 0], rows[:, 1] > 0, rows[:, 2]
    near, near_jumps = rows[:, 3], rows[:, 4]
    pairs = rows[:, 5:].reshape(len(rows), 2, -1)
    moments = to_boundary(values, near, pairs[:, 1], pairs[:, 0])
    moments = np.where(np.all(np.isfinite(moments), axis=1, keepdims=True), moments, 0.0)
    jumps = to_boundary(values, near, own_jumps, near_jumps)
    jumps = np.where(np.isfinite(jumps), jumps,
                     np.where(np.isfinite(near_jumps), near_jumps, own_jumps))
    live &= np.isfinite(values)
    reached = live & np.any(moments > 0, axis=1)  # the rows whose flips can cost anything
    if not np.any(reached):
        return None
    usable = reached & np.isfinite(jumps)
    worst = float(np.max(jumps[usable])) if np.any(usable) else 0.0
    jumps = np.where(reached, np.where(np.isfinite(jumps), jumps, worst), 0.0)
    distances = np.sort(np.abs(values[live]))
    h = distances[math.ceil(math.sqrt(len(distances))) - 1]
    positive = distances[distances > 0]
    bandwidth = h if h > 0 else positive[0] if len(positive) else np.finfo(np.float64).tiny
    return (np.where(live, values, 1.0), np.where(live[:, None], moments, 0.0),
            np.where(live, jumps, 0.0), float(bandwidth))
