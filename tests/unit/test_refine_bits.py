"""Refinement under the bits metric (docs/method.md §4): the RMS model's shares are no
guide to mean bits, so a missed target is met by raising the sites below a common level,
and each site is then lowered by its own bisection. A site with an enormous model share
that the measurement does not need ends at the least precision, not hundreds of bits."""

from __future__ import annotations

import numpy as np

from precisec.semantics.compiled import Reference
from precisec.tune.mapper import MIN_BITS
from precisec.tune.metrics import Metric
from precisec.tune.refine import refine

TARGET = 4.0


def emulation(count: int = 2000) -> tuple[Reference, object]:
    """Two sites: site 0 (model share 1e200, like a cancellation at tiny inputs) does not
    move the result; site 1 rounds it with a relative error 2^-bits·u."""
    rng = np.random.Generator(np.random.PCG64(4))
    exact = rng.uniform(1.0, 2.0, (count, 1))
    u = rng.uniform(-1.0, 1.0, (count, 1))
    reference = Reference(exact, np.zeros_like(exact), None, 320)

    def emulate(bits: tuple[int, ...]) -> np.ndarray:
        return exact * (1.0 + u * 2.0 ** -float(bits[1]))

    return reference, emulate


def test_bits_refinement_raises_to_a_level_and_lowers_each_site() -> None:
    reference, emulate = emulation()
    metric = Metric("bits", "double")
    result = refine(emulate, TARGET, (53, 30), np.array([1e200, 1.0]), reference,
                    metric=metric)
    assert result is not None and result.validation.accepts(TARGET)
    assert result.bits[0] == MIN_BITS
    # site 1 is the fewest bits that still meet the target: one fewer does not
    fewer = metric.measure(reference, emulate((MIN_BITS, result.bits[1] - 1)))
    assert not fewer.accepts(TARGET)
    assert result.emulations < 60


def test_a_start_that_meets_the_target_is_only_lowered() -> None:
    reference, emulate = emulation()
    result = refine(emulate, TARGET, (60, 60), np.array([1e200, 1.0]), reference,
                    metric=Metric("bits", "double"))
    assert result is not None and result.bits_added == 0
    assert result.bits[0] == MIN_BITS and result.bits[1] < 60
