"""The sound worst-case bound (docs/method.md §8): hand-derived bounds of tiny kernels, the
all-double bounds of Table 1 against FPTaylor's published ones, branches, undefined
operations and literals."""

from __future__ import annotations

import json
from fractions import Fraction

import gmpy2
import pytest
from helpers import BENCHMARKS, EXAMPLES, benchmark, kernel, ranges

from precisec.frontend.c import load_c
from precisec.semantics.bound import bound

U = 2.0**-53  # the unit roundoff of 53-bit round-to-nearest
TINY = 2.0**-1075  # the final conversion's subnormal half-ulp, always charged


def all_double(k):  # type: ignore[no-untyped-def]
    return bound(k, [k.baseline_bits] * len(k.sites), budget_seconds=5.0)


def test_product_plus_sum_matches_the_hand_derived_bound() -> None:
    """x*y+z on [1,2]³: |ε_mul| ≤ u·2^⌊log2 xy⌋ ≤ 4u (xy reaches 4) and the sum (≤ 6)
    rounds with |ε_add| ≤ 4u, each with derivative 1: 8u, reached at x = y = 2."""
    k = kernel(ranges(x=(1, 2), y=(1, 2), z=(1, 2))
               + "double f(double x, double y, double z) { return x * y + z; }")
    result = all_double(k)
    assert result.value is not None and result.covers_divergence
    assert 8 * U <= result.value <= 8 * U * 1.01 + TINY
    assert result.coefficients[0] == pytest.approx(4, rel=0.01)


def test_literal_error_is_its_exact_rounding_error() -> None:
    """0.1*x on [1,2]: the literal is rounded at the product's 53 bits, an error of
    |fl(0.1) − 0.1| times |x| ≤ 2, plus the product's u·2^⌊log2 0.2⌋ = u/8."""
    k = kernel(ranges(x=(1, 2)) + "double f(double x) { return 0.1 * x; }")
    literal_error = float(abs(Fraction(*gmpy2.mpfr("0.1", 53).as_integer_ratio())
                              - Fraction(1, 10)))
    expected = 2 * literal_error + U / 8
    result = all_double(k)
    assert result.value is not None
    assert expected <= result.value <= expected * 1.01 + TINY


def test_power_of_two_products_do_not_round_and_narrow_sites_widen_the_bound() -> None:
    """2*x is exact in MPFR when x fits the site's precision (unbounded exponents); at 20
    bits it rounds (≤ 4·2^-20, seen through 1/y ≤ 1/3) and so does the quotient (≤ 2^-20,
    the quotient stays below 2): 7/3·2^-20. At 80 bits only the conversion to double
    (≤ u) and the quotient (2^-80) remain."""
    k = kernel(ranges(x=(1, 2), y=(3, 4))
               + "double f(double x, double y) { return (2.0 * x) / y; }")
    result = all_double(k)
    assert result.value is not None
    # 2x/y ∈ [0.5, 4/3]: binade 1, one rounding at 53 bits.
    assert U <= result.value <= U * 1.01 + TINY
    narrow = bound(k, [20, 20], budget_seconds=2.0)
    assert narrow.value is not None
    assert 7 / 3 * 2.0**-20 <= narrow.value <= 7 / 3 * 2.0**-20 * 1.01
    wide = bound(k, [80, 80], budget_seconds=2.0)
    assert wide.value is not None and U <= wide.value <= U * 1.01 + 2.0**-80


def test_float_kernel_pays_the_conversion_to_float() -> None:
    k = load_c(EXAMPLES / "saxpy_float.c")
    result = bound(k, [60] * len(k.sites), budget_seconds=1.0)
    assert result.value is not None and result.value >= 2.0**-24


def test_all_double_bounds_are_as_tight_as_fptaylor() -> None:
    """≤ 2× FPTaylor's published binary64 bound on every Table-1 kernel and ≤ 1.25× on at
    least 13 of 15 (FPTaylor also charges the rounding of every input; we do not)."""
    published = json.loads((BENCHMARKS / "fptaylor_bounds.json").read_text())["bounds"]
    ratios = {}
    for name, theirs in published.items():
        result = all_double(benchmark(name))
        assert result.value is not None, (name, result.reason)
        assert result.lower <= result.value
        ratios[name] = result.value / theirs
    assert max(ratios.values()) <= 2, ratios
    assert sum(r <= 1.25 for r in ratios.values()) >= 13, ratios


def test_undecided_branch_is_bounded_path_by_path_and_says_so() -> None:
    result = all_double(load_c(EXAMPLES / "piecewise.c"))
    assert result.value is not None
    assert not result.covers_divergence
    assert "not covering branch divergence" in result.describe()


def test_branch_decided_on_the_whole_box_covers_divergence() -> None:
    k = kernel(ranges(x=(1, 2)) + "double f(double x) { return x > 0.5 ? x * x : x - 1.0; }")
    result = all_double(k)
    assert result.value is not None and result.covers_divergence


def test_undefined_operation_gives_no_bound_and_the_reason() -> None:
    k = kernel(ranges(x=(0, 1)) + "#include <math.h>\ndouble f(double x) { return log(x); }")
    result = bound(k, [53], budget_seconds=2.0)
    assert result.value is None and not result.sound
    assert "log" in result.describe() and result.describe().startswith("none")


def test_loops_charge_every_execution() -> None:
    """s += x three times from 0 on [1,1.5]: the sums reach 1.5, 3 and 4.5 (binades 1, 2
    and 4; an addition is never assumed exact): (1 + 2 + 4)·u."""
    k = kernel(ranges(x=(1, 1.5)) + "double f(double x) { double s = 0.0;\n"
               "for (int i = 0; i < 3; i++) { s = s + x; }\nreturn s; }")
    result = all_double(k)
    assert result.value is not None
    assert 7 * U <= result.value <= 7 * U * 1.01 + TINY


def test_a_statement_the_tape_does_not_model_gives_no_bound() -> None:
    """A statement kind the tape does not know (a while loop, say) is refused by name."""
    from dataclasses import replace

    class While:
        pass

    k = kernel(ranges(x=(1, 2)) + "double f(double x) { return x * x; }")
    body = replace(k.body, stmts=(While(), *k.body.stmts))  # type: ignore[arg-type]
    result = bound(replace(k, body=body), [53])
    assert result.value is None and result.reason == "while statements have no bound"


def test_a_search_that_does_not_converge_is_deterministic() -> None:
    """The budget counts tape nodes, not seconds: the same allocation gives the same bound
    (and so the same tuned-file header) however loaded the machine is."""
    k = load_c(EXAMPLES / "euler.c")
    first = bound(k, [53] * len(k.sites), work=200_000)
    second = bound(k, [53] * len(k.sites), work=200_000)
    assert not first.converged and first.value is not None
    assert (first.value, first.boxes) == (second.value, second.boxes)


def test_an_fpcore_while_loop_gives_no_bound_cleanly() -> None:
    from precisec.frontend.fpcore import parse_fpcore

    k = parse_fpcore("(FPCore (x) :pre (<= 1 x 2) (while (< x 3) ([x x (+ x 1)]) x))",
                     "w.fpcore")
    result = bound(k, [53] * len(k.sites))
    assert result.value is None and result.describe() == "none (while statements have no bound)"
