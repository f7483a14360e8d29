"""The flip cost of branches in the noise model (precisec.semantics.flips): it matches a
Monte-Carlo count of the model's own flips times the squared jump, it is differentiable in
σ with a nonzero gradient for the sites that can flip a branch and none for the others,
and it handles the cases the estimate has to get right (noise proportional to the gap,
a side undefined on the sample, branches it does not price), in both training constraints."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from branch_kernels import NEAR_CANCELLING, SQUARE
from jax.scipy.stats import norm

from precisec.frontend.c import parse_c
from precisec.ir import Kernel, executions
from precisec.semantics.flips import flip_mse, flip_probability, flip_table, priced_branches
from precisec.semantics.noise import configure_jax, model_for, sensitivities
from precisec.semantics.perturbed import Draws, Watch
from precisec.tune.mapper import bits_for_sigma
from precisec.tune.train import MONTE_CARLO_LIMIT, train


def kernel(source: str) -> Kernel:
    return parse_c(source, "k.c")


def uniform(k: Kernel, count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(k.lows, k.highs, (count, len(k.lows)))


def monte_carlo_flips(k: Kernel, sigma: np.ndarray, draws: int, seed: int) -> float:
    """Mean over inputs and noise of [the model's noisy gap has the other sign]·J², J = 2
    (the jump of SQUARE's result between its sides)."""
    model = model_for(k)
    branches = priced_branches(k)

    def flipped(x: jax.Array, eps: jax.Array) -> jax.Array:
        watch = Watch(branches, None, {})
        model(x, jnp.asarray(sigma), Draws(eps, model.starts, model.sizes), watch)
        gap, delta, _ = watch.seen[0]
        return jnp.sign(gap + delta) != jnp.sign(gap)

    count = jax.jit(lambda xs, eps: jnp.sum(jax.vmap(flipped)(xs, eps)))
    chunk, total = 2**20, 0
    for index in range(draws // chunk):
        rng = np.random.default_rng([seed, index])
        xs = rng.uniform(k.lows, k.highs, (chunk, 1))
        total += int(count(jnp.asarray(xs), jnp.asarray(rng.standard_normal(
            (chunk, model.layout.size)))))
    return 4.0 * total / (draws // chunk * chunk)


@pytest.mark.parametrize("bits", [3, 7])
def test_flip_term_matches_a_monte_carlo_count_of_flips(bits: int) -> None:
    """σ ≫ h (each sample's Φ(−|d|/σ_d)) and σ ≪ h (the smoothed boundary density)."""
    configure_jax()
    k = kernel(SQUARE)
    sigma = np.full(len(k.sites), 2.0**-bits)
    table = flip_table(k, uniform(k, 65536))
    assert table is not None
    predicted = float(flip_mse(jnp.asarray(sigma), table))
    counted = monte_carlo_flips(k, sigma, 2**22, seed=bits)
    assert counted > 0
    assert predicted == pytest.approx(counted, rel=0.15)


def test_gradient_is_finite_and_nonzero_for_the_sites_that_can_flip() -> None:
    configure_jax()
    k = kernel(SQUARE)
    table = flip_table(k, uniform(k, 4096))
    assert table is not None
    theta = jnp.full(len(k.sites), math.log(2.0**-20))
    grad = np.asarray(jax.grad(lambda t: flip_mse(jnp.exp(t), table))(theta))
    ops = [site.op for site in k.sites]
    assert np.all(np.isfinite(grad))
    assert grad[ops.index("mul")] > 0  # the square decides the branch
    assert np.all(grad[[i for i, op in enumerate(ops) if op != "mul"]] == 0)


def test_noise_proportional_to_the_gap_cannot_flip() -> None:
    """x*x - x >= 0: the subtraction's own rounding keeps the gap's sign, so only the
    square can flip the branch (the moments are taken at the boundary)."""
    configure_jax()
    k = kernel(NEAR_CANCELLING)
    table = flip_table(k, uniform(k, 2048))
    assert table is not None
    square, difference = (next(i for i, s in enumerate(k.sites) if s.loc.col == col)
                          for col in (11, 15))
    assert list(table.columns) == [square] and difference != square


def test_small_and_large_deviation_limits() -> None:
    configure_jax()
    gap, deviation = jnp.asarray(0.3), jnp.asarray(0.2)
    assert float(flip_probability(gap, deviation, jnp.asarray(1e-12))) == pytest.approx(
        float(norm.cdf(-0.3 / 0.2)), rel=1e-9)
    h, tiny = jnp.asarray(0.5), jnp.asarray(1e-30)
    assert float(flip_probability(gap, tiny, h)) == pytest.approx(
        math.sqrt(2 / math.pi) * 1e-30 * float(norm.pdf(0.3 / 0.5)) / 0.5, rel=1e-9)
    assert float(flip_probability(gap, jnp.asarray(0.0), h)) == 0.0


def test_a_side_undefined_at_the_boundary_costs_the_worst_finite_jump() -> None:
    """The then side is undefined below x = 0.5, the boundary is at x = 1/3: a sample
    above 0.5 keeps its own jump, one below costs the largest of those."""
    configure_jax()
    k = kernel("""\
#pragma precisec range(x, 0, 1)
double root(double x) {
    double y;
    if (x * 3.0 - 1.0 > 0.0) {
        y = sqrt(x * 3.0 - 1.5);
    } else {
        y = x;
    }
    return y;
}
""")
    xs = uniform(k, 2048)
    table = flip_table(k, xs)
    assert table is not None
    jumps = table.jumps[:, 0]
    assert np.all(np.isfinite(jumps))
    defined = xs[:, 0] >= 0.5
    assert np.all(jumps[~defined] == np.max(jumps[defined]))
    assert np.all(jumps[defined] == (np.sqrt(3 * xs[defined, 0] - 1.5) - xs[defined, 0])**2)
    assert float(flip_mse(jnp.full(len(k.sites), 2.0**-10), table)) > 0


@pytest.mark.parametrize("source", [
    # compares an input with a literal: no rounding reaches the gap
    "#pragma precisec range(x, -1, 1)\ndouble f(double x) {\n"
    "    return x < 0.0 ? x * x : x * 3.0;\n}\n",
    # a branch inside a loop is not priced
    "#pragma precisec range(x, 0, 1)\ndouble f(double x) {\n    double s = 0.0;\n"
    "    for (int i = 0; i < 3; i++) {\n        if (s * x < 0.5) { s = s + x; }\n    }\n"
    "    return s;\n}\n",
])
def test_branches_without_a_priced_flip_give_no_table(source: str) -> None:
    configure_jax()
    k = kernel(source)
    assert k.n_branches > 0
    assert flip_table(k, uniform(k, 256)) is None


def test_a_kernel_continuous_across_the_boundary_pays_nothing_for_flips() -> None:
    """A hinge, (x*x - 2)·(x + 1) beyond x*x - 2 > 0 and 0 before: the jump at the
    boundary is zero, so flips cost nothing to first order (the squared jumps are taken at
    the boundary, not at the samples a bandwidth away)."""
    configure_jax()
    k = kernel("""\
#pragma precisec range(x, 0, 2)
double hinge(double x) {
    double y;
    double t = x * x - 2.0;
    if (t > 0.0) {
        y = t * (x + 1.0);
    } else {
        y = 0.0;
    }
    return y;
}
""")
    xs = uniform(k, 2048)
    table = flip_table(k, xs)
    assert table is not None and len(table.columns) == 1
    near = np.abs(table.gaps[:, 0]) < table.bandwidths[0]
    at_samples = table.gaps[near, 0]**2 * (xs[near, 0] + 1.0)**2
    assert np.sum(near) > 10 and np.max(at_samples) > 1e-3
    assert np.max(table.jumps[near, 0]) < 1e-6


def test_each_of_several_branches_gets_its_own_column() -> None:
    """Two branches in a row: each column is what the kernel with that branch alone gives
    (one compilation evaluates every branch by its index)."""
    configure_jax()
    first = "    if (x * x > 0.25) { y = x + 1.0; } else { y = x - 1.0; }\n"
    second = "    if (x * 3.0 > 2.0) { y = y * 2.0; }\n"
    head = "#pragma precisec range(x, 0, 1)\ndouble f(double x) {\n    double y = x;\n"
    xs = uniform(kernel(head + first + "    return y;\n}\n"), 1024)
    both = flip_table(kernel(head + first + second + "    return y;\n}\n"), xs)
    alone = [flip_table(kernel(head + body + "    return y;\n}\n"), xs)
             for body in (first, second)]
    assert both is not None and both.gaps.shape == (1024, 2)
    for column, table in enumerate(alone):
        assert table is not None
        np.testing.assert_array_equal(both.gaps[:, column], table.gaps[:, 0])
        assert both.bandwidths[column] == table.bandwidths[0]
        moments = both.moments[:, column]  # its sites: those its noise reaches
        np.testing.assert_allclose(moments[:, np.any(moments > 0, axis=0)], table.moments[:, 0])
    # near the first boundary (x = 0.5, away from the second one) its jump is unchanged
    near = np.abs(both.gaps[:, 0]) < 5 * both.bandwidths[0]
    assert np.sum(near) > 30
    np.testing.assert_array_equal(both.jumps[near, 0], alone[0].jumps[near, 0])
    # the second jump at its boundary x = 2/3 doubles y = x + 1 there (y = x alone)
    np.testing.assert_allclose(both.jumps[:, 1], (5 / 3)**2, rtol=1e-12)
    np.testing.assert_allclose(alone[1].jumps[:, 0], (2 / 3)**2, rtol=1e-12)


def test_the_moment_training_of_a_large_kernel_prices_flips_too() -> None:
    """Beyond the Monte-Carlo limit training runs on the first-order moments; the flip
    term joins that constraint as well: the square deciding the branch gets far more
    bits than the loop's operations, which only move the result smoothly."""
    configure_jax()
    k = kernel("""\
#pragma precisec range(x, 0, 1)
double f(double x) {
    double s = 0.0;
    for (int i = 0; i < 600; i++) {
        s = s + x * 0.001;
    }
    double y;
    if (x * x > 0.25) {
        y = s + 1.0;
    } else {
        y = s - 1.0;
    }
    return y;
}
""")
    assert sum(executions(k)) > MONTE_CARLO_LIMIT
    square = next(i for i, s in enumerate(k.sites) if s.loc.line == 8)
    result = train(k, 1e-10, 0, sensitivities(k, uniform(k, 256)))
    assert result.flip_sites == (square,)
    bits = [bits_for_sigma(float(s)) for s in result.sigma]
    assert np.all(np.isfinite(result.sigma))
    assert bits[square] > max(b for i, b in enumerate(bits) if i != square) + 10
