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
