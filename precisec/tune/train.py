"""Learning σ per site by SGD on the noise model (docs/method.md §2).

Maximise mean log2 σ subject to E[(noisy − exact)²] ≤ τ². The constraint is taken in log
form, g = log(MSE/τ²) ≤ 0, so its scale does not depend on the kernel's units, and
enforced with an augmented Lagrangian: Adam steps on −mean(θ)/ln 2 + ψ(g, λ, ρ),
θ = log σ, then λ ← max(0, λ + ρ·ḡ) after each chunk of steps; converged when the
constraint holds within `tolerance` and mean θ stops moving.

Two estimates of the MSE, by kernel size (dynamic rounding executions per sample):
* up to MONTE_CARLO_LIMIT, the nonlinear model itself, on a fresh minibatch of inputs with
  fresh noise every step, starting from the uniform σ that meets the target to first
  order. For a straight-line kernel this is the original training, bit for bit (same
  noise layout, keys, batches, chunks, start point and learning-rate schedule).
* beyond it, the closed-form second moment of the first-order model, which is linear in
  ε: MSE(σ) = mean_x Σ_s σ_s² G_s(x) = Σ_s σ_s² Ḡ_s, with G = `site_moments`
  (significand-aware) computed once on MOMENT_SAMPLES inputs drawn with the training
  seed. Monte-Carlo draws inside a 1,000-step `lax.scan` cost about 0.3 s per Adam step,
  so thousands of steps would take too long, while G costs one reverse-mode pass per
  sample. The MSE is linear in G's rows, so their mean Ḡ gives it exactly: each Adam step
  costs O(sites) and sees no sampling noise (a minibatch of rows would only add noise,
  and cost O(batch · sites) per step: minutes for 2,000 sites). Training then starts at
  the first-order optimum, which is close to the answer, so few steps are needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from precisec.ir import Kernel, executions
from precisec.semantics.flips import FlipTable, flip_mse, flip_table
from precisec.semantics.noise import configure_jax, model_for, site_moments
from precisec.tune.mapper import K_ROUNDING, first_order_optimum

THETA_MIN = math.log(2.0**-400)
THETA_MAX = math.log(0.5)
MONTE_CARLO_LIMIT = 512
"""Rounding executions per sample up to which training runs the nonlinear model."""
MOMENT_SAMPLES = 2048
"""Inputs on which the first-order moments are precomputed for larger kernels."""
FLIP_START_BISECTIONS = 40
"""Bisections of the start of a site that can flip a branch (over [THETA_MIN, its start],
about 700 nats: to 1e-9 nats)."""
TINY_MSE = 1e-300
"""Floor of the moment model's MSE (a kernel whose result does not depend on noise)."""

Constraint = Callable[[jax.Array, jax.Array, Any], jax.Array]
"""g(θ, key, data): the constraint, on a minibatch drawn from key or exact; data is passed
to the compiled chunk as an argument (XLA would take minutes to fold a constant as large
as 2,000 sites' moments)."""


@dataclass(frozen=True)
class TrainingResult:
    """Learned σ per site and how the optimisation went."""

    sigma: np.ndarray
    steps: int
    converged: bool
    final_mse_ratio: float
    flip_sites: tuple[int, ...] = ()
    """The sites whose noise can flip a priced branch (`precisec.semantics.flips`)."""
    flips: FlipTable | None = field(default=None, repr=False, compare=False)
    """The flip table the training priced (None: no priced branch)."""


@dataclass(frozen=True)
class TrainingConfig:
    """SGD settings. The augmented-Lagrangian multiplier starts at 1/(2 ln 2), its value at
    the optimum when the first-order model is exact (every site then holds an equal share
    of the budget); ρ keeps the subproblems well conditioned without a huge penalty."""

    batch: int = 512
    chunk: int = 100
    max_steps: int = 4000
    learning_rate: float = 0.1
    rho: float = 4.0
    tolerance: float = 0.02
    significand_aware: bool = True


def train(kernel: Kernel, target: float, seed: int, sens: np.ndarray,
          config: TrainingConfig = TrainingConfig(), relative: bool = False,
          pool: np.ndarray | None = None) -> TrainingResult:
    """σ per site maximising mean log2 σ with the model's MSE at τ² = target²; `sens`
    are the kernel's sensitivities (`precisec.semantics.noise.sensitivities`), which
    give the starting point. With `relative`, the MSE is of the relative errors
    (docs/method.md §10), always by the first-order moments: relative errors of points
    drawn over all floating-point values span hundreds of orders of magnitude, and a
    minibatch holding one overflowing perturbation would poison the Monte-Carlo gradient,
    while rows of moments that are not finite are simply left out. With `pool`, inputs
    are drawn from its rows instead of uniformly from the range box (unbounded ranges,
    preconditions: `precisec.tune.samples`)."""
    configure_jax()
    n_sites = len(kernel.sites)
    if n_sites == 0:
        return TrainingResult(np.zeros(0), 0, True, 0.0)
    log_tau2 = 2.0 * math.log(target)
    moment_inputs = jax.random.fold_in(jax.random.key(seed), 1)
    table = None if relative or not kernel.n_branches else \
        flip_table(kernel, np.asarray(_draw(kernel, moment_inputs, MOMENT_SAMPLES, pool)))
    if sum(executions(kernel)) <= MONTE_CARLO_LIMIT and not relative:
        constraint, data = _monte_carlo(kernel, log_tau2, config, relative, pool), ()
        total = float(np.sum(sens))
        # in logs: total may be infinite (inputs near the double range), start at the floor
        start = math.log(target) - 0.5 * math.log(total) if total > 0 else THETA_MAX
        theta = jnp.full(n_sites, min(max(start, THETA_MIN), THETA_MAX))
    else:
        inputs = _draw(kernel, moment_inputs, MOMENT_SAMPLES, pool)
        moments = site_moments(kernel, np.asarray(inputs), config.significand_aware, relative)
        moments = moments[np.all(np.isfinite(moments), axis=1)]
        if relative:
            data, constraint = jnp.asarray(_log_mean(moments, n_sites)), _log_moments(log_tau2)
        else:
            data = jnp.asarray(moments.mean(axis=0) if len(moments) else np.zeros(n_sites))
            constraint = _moments(log_tau2)
        bits = first_order_optimum(np.asarray(sens, dtype=float), target)
        theta = jnp.clip(jnp.log(K_ROUNDING * jnp.exp2(-jnp.asarray(bits))),
                         THETA_MIN, THETA_MAX)
    if table is None:
        return _optimise(constraint, data, theta, seed, config)
    theta = _flip_start(theta, table, 2.0 * math.log(target) - math.log(n_sites))
    result = _optimise(_with_flips(constraint, log_tau2), (data, table), theta, seed, config)
    return replace(result, flip_sites=tuple(int(k) for k in table.columns),
                   flips=table)


def _flip_start(theta: jax.Array, table: FlipTable, log_share: float) -> jax.Array:
    """θ with each site that can flip a branch lowered, if need be, to where its own flips
    alone cost a 1/sites share of τ² (by bisection: the cost grows with σ). Starting
    above that, the first Adam steps would meet a constraint violated by orders of
    magnitude, and their huge gradients would leave Adam's second moment too large for the
    site to climb back to its optimum (measured: 20 bits too many on x*x - x >= 0)."""
    cost = jax.jit(lambda sigma: flip_mse(sigma, table))
    start = np.array(theta)

    def log_cost(site: int, value: float) -> float:
        sigma = np.zeros(len(start))
        sigma[site] = math.exp(value)
        return math.log(max(float(cost(jnp.asarray(sigma))), TINY_MSE))

    for site in table.columns:
        low, high = THETA_MIN, float(start[site])
        if log_cost(site, high) <= log_share:
            continue
        for _ in range(FLIP_START_BISECTIONS):
            middle = 0.5 * (low + high)
            low, high = (middle, high) if log_cost(site, middle) <= log_share else (low, middle)
        start[site] = low
    return jnp.asarray(start)


def _uniform(kernel: Kernel, key: jax.Array, count: int) -> jax.Array:
    """Uniform points in the range box: lo + (hi − lo)·u, or lo·(1 − u) + hi·u where
    hi − lo overflows (ranges near ±DBL_MAX)."""
    lows = jnp.array(kernel.lows)
    highs = jnp.array(kernel.highs)
    u = jax.random.uniform(key, (count, len(kernel.input_labels)), dtype=jnp.float64)
    return jnp.where(jnp.isfinite(highs - lows), lows + (highs - lows) * u,
                     lows * (1.0 - u) + highs * u)


def _draw(kernel: Kernel, key: jax.Array, count: int, pool: np.ndarray | None) -> jax.Array:
    """`count` inputs: uniform in the range box, or rows of `pool` with replacement."""
    if pool is None:
        return _uniform(kernel, key, count)
    return jnp.asarray(pool)[jax.random.randint(key, (count,), 0, len(pool))]


def _monte_carlo(kernel: Kernel, log_tau2: float, config: TrainingConfig, relative: bool,
                 pool: np.ndarray | None) -> Constraint:
    """g on a fresh minibatch of inputs and noise of the nonlinear model."""
    model = model_for(kernel, config.significand_aware, relative)

    def constraint(theta: jax.Array, key: jax.Array, data: Any) -> jax.Array:
        key_x, key_e = jax.random.split(key)
        xs = _draw(kernel, key_x, config.batch, pool)
        eps = jax.random.normal(key_e, (config.batch, model.layout.size), dtype=jnp.float64)
        _, delta = model.batch(xs, jnp.exp(theta), eps)
        return jnp.log(jnp.mean(delta**2)) - log_tau2

    return constraint


def _moments(log_tau2: float) -> Constraint:
    """g of the first-order model, exactly, from the mean moments Ḡ (data)."""

    def constraint(theta: jax.Array, key: jax.Array, mean_moments: jax.Array) -> jax.Array:
        mse = jnp.dot(jnp.exp(2.0 * theta), mean_moments)
        return jnp.log(jnp.maximum(mse, TINY_MSE)) - log_tau2

    return constraint


def _with_flips(constraint: Constraint, log_tau2: float) -> Constraint:
    """g with the expected cost of flipped branches added to the MSE; data is the inner
    constraint's data and the flip table."""

    def priced(theta: jax.Array, key: jax.Array, data: tuple[Any, FlipTable]) -> jax.Array:
        inner, table = data
        flips = jnp.maximum(flip_mse(jnp.exp(theta), table), TINY_MSE)
        return jnp.logaddexp(constraint(theta, key, inner), jnp.log(flips) - log_tau2)

    return priced


def _log_mean(moments: np.ndarray, n_sites: int) -> np.ndarray:
    """log of the mean of each column, without overflow (relative moments of points
    drawn over all doubles reach 1e300 and beyond); -inf for a zero column."""
    if not len(moments):
        return np.full(n_sites, -np.inf)
    scale = np.max(moments, axis=0)
    safe = np.where(scale > 0, scale, 1.0)
    with np.errstate(divide="ignore"):
        return np.where(scale > 0, np.log(safe) + np.log(np.mean(moments / safe, axis=0)),
                        -np.inf)


def _log_moments(log_tau2: float) -> Constraint:
    """g of the first-order model from the log mean moments (data), in log space:
    log Σ_s σ_s² Ḡ_s by log-sum-exp, so moments beyond the double range cost nothing."""

    def constraint(theta: jax.Array, key: jax.Array, log_moments: jax.Array) -> jax.Array:
        log_mse = jax.nn.logsumexp(2.0 * theta + log_moments)
        return jnp.maximum(log_mse, math.log(TINY_MSE)) - log_tau2

    return constraint


def _optimise(constraint: Constraint, data: Any, theta: jax.Array, seed: int,
              config: TrainingConfig) -> TrainingResult:
    """The augmented-Lagrangian Adam loop from `theta` (the module docstring)."""

    def objective(theta: jax.Array, lam: jax.Array, key: jax.Array, data: Any
                  ) -> tuple[jax.Array, jax.Array]:
        g = constraint(theta, key, data)
        psi = jnp.where(lam + config.rho * g >= 0, lam * g + 0.5 * config.rho * g**2,
                        -(lam**2) / (2 * config.rho))
        return -jnp.mean(theta) / math.log(2.0) + psi, g

    optimiser = optax.adam(optax.exponential_decay(config.learning_rate, 1000, 0.3,
                                                   end_value=0.003))

    @jax.jit
    def chunk(theta: jax.Array, state: optax.OptState, lam: jax.Array, key: jax.Array,
              data: Any) -> tuple[jax.Array, optax.OptState, jax.Array]:
        """`config.chunk` Adam steps at a fixed multiplier; the mean constraint value."""

        def step(carry: tuple[jax.Array, optax.OptState, jax.Array], key: jax.Array
                 ) -> tuple[tuple[jax.Array, optax.OptState, jax.Array], jax.Array]:
            theta, state, lam = carry
            grad, g = jax.grad(objective, has_aux=True)(theta, lam, key, data)
            updates, state = optimiser.update(grad, state, theta)
            theta = jnp.clip(optax.apply_updates(theta, updates), THETA_MIN, THETA_MAX)
            return (theta, state, lam), g

        (theta, state, _), gs = jax.lax.scan(step, (theta, state, lam),
                                             jax.random.split(key, config.chunk))
        return theta, state, jnp.mean(gs)

    key = jax.random.key(seed)
    state = optimiser.init(theta)
    lam = jnp.asarray(1.0 / (2.0 * math.log(2.0)))
    previous_mean = float(jnp.mean(theta))
    steps, converged, g_mean = 0, False, 0.0
    while steps < config.max_steps:
        key, chunk_key = jax.random.split(key)
        theta, state, g = chunk(theta, state, lam, chunk_key, data)
        steps += config.chunk
        g_mean = float(g)
        lam = jnp.maximum(0.0, lam + config.rho * g_mean)
        mean_theta = float(jnp.mean(theta))
        if abs(g_mean) < config.tolerance and abs(mean_theta - previous_mean) < \
                config.tolerance * math.log(2.0):
            converged = True
            break
        previous_mean = mean_theta
    return TrainingResult(np.exp(np.asarray(theta)), steps, converged, math.exp(g_mean))
