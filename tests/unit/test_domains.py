"""Input domains (docs/method.md §6): unbounded and one-sided ranges sampled over the
floating-point values, preconditions by sound rejection sampling (FPCore `:pre` and the C
`pre` pragma), strict bounds as open intervals, acceptance rates and their floor."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from helpers import kernel

from precisec.errors import PrecisecError
from precisec.frontend.fpcore import parse_fpcore
from precisec.ops import OPS
from precisec.semantics.compiled import Evaluator
from precisec.tune import precondition
from precisec.tune.samples import Sample, float_values, sample_inputs

DISK = "(< (+ (* x x) (* y y)) 1)"


def core(pre: str, body: str = "(+ x y)", args: str = "x y") -> str:
    return f"(FPCore ({args}) :pre {pre} {body})"


def test_the_sound_evaluator_has_a_rule_for_every_real_and_boolean_operation() -> None:
    needed = {n for n, s in OPS.items() if s.kind in ("arith", "compare", "logic")}
    assert needed <= set(precondition.REAL_RULES) | set(precondition.OTHER_RULES)


def test_a_point_is_kept_only_where_the_precondition_certainly_holds() -> None:
    k = parse_fpcore(core(f"(and (<= -1 x 1) (<= -1 y 1) {DISK})"), "k")
    assert k.precondition is not None
    points = np.array([[0.0, 0.0], [0.9, 0.9], [1.0, 0.0], [0.6, 0.8]])
    # the doubles 0.6 and 0.8 are not 3/5 and 4/5: their exact squares decide
    exact = Fraction(0.6) ** 2 + Fraction(0.8) ** 2 < 1
    assert list(precondition.accepted(k.precondition, points)) == [True, False, False, exact]


def test_undecidable_and_undefined_points_are_rejected() -> None:
    undecided = parse_fpcore(core("(and (<= 0 x 1) (<= 0 y 1) (== (* (sqrt 2) (sqrt 2)) 2))"),
                             "k")
    assert undecided.precondition is not None
    assert not precondition.accepted(undecided.precondition, np.array([[0.5, 0.5]]))[0]
    undefined = parse_fpcore(core("(and (<= -1 x 1) (<= 0 y 1) (< (sqrt x) 2))"), "k")
    assert undefined.precondition is not None
    assert list(precondition.accepted(undefined.precondition,
                                      np.array([[-0.5, 0.5], [0.5, 0.5]]))) == [False, True]


def test_rejection_sampling_reports_its_acceptance_rate() -> None:
    k = parse_fpcore(core(f"(and (<= -1 x 1) (<= -1 y 1) {DISK})"), "k")
    with Evaluator(k) as evaluator:
        sample = Sample.draw(evaluator, 2000, 1)
    assert len(sample.inputs) == 2000
    assert np.all(np.sum(sample.inputs**2, axis=1) < 1)
    assert abs(sample.acceptance - math.pi / 4) < 0.03


def test_an_acceptance_below_a_thousandth_is_a_located_error() -> None:
    k = parse_fpcore("(FPCore (x y)\n :pre (and (<= -1 x 1) (<= -1 y 1)\n"
                     "  (< (+ (* x x) (* y y)) 1e-6)) (+ x y))", "k.fpcore")
    with Evaluator(k) as evaluator, pytest.raises(PrecisecError) as info:
        Sample.draw(evaluator, 1000, 1)
    assert (info.value.loc.line, info.value.loc.col) == (2, 7)
    assert "satisfy the precondition" in info.value.message and "0.1%" in info.value.message


def test_strict_bounds_are_open_so_the_corners_stay_in_the_domain() -> None:
    """log(1 − x) is infinite at x = 1, which (< -1 x 1) excludes: the corners must not
    be refused there."""
    k = parse_fpcore("(FPCore (x) :pre (< -1 x 1) (log (- 1 x)))", "k")
    assert k.inputs[0].hi == (math.nextafter(1.0, 0.0),)
    assert k.precondition is None  # the bounds said everything
    with Evaluator(k) as evaluator:
        sample = Sample.draw(evaluator, 100, 1)
    assert np.all(np.abs(sample.inputs) < 1)
    closed = parse_fpcore("(FPCore (x) :pre (<= -1 x 1) (log (- 1 x)))", "k")
    with Evaluator(closed) as evaluator, pytest.raises(PrecisecError, match="non-finite"):
        Sample.draw(evaluator, 100, 1)


def test_let_in_pre_binds_constants_and_bounds_still_become_ranges() -> None:
    k = parse_fpcore("(FPCore (c) :pre (let ([a 3] [b 3.5]) (and (<= -2 c 2) "
                     "(> (- (* b b) (* (* a c) 4)) 0.1))) c)", "k")
    assert (k.lows, k.highs) == ((-2.0,), (2.0,))
    assert k.precondition is not None
    with Evaluator(k) as evaluator:
        sample = Sample.draw(evaluator, 500, 2)
    assert np.all(3.5**2 - 12 * sample.inputs[:, 0] > 0.1)
    assert 0 < sample.acceptance < 1


def test_a_bound_of_constant_arithmetic_is_a_range() -> None:
    """`(< 0.05 x (* 2 PI))` bounds x by 2π (folded exactly on PI's decimal value): the
    range ends at the largest double below 2π (2·math.pi, which lies below 2π), with no
    precondition left."""
    k = parse_fpcore("(FPCore (x) :pre (< 0.05 x (* 2 PI)) (sin x))", "k")
    assert Fraction(2 * math.pi) < 2 * Fraction("3.14159265358979323846264338")
    assert k.highs == (2 * math.pi,) and k.precondition is None
    half = parse_fpcore("(FPCore (x) :pre (and (<= (/ 1 4) x) (<= x (- 1 (/ 1 4)))) x)", "k")
    assert (half.lows, half.highs, half.precondition) == ((0.25,), (0.75,), None)


def test_unbounded_inputs_are_uniform_over_the_doubles_within_their_bounds() -> None:
    rng = np.random.Generator(np.random.PCG64(3))
    positive = float_values(0.0, math.inf, 20000, rng, "double")
    assert np.all((positive >= 0) & np.isfinite(positive))
    assert abs(np.mean(positive < 1.0) - 0x3FF0000000000000 / 0x7FEFFFFFFFFFFFFF) < 0.02
    everything = float_values(-math.inf, math.inf, 20000, rng, "float")
    assert np.all(np.abs(everything) <= np.finfo(np.float32).max)
    assert np.all(everything == everything.astype(np.float32))
    assert abs(np.mean(everything < 0) - 0.5) < 0.02


def test_an_unbounded_fpcore_under_rmse_is_refused_at_the_argument() -> None:
    k = parse_fpcore("(FPCore (x)\n :pre (>= x 0)\n (sqrt x))", "k.fpcore")
    assert (k.lows, k.highs) == ((0.0,), (math.inf,))
    with Evaluator(k) as evaluator, pytest.raises(PrecisecError) as info:
        Sample.draw(evaluator, 100, 1)
    assert (info.value.loc.line, info.value.loc.col) == (1, 10)
    assert "no finite range" in info.value.message and "relative target" in info.value.message
    with Evaluator(k) as evaluator:
        sample = Sample.draw(evaluator, 300, 1, metric="bits")
    assert np.all(sample.inputs >= 0) and np.max(sample.inputs) > 1e100


def test_bits_sampling_rejects_points_outside_the_function_domain() -> None:
    """Herbie's rule: exp(x) overflows for x > 709.8; those points are rejected."""
    k = parse_fpcore("(FPCore (x) :pre (>= x 1) (exp x))", "k")
    with Evaluator(k) as evaluator:
        sample = Sample.draw(evaluator, 300, 1, metric="bits")
    assert np.all(sample.inputs[:, 0] < 710) and sample.acceptance < 0.6


C_PRE = """\
#pragma precisec range(a, 1, 9)
#pragma precisec range(b, 1, 9)
#pragma precisec range(c, 1, 9)
#pragma precisec pre(a + b > c && a + c > b && b + c > a)
#pragma precisec relrmse(1e-13)
double heron(double a, double b, double c) {
    double s = (a + b + c) / 2;
    return sqrt(s * (s - a) * (s - b) * (s - c));
}
"""


def test_the_c_pre_pragma_is_a_precondition() -> None:
    k = kernel(C_PRE)
    assert (k.target_metric, k.target_rmse) == ("relrmse", 1e-13)
    assert k.precondition is not None and len(k.sites) == 10  # the pre adds no site
    with Evaluator(k) as evaluator:
        sample = Sample.draw(evaluator, 1000, 1)
    a, b, c = sample.inputs.T
    assert np.all((a + b > c) & (a + c > b) & (b + c > a))
    assert 0.3 < sample.acceptance < 0.9
    points = sample_inputs(k, 50, 1)
    assert np.all((points >= 1) & (points <= 9))


@pytest.mark.parametrize(("pragma", "col", "message"), [
    ("pre(a + z > 1)", 26, "'z' in pre is not a scalar input parameter"),
    ("pre(a + b)", 22, "a number where pre expects a condition"),
    ("pre(a > 1 +)", 22, "cannot parse"),
    ("pre(foo(a) > 1)", 22, "unknown function 'foo'"),
])
def test_c_pre_pragma_errors_are_located(pragma: str, col: int, message: str) -> None:
    source = C_PRE.replace("pre(a + b > c && a + c > b && b + c > a)", pragma)
    with pytest.raises(PrecisecError) as info:
        kernel(source)
    assert info.value.loc.line == 4 and info.value.loc.col == col, info.value
    assert message in info.value.message


def test_c_ranges_may_be_infinite() -> None:
    k = kernel("#pragma precisec range(x, 0, inf)\n#pragma precisec bits(2)\n"
               "double f(double x) {\n    return sqrt(x + 1) - sqrt(x);\n}\n")
    assert (k.lows, k.highs, k.target_metric) == ((0.0,), (math.inf,), "bits")


def test_fpcore_target_properties_and_their_emission() -> None:
    from precisec.backend.fpcore import emit_fpcore

    for key, metric in ((":precisec-relrmse", "relrmse"), (":precisec-bits", "bits")):
        k = parse_fpcore(f"(FPCore (x) :pre (< 0 x) {key} 2.5 (log x))", "k")
        assert (k.target_metric, k.target_rmse, k.highs) == (metric, 2.5, (math.inf,))
        text = emit_fpcore(k, [53] * len(k.sites))
        assert f" {key} 2.5\n" in text and ":pre (< 0 x)" in text
    unbounded = kernel("#pragma precisec range(x, -inf, inf)\n"
                       "#pragma precisec range(y, 0, inf)\n"
                       "double f(double x, double y) {\n    return x + y;\n}\n")
    assert ":pre (<= 0.0 y)\n" in emit_fpcore(unbounded, [53])
    with pytest.raises(PrecisecError, match="cannot express a C pre pragma"):
        emit_fpcore(kernel(C_PRE), [53] * 10)
