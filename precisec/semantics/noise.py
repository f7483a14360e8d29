"""The differentiable noise model's uses: sensitivities, per-sample noise moments and the
Monte-Carlo prediction of a fixed allocation's error (docs/method.md §2).

The model itself is `precisec.semantics.perturbed`, which configures JAX on first use,
not at import (`configure_jax`): float64, and a persistent compilation cache so a kernel's
functions compile once per machine.

First-order moments come by reverse mode through the tapped model
(`precisec.semantics.perturbed.tap`): one VJP per result costs O(dynamic operations)
whatever the number of sites and executions, and no input or gradient is stored per
execution — each execution's squared sensitivity is summed into its site's tag as the
backward pass goes. Samples go through in chunks sized from the kernel's dynamic
operation count, so memory stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from precisec.ir.core import Kernel
from precisec.semantics.noise_layout import NoiseLayout, constant_slots
from precisec.semantics.perturbed import (
    Noise,
    PerturbedModel,
    Taps,
    configure_jax,
    significand_weight,
)

__all__ = ["RelativeModel", "configure_jax", "constant_slots", "model_for", "predicted_mse",
           "sensitivities", "site_moments", "trip_bounds"]

EXACT_RESULTS = 16
"""Up to this many results, a VJP per result gives the moments exactly."""
PROBES = 2
"""Beyond EXACT_RESULTS, this many Rademacher probes estimate them (Hutchinson); each
costs a reverse pass."""
CHUNK_BYTES = 256 * 2**20
"""Memory one chunk of samples may use for the VJP's saved values."""
BYTES_PER_OP = 32
"""Saved values per dynamic equation and sample in a VJP (measured: about 20 bytes on a
1,000-step integrator and on a heat stencil)."""
MAX_CHUNK = 1024
NOISE_ENTRIES = 2**24
"""Noise variables one Monte-Carlo chunk may draw (128 MiB of float64)."""
MONTE_CARLO_DRAWS = 2**26
"""Noise variables a Monte-Carlo prediction draws at most (about 100 ns each)."""
MONTE_CARLO_MIN_SAMPLES = 256
PROBE_SEED = 0
FORWARD_LIMIT = 64
"""Noise variables per sample up to which sensitivities use forward mode."""


class RelativeModel(PerturbedModel):
    """The model with each result's perturbation divided by its clean value, so that its
    MSE is the relative MSE (docs/method.md §10): E[(δy/y)²], the noise moments weighted by
    1/y². A result whose clean value is 0 or not finite weighs 0 (the relative error is
    undefined there; refinement measures the true metric)."""

    def __call__(self, x: jax.Array, sigma: jax.Array, noise: Noise
                 ) -> tuple[jax.Array, jax.Array | None]:
        values, delta = super().__call__(x, sigma, noise)
        clean = jax.lax.stop_gradient(values)
        usable = (clean != 0) & jnp.isfinite(clean)
        weight = jnp.where(usable, 1.0 / jnp.where(usable, clean, 1.0), 0.0)
        if isinstance(noise, Taps):  # the values carry the perturbation's first order
            return values * weight, delta
        return values, jnp.where(usable, delta, 0.0) * weight


def model_for(kernel: Kernel, significand_aware: bool = False, relative: bool = False,
              inputs: np.ndarray | None = None) -> PerturbedModel:
    """The noise model of absolute (default) or relative result errors; a kernel with
    while loops needs the `inputs` it will see, which bound their trip counts."""
    bounds = trip_bounds(kernel, inputs) if kernel.n_whiles and inputs is not None else None
    return (RelativeModel if relative else PerturbedModel)(kernel, significand_aware, bounds)


def trip_bounds(kernel: Kernel, inputs: np.ndarray) -> dict[int, int]:
    """Per while loop, the most iterations the clean program makes on any of `inputs`
    (the length of its scan in the model, `precisec.semantics.perturbed`)."""
    model = PerturbedModel(kernel, bounds={w: 0 for w in range(kernel.n_whiles)})
    inputs = np.asarray(inputs, dtype=np.float64)
    if len(inputs) == 0:
        return {w: 0 for w in range(kernel.n_whiles)}
    chunks = in_chunks(jax.jit(jax.vmap(model.trips)), inputs, min(len(inputs), MAX_CHUNK))
    most = np.concatenate(chunks).max(axis=0)
    return {w: int(most[w]) for w in range(kernel.n_whiles)}


def chunk_size(noise: NoiseLayout, count: int) -> int:
    """Samples per VJP chunk: as many as CHUNK_BYTES allows, at most MAX_CHUNK."""
    fits = CHUNK_BYTES // (BYTES_PER_OP * max(noise.dynamic_ops, 1))
    return max(1, min(fits, MAX_CHUNK, count))


def in_chunks(fn: Callable[..., jax.Array], inputs: np.ndarray, size: int,
              *extra: Callable[[int, int], jax.Array]) -> list[np.ndarray]:
    """fn over consecutive chunks of `size` rows (the last one padded with copies of the
    first row, so one compilation serves all), with per-chunk extra arguments made by
    `extra(chunk_index, size)`; the results without the padding."""
    outputs = []
    for index, start in enumerate(range(0, len(inputs), size)):
        rows = inputs[start:start + size]
        padded = np.concatenate([rows, np.repeat(rows[:1], size - len(rows), axis=0)])
        result = fn(jnp.asarray(padded), *(make(index, size) for make in extra))
        outputs.append(np.asarray(result)[:len(rows)])
    return outputs


def _moments_fn(model: PerturbedModel) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """(x, cotangents (probes, results)) -> per site the mean over probes of the summed
    squared gradient of ⟨cotangent, result perturbations⟩ with respect to the site's ε,
    by one VJP through the tapped model (`precisec.semantics.perturbed.tap`)."""
    n_sites = model.layout.n_sites
    ones = jnp.ones(n_sites)

    def per_point(x: jax.Array, cotangents: jax.Array) -> jax.Array:
        _, vjp = jax.vjp(lambda *tags: jnp.atleast_1d(model(x, ones, Taps(tags))[0]),
                         *jnp.zeros(n_sites))
        moments = jnp.stack(jax.vmap(vjp)(cotangents), axis=1)
        return jnp.mean(moments, axis=0)

    return per_point


def site_moments(kernel: Kernel, inputs: np.ndarray,
                 significand_aware: bool = True, relative: bool = False) -> np.ndarray:
    """G (n, sites): per sample, G_s(x) = mean over results of Σ_{j ∈ s} (∂y/∂ε_j · w_j)²
    over site s's dynamic executions j and its inexact literals (w_j: the significand
    weight, or 1), so that the first-order model's MSE at σ is mean_x Σ_s σ_s² G_s(x).

    Exact by one VJP per result for up to EXACT_RESULTS results. With more (say 64 output
    elements), Hutchinson's estimator with PROBES Rademacher probes c/√R per sample:
    E[(cᵀJ)_j²] = mean_r J_rj², so each G_s(x) is unbiased with relative standard
    deviation at most √(2/PROBES) = 1 per sample, which averages out over samples: at
    most 1% on a mean over 10,000, 2.2% over the 2,048 training inputs (probes come from
    a fixed seed: deterministic). Each probe costs a reverse pass: on a 64-point heat
    stencil two probes take 1.3 times one probe's time, four 2 times. With `relative`,
    of the relative errors (`RelativeModel`).
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    model = model_for(kernel, significand_aware, relative, inputs)
    noise = model.layout
    if noise.n_sites == 0 or len(inputs) == 0:
        return np.zeros((len(inputs), noise.n_sites))
    results = len(kernel.result_labels)
    per_point = _moments_fn(model)
    size = chunk_size(noise, len(inputs))
    if results <= EXACT_RESULTS:
        basis = jnp.eye(results)
        fn = jax.jit(jax.vmap(lambda x: per_point(x, basis)))
        chunks = in_chunks(fn, inputs, size)
    else:
        key = jax.random.key(PROBE_SEED)

        def probes(index: int, count: int) -> jax.Array:
            signs = jax.random.rademacher(jax.random.fold_in(key, index),
                                          (count, PROBES, results), dtype=jnp.float64)
            return signs / math.sqrt(results)

        chunks = in_chunks(jax.jit(jax.vmap(per_point)), inputs, size, probes)
    return np.concatenate(chunks)


def sensitivities(kernel: Kernel, inputs: np.ndarray, relative: bool = False) -> np.ndarray:
    """S_s = E_x[G_s(x)] without significand weights (docs/method.md §2): the mean over
    samples and results of Σ over the site's executions j of (∂y/∂ε_j)², ε relative, so
    Σ σ_s² S_s is the first-order model's MSE. An inexact literal argument of a rounding
    operation is rounded at that operation's precision, so its term joins that site's.

    By reverse mode (`site_moments`, which see for many results), except for kernels
    with at most FORWARD_LIMIT noise variables whose whole Jacobian fits NOISE_ENTRIES:
    there forward mode over all of them in one vectorised pass is cheaper, and it is the
    computation the straight-line kernels have always used, so their sensitivities (and
    hence the ties the refinement's ordering meets) reproduce bit for bit. With
    `relative`, of the relative errors (`RelativeModel`).
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    model = model_for(kernel, relative=relative, inputs=inputs)
    noise = model.layout
    entries = len(inputs) * len(kernel.result_labels) * noise.size
    if noise.n_sites == 0 or noise.size > FORWARD_LIMIT or entries > NOISE_ENTRIES:
        return site_moments(kernel, inputs, significand_aware=False,
                            relative=relative).mean(axis=0)
    ones = jnp.ones(noise.n_sites)

    def relative_gradient(x: jax.Array) -> jax.Array:
        return jax.jacfwd(lambda eps: model.flat(x, ones, eps)[1])(jnp.zeros(noise.size))

    grads = jax.jit(jax.vmap(relative_gradient))(jnp.asarray(inputs))
    squares = np.asarray(jnp.mean(grads**2, axis=tuple(range(grads.ndim - 1))))
    starts = noise.offsets()
    per_site = np.zeros(noise.n_sites)
    for k, slot in enumerate(noise.slots):
        per_site[slot.site] += squares[starts[k]:starts[k + 1]].sum()
    return per_site


def predicted_mse(kernel: Kernel, sigma: np.ndarray, inputs: np.ndarray, seed: int,
                  significand_aware: bool = False,
                  constant_errors: np.ndarray | None = None, relative: bool = False) -> float:
    """Monte-Carlo E[(noisy − exact)²] of the (nonlinear) model at fixed σ over `inputs`,
    with ε ~ N(0, 1) from JAX key `seed`, one row of `NoiseLayout.size` per sample.

    Once precisions are fixed, each inexact constant's rounding error is a known number,
    not noise: `constant_errors` (relative errors, one per `constant_slots` entry) then
    replace the constants' random ε at every execution. Samples whose noise fits
    NOISE_ENTRIES are drawn at once; larger ones in chunks of keys folded with the chunk
    number. A kernel running so many roundings that all inputs would need more than
    MONTE_CARLO_DRAWS noise variables is predicted on the first MONTE_CARLO_DRAWS / size of
    them (at least MONTE_CARLO_MIN_SAMPLES; the inputs are i.i.d., so these are a fair
    subsample): a 10,000-step loop of 11 sites needs 110,000 draws per input. With
    `relative`, of the relative errors (`RelativeModel`), over the finite draws.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    model = model_for(kernel, significand_aware, relative, inputs)
    noise = model.layout
    affordable = max(MONTE_CARLO_MIN_SAMPLES, MONTE_CARLO_DRAWS // max(noise.size, 1))
    inputs = inputs[:affordable]
    sigma_j = jnp.asarray(sigma, dtype=jnp.float64)
    columns, values = _fixed_noise(kernel, noise, sigma_j, significand_aware,
                                   constant_errors)

    @jax.jit
    def squares(x: jax.Array, key: jax.Array, sigma: jax.Array, values: jax.Array
                ) -> jax.Array:
        eps = jax.random.normal(key, (len(x), noise.size))
        if len(columns):
            eps = eps.at[:, columns].set(jnp.broadcast_to(values, (len(x), len(columns))))
        return model.batch(x, sigma, eps)[1] ** 2

    key = jax.random.key(seed)
    size = max(1, min(len(inputs), NOISE_ENTRIES // max(noise.size, 1)))
    if size >= len(inputs):
        drawn = squares(jnp.asarray(inputs), key, sigma_j, values)
        return _mean(np.asarray(drawn), True) if relative else float(jnp.mean(drawn))
    chunks = in_chunks(lambda x, chunk_key: squares(x, chunk_key, sigma_j, values), inputs,
                       size, lambda index, _: jax.random.fold_in(key, index))
    return _mean(np.concatenate(chunks), relative)


def _mean(squares: np.ndarray, relative: bool) -> float:
    """The mean squared perturbation; relative ones leave out the draws whose nonlinear
    perturbation is not finite (inputs over all doubles, where the model overflows)."""
    if relative:
        finite = squares[np.isfinite(squares)]
        return float(np.mean(finite)) if finite.size else math.inf
    return float(np.mean(squares))


def _fixed_noise(kernel: Kernel, noise: NoiseLayout, sigma: jax.Array, significand_aware: bool,
                 errors: np.ndarray | None) -> tuple[np.ndarray, jax.Array]:
    """The noise columns of the constant slots (every execution of each) and the ε per
    column making each perturbation the constant's known relative error:
    ε = error / (σ_site · w(constant))."""
    slots = constant_slots(kernel)
    if errors is None or not slots:
        return np.zeros(0, dtype=np.int64), jnp.zeros(0)
    starts = noise.offsets()
    first = noise.n_sites
    repeats = np.array([noise.slots[first + k].size for k in range(len(slots))])
    columns = np.concatenate([np.arange(starts[first + k], starts[first + k + 1])
                              for k in range(len(slots))])
    constants = jnp.asarray([float(lit.value) for _, _, lit in slots])
    scale = sigma[np.array([site for site, _, _ in slots])]
    if significand_aware:
        scale = scale * significand_weight(constants)
    return columns, jnp.repeat(jnp.asarray(errors, dtype=jnp.float64) / scale, repeats)
