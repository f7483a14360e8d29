"""Every interpreter has a rule for every operation of the table it can meet.

The operation table (`precisec.ops`) is pure data; each interpreter keeps its own rule
table keyed by operation name. An operation added to the table without a rule in one of
them must fail here, not in the middle of a user's tuning run.
"""

from __future__ import annotations

import pytest

from precisec.backend import cdouble, mpfr, native
from precisec.ops import OPS
from precisec.semantics import bound_rules, interpret, jax_rules

ARRAY_OPS = {"load", "store"}  # handled by each evaluator's array code, not a rule table
REAL = {name for name, spec in OPS.items() if spec.kind == "arith"}
ROUNDING = {name for name, spec in OPS.items() if spec.rounds}
EXACT_REAL = REAL - ROUNDING


@pytest.mark.parametrize(("interpreter", "covered"), [
    ("defining interpreter", set(interpret.REAL_RULES) | set(interpret.OTHER_RULES)),
    ("JAX noise model", set(jax_rules.REAL_RULES) | set(jax_rules.OTHER_RULES) | {"zeros"}),
    # The sound bound's tape builds leaves for zeros and itof itself.
    ("sound bound", set(bound_rules.RULES) | set(bound_rules.OTHER_RULES) | {"zeros", "itof"}),
])
def test_evaluators_cover_every_operation(interpreter: str, covered: set[str]) -> None:
    missing = set(OPS) - ARRAY_OPS - covered
    assert not missing, f"{interpreter} has no rule for {sorted(missing)}"


def test_mpfr_dialect_covers_every_real_operation_and_comparison() -> None:
    compares = {name for name, spec in OPS.items() if spec.kind == "compare"}
    assert set(mpfr.RULES) >= REAL
    assert compares <= set(mpfr.COMPARE)
    assert "itof" in mpfr.RULES


def test_double_dialect_covers_exact_operations_and_computes_the_basic_ones() -> None:
    """Exact operations and + − × ÷ √ run in doubles; other rounding operations go
    through the MPFR rule table, which covers them."""
    assert set(cdouble.EXACT) >= EXACT_REAL
    assert {"add", "sub", "mul", "div", "sqrt"} <= set(cdouble.FAST)
    assert ROUNDING - set(cdouble.FAST) <= set(mpfr.RULES)


def test_native_dialect_covers_every_real_operation() -> None:
    assert set(native.RULES) >= REAL


def test_every_interpreter_runs_or_refuses_a_while_loop_by_name() -> None:
    """A `While` statement (next to loops and branches, which every interpreter runs):
    the defining interpreter, the MPFR and double kernels of the compiled evaluator and
    the JAX noise model all run Newton's iteration to the same float64 result at 53 bits;
    the sound bound refuses it by name; the FPCore emitter writes it as a `while*` that
    reads back to the same result."""
    import numpy as np
    from while_kernels import newton_sqrt

    from precisec.backend.fpcore import emit_fpcore
    from precisec.frontend.fpcore import parse_tuned_fpcore
    from precisec.semantics.bound import bound
    from precisec.semantics.compiled import Evaluator
    from precisec.semantics.noise import model_for
    from precisec.semantics.perturbed import Taps

    kernel = newton_sqrt()
    bits = [53] * len(kernel.sites)
    point = [7.0]
    expected = interpret.point_outputs(kernel, point, bits)[0]
    with Evaluator(kernel) as evaluator:
        fast = evaluator.emulate(bits, np.array([point])).outputs[0, 0]
        slow = evaluator.emulate([54] * len(kernel.sites), np.array([point])).outputs[0, 0]
    model = model_for(kernel, inputs=np.array([point]))
    clean = float(model(np.array(point), np.ones(len(bits)),
                        Taps(tuple(np.zeros(len(bits)))))[0])
    assert fast == expected == clean and abs(slow - expected) < 1e-12
    assert bound(kernel, bits).reason == "while statements have no bound"
    back, back_bits = parse_tuned_fpcore(emit_fpcore(kernel, bits), "newton.fpcore")
    assert interpret.point_outputs(back, point, back_bits)[0] == expected
