"""The near-cancelling condition x*x - x >= 0 on [0, 10], tuned with --tune-conditions
through the one flow: with the flip cost in the noise model, the square that decides the
branch keeps at least double (the model prices its flips), the subtraction, whose own
rounding cannot change the gap's sign, goes low, and the compiled C meets the target on
the test sample with no branch divergence."""

from __future__ import annotations

from branch_kernels import NEAR_CANCELLING
from helpers import kernel

from precisec import flow

SAMPLES = 4000


def test_tuned_conditions_meet_the_target_in_compiled_c() -> None:
    k = kernel(NEAR_CANCELLING, "flip.c")
    result = flow.run(k, k.target_rmse, "flip.c",
                      flow.Options(samples=SAMPLES, tune_conditions=True))
    assert result.tuning is not None
    square, difference = (next(i for i, s in enumerate(k.sites) if s.loc.col == col)
                          for col in (11, 15))
    assert result.tuning.training.flip_sites == (square,)
    assert result.bits[square] >= 53 > result.bits[difference]
    measured = result.verification.measurement
    assert result.within_target and measured.rmse <= k.target_rmse
    assert measured.count == SAMPLES
    assert result.verification.branch_divergence == 0.0
