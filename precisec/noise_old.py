"""The differentiable noise model (design §3.3), in JAX.

Operation i's result is multiplied by (1 + σ_i ε_i). Subtracting a clean float64 run from a
noisy one would drown σ ≲ 2^-53 in float64's own rounding, so the model never does that:
it carries, beside each clean value v, the perturbation d that the noise has caused so far,
and each operation computes its result's perturbation from its arguments' through the
operation table's cancellation-free `propagate` (exact formulas for + − × ÷ √ and fma,
first order for the other functions). The output perturbation is then exact in relative
terms however small σ is (tested from 2^-8 down to 2^-120).

A constant that is not exactly representable in CONSTANT_EXACT_BITS bits is rounded at
the precision of the operation consuming it (design §3.2), so it gets that operation's σ
and an ε of its own.

Significand-aware noise (optional). σ is the RMS relative error of rounding a value whose
significand m ∈ [1, 2) is log-distributed (mapper.K_ROUNDING). A particular value's
relative rounding error at p bits has RMS 2^-p/(√3·m): values just above a power of two
suffer more. With `significand_aware`, operation i's ε at a sample is scaled by
w = 1/(√3·k·m(value)), which averages to 1 in the square over log-distributed m, so σ keeps
its meaning and the mapper's k is unchanged, while the model learns where a kernel's
values actually lie (e.g. doppler's 331.4 + 0.6·T, whose significands sit near 1.2).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import optax

from precisec.ir import Const, Input, Kernel, Op
from precisec.mapper import K_ROUNDING

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_compilation_cache_dir",
                  os.environ.get("PRECISEC_JAX_CACHE",
                                 os.path.join(os.path.expanduser("~"), ".cache", "precisec-jax")))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)

CONSTANT_EXACT_BITS = 24
THETA_MIN = math.log(2.0**-400)
THETA_MAX = math.log(0.5)


def _significant_bits(value: Fraction) -> int | None:
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


@dataclass(frozen=True)
class NoiseLayout:
    """Which random variable belongs to which rounding: one σ per rounding operation;
    ε per rounding operation, then one per inexact constant (slot owner = its consumer)."""

    rounding: tuple[int, ...]
    constant_slots: tuple[tuple[int, int], ...]
    sigma_slots: tuple[int, ...] = ()

    @property
    def num_sigma(self) -> int:
        return max(self.sigma_slots, default=-1) + 1 if self.sigma_slots else len(self.rounding)

    def sigma_slot(self, position: int) -> int:
        """σ of the position-th rounding node: its site's (its own when no sites)."""
        return self.sigma_slots[position] if self.sigma_slots else position

    @property
    def num_eps(self) -> int:
        return len(self.rounding) + len(self.constant_slots)


def layout(kernel: Kernel) -> NoiseLayout:
    rounding = kernel.rounding_ops
    slots: list[tuple[int, int]] = []
    for index in rounding:
        node = kernel.nodes[index]
        assert isinstance(node, Op)
        for position, arg in enumerate(node.args):
            const = kernel.nodes[arg]
            if isinstance(const, Const):
                bits = _significant_bits(const.value)
                if bits is None or bits > CONSTANT_EXACT_BITS:
                    slots.append((index, position))
    if kernel.sites == rounding:
        return NoiseLayout(rounding, tuple(slots))
    return NoiseLayout(rounding, tuple(slots),
                       tuple(kernel.site_index[index] for index in rounding))


PerturbedFn = Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def _significand_weight(value: jax.Array) -> jax.Array:
    """1/(√3·k·m) for value = ±m·2^e, 1 ≤ m < 2; 0 for zero, which rounds exactly."""
    mantissa, _ = jnp.frexp(jax.lax.stop_gradient(value))
    m = 2.0 * jnp.abs(mantissa)
    safe = jnp.where(m == 0, 1.0, m)
    return jnp.where(m == 0, 0.0, 1.0 / (math.sqrt(3.0) * K_ROUNDING * safe))


def perturbed_kernel(kernel: Kernel, noise: NoiseLayout,
                     significand_aware: bool = False) -> PerturbedFn:
    """f(x, σ, ε) -> (clean output, output perturbation) for one input point x.

    σ is indexed by site (one per source operation), ε by rounding node. Branches follow
    the clean float64 values: an op on a branch not taken there (guard false) computes on
    ones instead of its arguments, so its garbage stays finite and gradients stay clean,
    and the select after the branch discards it. Several results come out stacked."""
    sigma_of = {op: noise.sigma_slot(k) for k, op in enumerate(noise.rounding)}
    eps_of = {op: k for k, op in enumerate(noise.rounding)}
    eps_of_const = {slot: len(noise.rounding) + k for k, slot in enumerate(noise.constant_slots)}
    position = {node: k for k, node in enumerate(kernel.inputs)}

    def weight(value: jax.Array) -> jax.Array:
        return _significand_weight(value) if significand_aware else jnp.ones_like(value)

    def run(x: jax.Array, sigma: jax.Array, eps: jax.Array) -> tuple[jax.Array, jax.Array]:
        values: list[jax.Array] = []
        deltas: list[jax.Array] = []
        zero = jnp.zeros((), dtype=jnp.float64)
        for index, node in enumerate(kernel.nodes):
            if isinstance(node, Input):
                values.append(x[position[index]])
                deltas.append(zero)
            elif isinstance(node, Const):
                values.append(jnp.asarray(float(node.value), dtype=jnp.float64))
                deltas.append(zero)
            else:
                args = [values[a] for a in node.args]
                arg_deltas = [deltas[a] for a in node.args]
                if node.guard is not None:
                    taken = values[node.guard] != 0
                    args = [jnp.where(taken, a, 1.0) for a in args]
                    arg_deltas = [jnp.where(taken, d, 0.0) for d in arg_deltas]
                for k in range(len(args)):
                    slot = eps_of_const.get((index, k))
                    if slot is not None:
                        arg_deltas[k] = args[k] * sigma[sigma_of[index]] * eps[slot] \
                            * weight(args[k])
                value = node.spec.jax_fn(*args)
                delta = node.spec.propagate(args, arg_deltas)
                if node.spec.rounds:
                    delta = delta + (value + delta) * sigma[sigma_of[index]] \
                        * eps[eps_of[index]] * weight(value)
                values.append(value)
                deltas.append(delta)
        if kernel.outputs:
            return (jnp.stack([values[r] for r in kernel.outputs]),
                    jnp.stack([deltas[r] for r in kernel.outputs]))
        return values[kernel.output], deltas[kernel.output]

    return run


def _uniform_box(kernel: Kernel) -> tuple[jax.Array, jax.Array]:
    lows = jnp.array([kernel.input(i).lo for i in range(len(kernel.inputs))])
    highs = jnp.array([kernel.input(i).hi for i in range(len(kernel.inputs))])
    return lows, highs


def sensitivities(kernel: Kernel, inputs: np.ndarray) -> np.ndarray:
    """S_i = E[(∂y/∂y_i · y_i)²] per rounding operation (design §3.5), by forward-mode AD.

    Per site: the sum over the site's rounding nodes (their ε are independent), and with
    several results the mean over them (the MSE is over all result elements). An inexact
    constant is rounded at the precision of the operation consuming it, so its term
    E[(∂y/∂c · c)²] joins that operation's: Σ σ_i² S_i is then the model's MSE.
    """
    noise = layout(kernel)
    run = perturbed_kernel(kernel, noise)

    def relative_gradient(x: jax.Array) -> jax.Array:
        ones = jnp.ones(noise.num_sigma)
        return jax.jacfwd(lambda e: run(x, ones, e)[1])(jnp.zeros(noise.num_eps))

    grads = jax.jit(jax.vmap(relative_gradient))(jnp.asarray(inputs))
    squares = np.asarray(jnp.mean(grads**2, axis=tuple(range(grads.ndim - 1))))
    count = len(noise.rounding)
    per_site = np.zeros(noise.num_sigma)
    np.add.at(per_site, [noise.sigma_slot(k) for k in range(count)], squares[:count])
    position = {op: k for k, op in enumerate(noise.rounding)}
    for slot, (op, _) in enumerate(noise.constant_slots):
        per_site[noise.sigma_slot(position[op])] += squares[count + slot]
    return per_site


def predicted_mse(kernel: Kernel, sigma: np.ndarray, inputs: np.ndarray, seed: int,
                  significand_aware: bool = False,
                  constant_errors: np.ndarray | None = None) -> float:
    """Monte-Carlo E[(noisy − exact)²] of the model at fixed σ over the given inputs.

    Once precisions are fixed, each inexact constant's rounding error is a known number,
    not noise: `constant_errors` (relative errors, one per constant slot of the layout)
    then replace the constants' random perturbations.
    """
    noise = layout(kernel)
    run = jax.vmap(perturbed_kernel(kernel, noise, significand_aware), in_axes=(0, None, 0))
    eps = jax.random.normal(jax.random.key(seed), (len(inputs), noise.num_eps))
    if constant_errors is not None and noise.constant_slots:
        sigma_of = {op: noise.sigma_slot(k) for k, op in enumerate(noise.rounding)}
        fixed = []
        for (owner, position), error in zip(noise.constant_slots, constant_errors, strict=True):
            node = kernel.nodes[owner]
            assert isinstance(node, Op)
            value = jnp.asarray(float(kernel.nodes[node.args[position]].value))
            scale = sigma[sigma_of[owner]] * (_significand_weight(value)
                                              if significand_aware else 1.0)
            fixed.append(jnp.full(len(inputs), error / scale))
        eps = eps.at[:, len(noise.rounding):].set(jnp.stack(fixed, axis=1))
    _, delta = jax.jit(run)(jnp.asarray(inputs), jnp.asarray(sigma), eps)
    return float(jnp.mean(delta**2))


@dataclass(frozen=True)
class TrainingResult:
    """Learned σ per rounding operation and how the optimisation went."""

    sigma: np.ndarray
    steps: int
    converged: bool
    final_mse_ratio: float


@dataclass(frozen=True)
class TrainingConfig:
    """SGD settings. The augmented-Lagrangian multiplier starts at 1/(2 ln 2), its value at
    the optimum when the first-order model is exact (every operation then holds an equal
    share of the budget); ρ keeps the subproblems well conditioned without a huge penalty."""

    batch: int = 512
    chunk: int = 100
    max_steps: int = 4000
    learning_rate: float = 0.1
    rho: float = 4.0
    tolerance: float = 0.02
    significand_aware: bool = True


def train(kernel: Kernel, target: float, seed: int, sens: np.ndarray,
          config: TrainingConfig = TrainingConfig()) -> TrainingResult:
    """Maximise mean log2 σ subject to E[(noisy − exact)²] ≤ τ² by Adam (design §3.3).

    The constraint is taken in log form, g = log(MSE/τ²) ≤ 0, so its scale does not depend
    on the kernel's units, and enforced with an augmented Lagrangian: inner Adam steps on
    −mean(θ)/ln 2 + ψ(g, λ, ρ), then λ ← max(0, λ + ρ ḡ) after each chunk of steps.
    Converged when the constraint holds within `tolerance` and mean θ stops moving.
    Training starts from the uniform σ that meets the target under the first-order model
    with sensitivities `sens`.
    """
    noise = layout(kernel)
    run = jax.vmap(perturbed_kernel(kernel, noise, config.significand_aware),
                   in_axes=(0, None, 0))
    lows, highs = _uniform_box(kernel)
    log_tau2 = 2.0 * math.log(target)
    n_in = len(kernel.inputs)

    def constraint(theta: jax.Array, key: jax.Array) -> jax.Array:
        key_x, key_e = jax.random.split(key)
        xs = lows + (highs - lows) * jax.random.uniform(key_x, (config.batch, n_in),
                                                        dtype=jnp.float64)
        eps = jax.random.normal(key_e, (config.batch, noise.num_eps), dtype=jnp.float64)
        _, delta = run(xs, jnp.exp(theta), eps)
        return jnp.log(jnp.mean(delta**2)) - log_tau2

    def objective(theta: jax.Array, lam: jax.Array, key: jax.Array) -> tuple[jax.Array,
                                                                              jax.Array]:
        g = constraint(theta, key)
        psi = jnp.where(lam + config.rho * g >= 0, lam * g + 0.5 * config.rho * g**2,
                        -(lam**2) / (2 * config.rho))
        return -jnp.mean(theta) / math.log(2.0) + psi, g

    optimiser = optax.adam(optax.exponential_decay(config.learning_rate, 1000, 0.3,
                                                   end_value=0.003))

    def step(carry: tuple[jax.Array, optax.OptState, jax.Array],
             key: jax.Array) -> tuple[tuple[jax.Array, optax.OptState, jax.Array], jax.Array]:
        theta, state, lam = carry
        grad, g = jax.grad(objective, has_aux=True)(theta, lam, key)
        updates, state = optimiser.update(grad, state, theta)
        theta = jnp.clip(optax.apply_updates(theta, updates), THETA_MIN, THETA_MAX)
        return (theta, state, lam), g

    @jax.jit
    def chunk(theta: jax.Array, state: optax.OptState, lam: jax.Array,
              key: jax.Array) -> tuple[jax.Array, optax.OptState, jax.Array]:
        """`config.chunk` Adam steps at a fixed multiplier; the mean constraint value."""
        (theta, state, _), gs = jax.lax.scan(step, (theta, state, lam),
                                             jax.random.split(key, config.chunk))
        return theta, state, jnp.mean(gs)

    key = jax.random.key(seed)
    total = float(np.sum(sens))
    start = math.log(target / math.sqrt(total)) if total > 0 else THETA_MAX
    theta = jnp.full(noise.num_sigma, min(max(start, THETA_MIN), THETA_MAX))
    state = optimiser.init(theta)
    lam = jnp.asarray(1.0 / (2.0 * math.log(2.0)))
    previous_mean = float(jnp.mean(theta))
    steps, converged, g_mean = 0, False, 0.0
    while steps < config.max_steps:
        key, chunk_key = jax.random.split(key)
        theta, state, g = chunk(theta, state, lam, chunk_key)
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
