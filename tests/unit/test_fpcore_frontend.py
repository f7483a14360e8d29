"""The FPCore frontend (precisec.frontend.fpcore): cores to kernels of the structured IR,
located refusals, the same results as the frontend it replaces (fpcore_corpus.json), and
the defining interpreter against an independent mpmath evaluation."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import mpmath
import numpy as np
import pytest

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.fpcore import (
    ARGUMENT_NAMES_KEY,
    load_fpcore,
    parse_fpcore,
    parse_tuned_fpcore,
    read_fpcores,
)
from precisec.frontend.fpcore.forms import constant_text
from precisec.frontend.fpcore.names import argument_identifiers, kernel_identifier
from precisec.frontend.fpcore.reader import SIGNIFICANT_DIGITS, Datum, Number, SList, Symbol
from precisec.frontend.fpcore.reader import read_data as read_sexprs
from precisec.ir.core import Cond, Eqn, Kernel, Lit, Var, walk
from precisec.semantics.interpret import point_outputs, run

HERE = Path(__file__).resolve().parent
SAMPLES = HERE / "fpcore_samples"
FPBENCH = Path(__file__).resolve().parents[3] / "shared" / "fpbench"
FIXTURE = json.loads((HERE / "fpcore_corpus.json").read_text())["entries"]
RANGE = ":pre (<= 0 x 1)"


def error_of(source: str, **kwargs: object) -> PrecisecError:
    with pytest.raises(PrecisecError) as info:
        parse_fpcore(source, "k.fpcore", **kwargs)  # type: ignore[arg-type]
    assert info.value.loc.file == "k.fpcore"
    return info.value


def eqns(kernel: Kernel) -> list[Eqn]:
    return [s for s in walk(kernel.body) if isinstance(s, Eqn)]


def sample(name: str) -> Kernel:
    path = SAMPLES / "branches.fpcore"
    return parse_fpcore(path.read_text(), str(path), function=name)


# -- kernels ----------------------------------------------------------------------------------


def test_operations_are_sites_located_at_their_parenthesis() -> None:
    source = ("(FPCore f (x y)\n"
              " :pre (and (<= 0 x 1) (<= 2 y 3))\n"
              " (let ([a (* x y)])\n"
              "   (- (sqrt a)\n"
              "      (- a))))\n")
    kernel = parse_fpcore(source, "k.fpcore")
    assert kernel.name == "f" and kernel.loc == SourceLoc("k.fpcore", 1, 1)
    assert kernel.input_labels == ("x", "y") and kernel.returns and not kernel.outputs
    assert (kernel.inputs[1].lo, kernel.inputs[1].hi) == ((2.0,), (3.0,))
    assert kernel.inputs[1].loc == SourceLoc("k.fpcore", 1, 14)
    mul, sqrt, neg, sub = eqns(kernel)
    x, y = kernel.body.params
    assert [(e.op, e.loc.line, e.loc.col, e.site) for e in eqns(kernel)] == [
        ("mul", 3, 11, 0), ("sqrt", 4, 7, 1), ("neg", 5, 7, None), ("sub", 4, 4, 2)]
    assert mul.args == (x, y) and mul.out.hint == "a"
    assert sqrt.args == (mul.out,) and neg.args == (mul.out,)
    assert sub.args == (sqrt.out, neg.out) and kernel.body.results == (sub.out,)
    assert [(s.op, s.loc.line) for s in kernel.sites] == [("mul", 3), ("sqrt", 4), ("sub", 4)]
    assert kernel.target_rmse is None and kernel.precision == "double"


def test_let_is_parallel_and_let_star_sequential() -> None:
    pre = ":pre (<= 1 x 2)"
    (add,) = eqns(parse_fpcore(f"(FPCore (x) {pre} (let ([x 3] [y x]) (+ x y)))", "k"))
    assert add.args[0] == Lit.real("3") and isinstance(add.args[1], Var)
    (add,) = eqns(parse_fpcore(f"(FPCore (x) {pre} (let* ([x 3] [y x]) (+ x y)))", "k"))
    assert add.args == (Lit.real("3"), Lit.real("3"))
    shadow = parse_fpcore("(FPCore (PI) :pre (<= 1 PI 2) (+ PI E))", "k")
    (add,) = eqns(shadow)
    assert add.args == (shadow.body.params[0], Lit.real(constant_text("E")))


def test_annotations_and_precisions_in_2_0_syntax() -> None:
    source = ("(FPCore g ((! :precision binary64 x))\n"
              " :precision real :pre (< -1 x 1)\n"
              " (! :precision (float 11 64) :round nearestEven (+ x (! :precision real 1))))")
    kernel = parse_fpcore(source, "k.fpcore")
    (add,) = eqns(kernel)
    assert add.args == (kernel.body.params[0], Lit.real("1"))
    assert kernel.inputs[0].lo == (math.nextafter(-1.0, 0.0),)  # strict: open


@pytest.mark.parametrize(("literal", "text"), [
    ("(digits 314 -2 10)", "3.14"), ("(- 331.4)", "-331.4"), ("(- -2)", "2"),
    ("1/3", "0." + "3" * SIGNIFICANT_DIGITS), ("(- PI)", "-" + constant_text("PI")),
])
def test_constants_are_literals(literal: str, text: str) -> None:
    (add,) = eqns(parse_fpcore(f"(FPCore (x) {RANGE} (+ x {literal}))", "k"))
    assert add.args[1] == Lit.real(text)


@pytest.mark.parametrize(("name", "value"), [
    ("PI", lambda: mpmath.pi), ("E", lambda: mpmath.e), ("LN2", lambda: mpmath.ln2),
    ("LN10", lambda: mpmath.ln10), ("LOG2E", lambda: 1 / mpmath.ln2),
    ("LOG10E", lambda: 1 / mpmath.ln10), ("PI_2", lambda: mpmath.pi / 2),
    ("PI_4", lambda: mpmath.pi / 4), ("M_1_PI", lambda: 1 / mpmath.pi),
    ("M_2_PI", lambda: 2 / mpmath.pi), ("M_2_SQRTPI", lambda: 2 / mpmath.sqrt(mpmath.pi)),
    ("SQRT2", lambda: mpmath.sqrt(2)), ("SQRT1_2", lambda: 1 / mpmath.sqrt(2)),
])
def test_constants_have_120_correct_digits(name: str, value: Callable[[], object]) -> None:
    text = constant_text(name)
    assert len(Decimal(text).as_tuple().digits) == SIGNIFICANT_DIGITS
    with mpmath.workdps(300):
        truth = value()
        assert abs(mpmath.mpf(text) - truth) / truth < mpmath.mpf(10) ** (1 - SIGNIFICANT_DIGITS)


def test_ranges_from_pre_bounds() -> None:
    source = ("(FPCore (a b c d) :pre (and (and (<= -2 a) (<= a 5)) (> 4 b) (>= b (- PI))\n"
              "  (< 0 c 1/4) (<= 1/8 c 2 3) (>= 7 d 6) (<= d 8) TRUE) (+ (+ a b) (+ c d)))")
    kernel = parse_fpcore(source, "k.fpcore")
    assert list(zip(kernel.lows, kernel.highs, strict=True)) == [
        (-2.0, 5.0), (-float(mpmath.pi), math.nextafter(4.0, 0.0)),
        (0.125, math.nextafter(0.25, 0.0)), (6.0, 7.0)]


def test_tightest_bounds_win_and_exclusions_change_nothing() -> None:
    kernel = parse_fpcore("(FPCore (x) :pre (and (<= 0 x 4) (<= 1 x 3)) x)", "k")
    assert (kernel.lows, kernel.highs) == ((1.0,), (3.0,))
    assert kernel.body.results == kernel.body.params and not kernel.sites
    kernel = parse_fpcore("(FPCore (x y) :pre (and (<= 0 x 1) (!= x 0) (<= -2 y 3) (!= y x))"
                          " (+ x y))", "t.fpcore")
    assert (kernel.lows, kernel.highs) == ((0.0, -2.0), (1.0, 3.0))


def test_target_rmse_names_and_properties() -> None:
    kernel = parse_fpcore('(FPCore (x) :name "NMSE example 3.1" :precisec-rmse 1e-15\n'
                          ':cite (a b) :pre (<= 0 x 1) (sqrt x))', "k")
    assert kernel.name == "NMSE_example_3_1" and kernel.target_rmse == 1e-15
    assert kernel.properties == (("fpcore.arguments", "x"), (":name", '"NMSE example 3.1"'),
                                 (":precisec-rmse", "1e-15"), (":cite", "(a b)"),
                                 (":pre", "(<= 0 x 1)"))
    assert kernel_identifier("3d thing") == "k_3d_thing"
    assert kernel_identifier("sin") == "k_sin" and kernel_identifier("while") == "k_while"
    assert kernel_identifier("Rump's example, with pow") == "Rump_s_example__with_pow"
    assert kernel_identifier("pc_kernel") == "k_pc_kernel"
    assert parse_fpcore(f"(FPCore (x) {RANGE} x)", "k").name == "fpcore_0"


def test_arguments_that_are_not_c_identifiers_get_c_names() -> None:
    source = ("(FPCore (x-y a.b x_y pc_z sin _u NAN λ)\n"
              " :pre (and (<= 0 x-y 1) (<= 0 a.b 1) (<= 0 x_y 1) (<= 0 pc_z 1) (<= 0 sin 1)\n"
              "           (<= 0 _u 1) (<= 0 NAN 1) (<= 0 λ 1))\n"
              " (+ x-y (+ a.b (+ x_y (+ pc_z (+ sin (+ _u (+ NAN λ))))))))")
    kernel = parse_fpcore(source, "k")
    names = ("x_y_2", "a_b", "x_y", "v_pc_z", "v_sin", "v__u", "v_NAN", "v__")
    assert kernel.input_labels == names
    assert tuple(v.hint for v in kernel.body.params) == names
    assert kernel.prop(ARGUMENT_NAMES_KEY) == "x-y a.b x_y pc_z sin _u NAN λ"
    assert argument_identifiers(["a-b", "a_b", "a_b_2"]) == ("a_b_3", "a_b", "a_b_2")
    err = error_of("(FPCore (x-y) :pre (<= 1 x-y 0) x-y)")
    assert err.message.startswith("empty range for `x-y`")


MULTI = ('(FPCore one (x) :pre (<= 0 x 1) (+ x 1))\n'
         '(FPCore (x) :name "second" :pre (<= 0 x 1) (* x 2))\n'
         '(FPCore two (x) :name "second" :pre (<= 0 x 1) (- x 2))\n'
         '(FPCore (x) (if x x x))\n')


def test_selection_by_name_identifier_and_index() -> None:
    assert eqns(parse_fpcore(MULTI, "m", function="one"))[0].op == "add"
    assert eqns(parse_fpcore(MULTI, "m", function="two"))[0].op == "sub"
    assert eqns(parse_fpcore(MULTI, "m", index=1))[0].op == "mul"
    assert parse_fpcore(MULTI, "m", index=1).name == "second"
    entries = read_fpcores(MULTI, "m")
    assert [e.name for e in entries] == ["one", "second", "second", "#3"]
    assert [e.identifier for e in entries] == ["one", None, "two", None]
    assert [e.supported for e in entries] == [True, True, True, False]
    assert entries[1].kernel is not None and entries[1].kernel.name == "second"
    assert entries[3].reason is not None and entries[3].kernel is None
    assert entries[3].reason.startswith("`x` is not a supported condition")
    assert entries[3].reason_loc == SourceLoc("m", 4, 17)
    assert entries[0].args == ("x",) and entries[2].loc == SourceLoc("m", 3, 1)
    annotated = read_fpcores("(FPCore ((! :precision integer n) (v 3)) n)", "a")[0]
    assert annotated.args == ("n", "(v 3)") and not annotated.supported


@pytest.mark.parametrize(("kwargs", "where", "message"), [
    ({}, (2, 1), "several FPCores ('one', 'second', 'second', '#3'); choose one with"),
    ({"function": "second"}, (3, 1), "several FPCores are named 'second' (at lines 2, 3)"),
    ({"function": "nope"}, (1, 1), "no FPCore named 'nope' (found: 'one', 'second'"),
    ({"index": 9}, (1, 1), "no FPCore number 9 (the file has 4"),
    ({"index": 0, "function": "two"}, (1, 1), "FPCore number 0 is 'one', not 'two'"),
])
def test_selection_errors(kwargs: dict[str, object], where: tuple[int, int],
                          message: str) -> None:
    with pytest.raises(PrecisecError) as info:
        parse_fpcore(MULTI, "m", **kwargs)  # type: ignore[arg-type]
    assert (info.value.loc.line, info.value.loc.col) == where
    assert message in info.value.message


def test_load_fpcore_errors() -> None:
    with pytest.raises(PrecisecError, match="cannot read file"):
        load_fpcore(SAMPLES / "missing.fpcore")
    with pytest.raises(PrecisecError) as info:
        parse_fpcore("; nothing\n", "e")
    assert info.value.message == "no FPCore found"


def test_deep_nesting_parses_or_is_a_located_refusal() -> None:
    depth = 500
    for body in ("(+ x " * depth + "1" + ")" * depth,
                 "(if (< x 0.5) (* x x) " * depth + "1" + ")" * depth):
        kernel = parse_fpcore(f"(FPCore (x) {RANGE} {body})", "d")
        assert len(kernel.sites) == depth
    err = error_of(f"(FPCore (x) {RANGE} " + "(- " * 100_000 + "x" + ")" * 100_000 + ")")
    assert err.message == "expression nested too deeply" and err.loc.line == 1


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "where", "message"), [
    (f"(FPCore (x) {RANGE}\n (if (< x 0.5) x))", (2, 2),
     "`if` takes a condition and two expressions"),
    (f"(FPCore (x) {RANGE}\n (if (+ x 1) x (- x)))", (2, 6),
     "`(+ x 1)` is not a supported condition"),
    (f"(FPCore (x) {RANGE}\n (if (< x) 1 2))", (2, 6), "comparison `<` needs two operands"),
    (f"(FPCore (x) {RANGE}\n (if (not (< x 1) TRUE) 1 2))", (2, 6), "`not` takes 1 argument"),
    (f"(FPCore (x) {RANGE}\n (while (< x 1) ([x x]) x))", (2, 18),
     "malformed `while` binding `(x x)`; expected [name init update]"),
    (f"(FPCore (x) {RANGE}\n (while* TRUE () x))", (2, 15), "`while*` binds no variable"),
    (f"(FPCore (x) {RANGE}\n (while (< x 1) ([x x x] [x 1 1]) x))", (2, 26),
     "`x` is bound twice in one `while`"),
    (f"(FPCore (x) {RANGE}\n (while (< x 1) ([x x x]) x y))", (2, 2),
     "`while` needs a condition, a binding list and a body"),
    (f"(FPCore (x) {RANGE}\n (for ([i 3]) ([y x y]) y))", (2, 2), "`for` loops"),
    (f"(FPCore (x) {RANGE}\n (tensor ([i 3]) x))", (2, 2), "`tensor` (arrays)"),
    (f"(FPCore (x) {RANGE}\n (+ 1 (erf x)))", (2, 7),
     "unknown operation `erf` (not in precisec's operation table)"),
    (f"(FPCore (x) {RANGE}\n (+ x x x))", (2, 2), "`+` takes 2 argument(s), got 3"),
    (f"(FPCore (x) {RANGE}\n (- x x x))", (2, 2), "`-` takes 1 or 2 argument(s), got 3"),
    (f"(FPCore (x) {RANGE}\n (+ x i))", (2, 7), "unknown variable `i`"),
    (f"(FPCore (x) {RANGE}\n (< x 1))", (2, 2),
     "comparison `<` is only supported in :pre and in `if`"),
    (f"(FPCore (x) {RANGE}\n (and x 1))", (2, 2),
     "boolean `and` is only supported in :pre and in `if`"),
    (f"(FPCore (x) {RANGE}\n (+ x INFINITY))", (2, 7), "constant `INFINITY` is not finite"),
    (f"(FPCore (x) {RANGE}\n (+ x (digits 1 2)))", (2, 7), "`digits` takes three integers"),
    (f"(FPCore (x) {RANGE}\n (+ x (digits 1 99999 2)))", (2, 7), "`digits` number is out of"),
    (f"(FPCore (x) {RANGE}\n (+ x (digits 1 2 1)))", (2, 7), "a base of at least 2"),
    (f"(FPCore (x) {RANGE}\n (cast x))", (2, 2), "`cast` is not supported"),
    (f"(FPCore (x) {RANGE}\n (# (+ x 1)))", (2, 2), "`#` (integer precision)"),
    (f"(FPCore (x) {RANGE}\n (let ([a 1] [a 2]) a))", (2, 14), "`a` is bound twice"),
    (f"(FPCore (x) {RANGE}\n (let ([a]) a))", (2, 8), "malformed `let` binding `(a)`"),
    (f"(FPCore (x) {RANGE}\n (let* x))", (2, 2), "`let*` needs a binding list and a body"),
    (f"(FPCore (x) {RANGE}\n ((f x) 1))", (2, 2), "expected an operation, got `(f x)`"),
    (f"(FPCore (x) {RANGE}\n \"text\")", (2, 2), "a string is not a numeric expression"),
    (f"(FPCore (x) {RANGE}\n (+ x ()))", (2, 7), "empty expression `()`"),
    (f"(FPCore (x) {RANGE}\n (! :precision binary32 (+ x 1)))", (2, 16),
     "`:precision binary32` (float operations) is not supported yet"),
    (f"(FPCore (x) {RANGE}\n (! :precision (float 8 24) x))", (2, 16),
     "precision `(float 8 24)` is not supported yet"),
    (f"(FPCore (x) {RANGE}\n (! :round toZero (+ x 1)))", (2, 12),
     "rounding mode `toZero` is not supported"),
    (f"(FPCore ((! :precision integer n)) {RANGE} n)", (1, 24),
     "integer values (:precision integer) are not supported"),
    (f"(FPCore ((x 3)) {RANGE} x)", (1, 10), "array argument `x` is not supported"),
    (f"(FPCore ((! :precision binary64 x 3)) {RANGE} x)", (1, 10), "array argument `x`"),
    (f"(FPCore (x x) {RANGE} x)", (1, 12), "argument `x` appears twice"),
    ("(FPCore (x)\n :pre (<= 1 x 0) x)", (2, 7), "empty range for `x` in :pre: 1.0 > 0.0"),
    ("(FPCore (x)\n :pre (< 1 x 1) x)", (2, 7), "empty range for `x` in :pre"),
    ("(FPCore (x)\n :pre (and (<= 0 x 1) (!= x q)) x)", (2, 29), "unknown variable `q`"),
    ("(FPCore (x)\n :pre (<= 0 x INFINITY) x)", (2, 15), "constant `INFINITY` is not finite"),
    ("(FPCore (x)\n :pre (<= 0 z 1) x)", (2, 13), "unknown variable `z`"),
    ("(FPCore (x)\n :pre (<= 0 x 1 0.5) x)", (2, 7), "always false"),
    ("(FPCore (x)\n :pre (and (<= 0 x 1) (< 2 2)) x)", (2, 23), "always false"),
    ("(FPCore (x)\n :pre FALSE x)", (2, 7), "`FALSE` in :pre is always false"),
    ("(FPCore (x)\n :pre (let ([a (if (< x 0) 1 2)]) (< x a)) x)", (2, 16),
     "a precondition may not branch or loop"),
    ("(FPCore (x)\n :pre (let ([a 1] [a 2]) (< x a)) x)", (2, 19), "bound twice"),
    (f"(FPCore (x) {RANGE} :precisec-rmse 1 :precisec-bits 2 x)", (1, 61),
     "one error target per FPCore"),
    (f"(FPCore (x) {RANGE} :precisec-rmse -1 x)", (1, 44),
     "`:precisec-rmse` must be a positive number, got `-1`"),
    (f"(FPCore (x) {RANGE} :precisec-rmse 1e-400 x)", (1, 44), "underflows to 0"),
    (f"(FPCore (x) {RANGE} :pre (<= 0 x 2) x)", (1, 29), "second `:pre` property"),
    (f"(FPCore (x) {RANGE} x y)", (1, 31), "unexpected `y` after the body"),
    (f"(FPCore (x) {RANGE})", (1, 1), "the FPCore has no body"),
    (f"(FPCore (x) {RANGE} x :name)", (1, 31), "property `:name` has no value"),
    ("(FPCore :name \"a\" x)", (1, 9), "expected the argument list of the FPCore"),
    ("(fpcore (x) x)", (1, 1), "expected (FPCore ...), got `(fpcore (x) x)`"),
])
def test_refusals_are_located(source: str, where: tuple[int, int], message: str) -> None:
    err = error_of(source)
    assert message in err.message, err.message
    assert (err.loc.line, err.loc.col) == where, str(err)
    assert str(err).startswith(f"k.fpcore:{where[0]}:{where[1]}: error: ")


@pytest.mark.parametrize("name", ["doppler1", "jet", "verhulst"])
def test_table_1_twins_are_the_c_kernels(name: str) -> None:
    """The FPCore samples are FPTuner's kernels as the C benchmarks write them: the same
    kernel value for value, site for site (only the places differ)."""
    from test_fpcore_emit import structure

    from precisec.frontend.c import load_c

    ours = load_fpcore(SAMPLES / f"{name}.fpcore")
    theirs = load_c(HERE.parents[1] / "benchmarks_fptuner" / f"{name}.c")
    assert structure(ours) == structure(theirs)
    assert all(site.loc.file.endswith(f"{name}.fpcore") for site in ours.sites)


# -- branches -----------------------------------------------------------------------------


def test_if_becomes_a_cond_with_a_region_per_side() -> None:
    kernel = sample("piecewise")
    (lt, cond) = kernel.body.stmts
    assert isinstance(lt, Eqn) and lt.op == "lt" and lt.args[1] == Lit.real("0")
    assert isinstance(cond, Cond) and cond.pred is lt.out and cond.branch == 0
    assert kernel.n_branches == 1 and kernel.body.results == cond.outs
    (mul,) = cond.then.stmts
    (sqrt,) = cond.other.stmts
    assert isinstance(mul, Eqn) and mul.op == "mul" and cond.then.results == (mul.out,)
    assert isinstance(sqrt, Eqn) and sqrt.op == "sqrt" and cond.other.results == (sqrt.out,)
    assert (cond.loc.line, cond.loc.col) == (3, 40)
    assert run(kernel, [-1.5], exact_bits=200).trace == [1]
    assert run(kernel, [1.5], exact_bits=200).trace == [0]


def test_nested_ifs_number_branches_in_evaluation_order() -> None:
    kernel = sample("nested")
    conds = [s for s in walk(kernel.body) if isinstance(s, Cond)]
    assert [c.branch for c in conds] == [0, 1, 2] and kernel.n_branches == 3
    add_s = kernel.body.stmts[0]  # `s` is computed before the branch, outside it
    assert isinstance(add_s, Eqn) and add_s.op == "add" and add_s.out.hint == "s"
    inner = conds[2]
    assert inner.other.results == (Lit.real("2.5"),) and not inner.other.stmts
    assert run(kernel, [-1.0, 0.0], exact_bits=200).trace == [1]
    assert run(kernel, [1.0, 0.75], exact_bits=200).trace == [0, 2 * 1 + 1]
    assert run(kernel, [1.5, 0.0], exact_bits=200).trace == [0, 2 * 1 + 0, 2 * 2 + 0]


def test_comparisons_chain_into_and() -> None:
    chained = sample("chained")
    ops = [e.op for e in eqns(chained)]
    assert ops[:6] == ["mul", "lt", "lt", "lt", "and", "and"]
    lt1, lt2, lt3, and1, and2 = (e for e in eqns(chained)[1:6])
    assert and1.args == (lt1.out, lt2.out) and and2.args == (and1.out, lt3.out)
    kernel = parse_fpcore("(FPCore (x y) :pre (and (<= 0 x 1) (<= 0 y 1)) "
                          "(if (!= x y 0.5) x y))", "c.fpcore")
    x, y = kernel.body.params
    assert [e.args for e in eqns(kernel) if e.op == "ne"] == [
        (x, y), (x, Lit.real("0.5")), (y, Lit.real("0.5"))]


def test_constant_conditions_pick_a_side() -> None:
    kernel = sample("static")
    assert [e.op for e in eqns(kernel)] == ["log"] and kernel.n_branches == 0
    kernel = parse_fpcore(f"(FPCore (x) {RANGE} (if (or FALSE (not TRUE)) x (if (and (< x 1) "
                          "TRUE) x 2)))", "s")
    assert [e.op for e in eqns(kernel)] == ["lt"] and kernel.n_branches == 1


def test_binary32_core_is_a_float_kernel() -> None:
    kernel = sample("f32_kernel")
    assert kernel.precision == "float" and kernel.baseline_bits == 24
    assert kernel.name == "f32_kernel" and [s.op for s in kernel.sites] == [
        "mul", "add", "mul", "sub", "div"]


def test_tuned_cores_carry_their_precisions() -> None:
    source = ("(FPCore (x) :precision binary32 :pre (<= 0 x 1)\n"
              " (+ (! :precision (float 11 31) (* x x)) (! :precision binary64 (sqrt x))))")
    kernel, bits = parse_tuned_fpcore(source, "t")
    assert kernel.precision == "float" and bits == [20, 53, 24]
    with pytest.raises(PrecisecError, match="precision `real` is not supported"):
        parse_tuned_fpcore(f"(FPCore (x) {RANGE} (! :precision real (+ x 1)))", "t")


# -- the same results as the frontend this one replaces -----------------------------------


def _entries() -> dict[tuple[str, int], object]:
    found = {}
    for path in sorted(FPBENCH.glob("*.fpcore")) + sorted(SAMPLES.glob("*.fpcore")):
        file = path.name if path.parent == FPBENCH else f"fpcore_samples/{path.name}"
        for entry in read_fpcores(path.read_text(), file):
            found[file, entry.index] = entry
    return found


LIFTED = ("has no range", "has no upper bound", "has no lower bound", "in :pre is neither",
          "`let` in :pre")
"""Refusals of the old frontend that unbounded ranges and preconditions lift."""


@pytest.mark.skipif(not FPBENCH.is_dir(), reason="FPBench corpus not present")
def test_corpus_and_samples_match_the_old_frontend() -> None:
    """Every FPCore of the corpus and of the samples: the same refusal (message and
    place) unless it is one of the LIFTED ones (then a kernel), or the same sites
    (operation and place, in order), inputs (a strict bound one value inward: open),
    names and target;
    and the defining interpreter gives the old reference's exact results and the old
    emulator's results at a random allocation, bit for bit."""
    entries = _entries()
    assert len(entries) == len(FIXTURE)
    for record in FIXTURE:
        entry = entries[record["file"], record["index"]]
        assert entry.name == record["name"]  # type: ignore[attr-defined]
        if "refusal" in record and any(lifted in record["refusal"] for lifted in LIFTED):
            assert entry.kernel is not None, (record, entry.reason)  # type: ignore[attr-defined]
            continue
        if "refusal" in record and "loops are not supported" in record["refusal"]:
            # while loops are built now: a kernel, or a refusal of something else in it
            assert entry.kernel is not None or "while" not in entry.reason, record  # type: ignore[attr-defined]
            continue
        if "refusal" in record:
            loc = entry.reason_loc  # type: ignore[attr-defined]
            assert loc is not None, record
            assert f"{loc.line}:{loc.col}: {entry.reason}" == record["refusal"]  # type: ignore[attr-defined]
            continue
        kernel = entry.kernel  # type: ignore[attr-defined]
        assert kernel is not None, (record, entry.reason)  # type: ignore[attr-defined]
        assert [f"{s.op} {s.loc.line}:{s.loc.col}" for s in kernel.sites] == record["sites"]
        for p, (name, lo, hi) in zip(kernel.inputs, record["inputs"], strict=True):
            assert p.name == name
            assert p.lo[0] in (lo, math.nextafter(lo, math.inf))
            assert p.hi[0] in (hi, math.nextafter(hi, -math.inf))
        assert (kernel.name, kernel.precision, kernel.target_rmse) == \
            (record["kernel"], record["precision"], record["target"])
        for point, exact, emulated in zip(record["points"], record["exact"],
                                          record["emulated"], strict=True):
            assert float(run(kernel, point, exact_bits=320).results[0]) == exact
            assert point_outputs(kernel, point, record["bits"]) == [emulated]


@pytest.mark.skipif(not FPBENCH.is_dir(), reason="FPBench corpus not present")
def test_corpus_counts() -> None:
    entries = [e for (file, _), e in _entries().items() if "/" not in file]
    supported = sum(e.supported for e in entries)  # type: ignore[attr-defined]
    assert (len(entries), supported) == (84, 82)  # 19 while loops, 5 with array results


# -- the defining interpreter against mpmath --------------------------------------------------

_MP_OPS: dict[str, Callable[..., object]] = {
    "+": lambda a, b: a + b, "-": lambda a, b=None: -a if b is None else a - b,
    "*": lambda a, b: a * b, "/": lambda a, b: a / b, "sqrt": mpmath.sqrt, "exp": mpmath.exp,
    "log": mpmath.log, "sin": mpmath.sin, "cos": mpmath.cos, "fabs": abs,
    "pow": mpmath.power, "atan": mpmath.atan, "cbrt": mpmath.cbrt,
    "<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


def mp_eval(datum: Datum, env: Mapping[str, object]) -> object:
    """A small independent FPCore evaluator in mpmath (the working precision)."""
    if isinstance(datum, Number):
        return mpmath.mpf(datum.value.numerator) / datum.value.denominator
    if isinstance(datum, Symbol):
        if datum.name in env:
            return env[datum.name]
        return {"PI": mpmath.pi, "E": mpmath.e, "TRUE": True, "FALSE": False}[datum.name]
    assert isinstance(datum, SList) and isinstance(datum.items[0], Symbol)
    name, args = datum.items[0].name, datum.items[1:]
    if name in ("let", "let*"):
        inner = dict(env)
        for binding in args[0].items:  # type: ignore[union-attr]
            key, value = binding.items  # type: ignore[union-attr]
            inner[key.name] = mp_eval(value, inner if name == "let*" else env)  # type: ignore[union-attr]
        return mp_eval(args[1], inner)
    if name == "if":
        return mp_eval(args[1] if mp_eval(args[0], env) else args[2], env)
    if name == "!":
        return mp_eval(args[-1], env)
    if name == "digits":
        m, e, b = (mp_eval(a, env) for a in args)
        return m * mpmath.power(b, e)
    values = [mp_eval(a, env) for a in args]
    if name in ("and", "or"):
        return all(values) if name == "and" else any(values)
    if name == "not":
        return not values[0]
    if name in ("<", ">", "<=", "==", "!=") and len(values) > 2:
        pairs = [(a, b) for k, a in enumerate(values) for b in values[k + 1:]] \
            if name == "!=" else list(pairwise(values))
        return all(_MP_OPS[name](a, b) for a, b in pairs)
    return _MP_OPS[name](*values)


@pytest.mark.parametrize(("path", "name"), [
    ("branches.fpcore", "piecewise"), ("branches.fpcore", "nested"),
    ("branches.fpcore", "shared"), ("branches.fpcore", "chained"),
    ("branches.fpcore", "f32 kernel"), ("branches.fpcore", "constants and let"),
    ("doppler1.fpcore", "doppler1"), ("jet.fpcore", "jet"), ("verhulst.fpcore", "verhulst"),
])
def test_exact_interpretation_matches_mpmath(path: str, name: str) -> None:
    source = (SAMPLES / path).read_text()
    (index,) = [e.index for e in read_fpcores(source, path) if e.name == name]
    kernel = parse_fpcore(source, path, index=index)
    core = read_sexprs(source, path)[index]
    assert isinstance(core, SList)
    arguments = next(d for d in core.items[1:] if isinstance(d, SList))
    names = [a.name if isinstance(a, Symbol) else a.items[-1].name  # type: ignore[union-attr]
             for a in arguments.items]
    rng = np.random.default_rng(7)
    points = rng.uniform(kernel.lows, kernel.highs, (25, len(kernel.inputs)))
    if kernel.precision == "float":
        points = points.astype(np.float32).astype(np.float64)
    for point in points:
        with mpmath.workprec(320):
            env = {n: mpmath.mpf(float(v)) for n, v in zip(names, point, strict=True)}
            want = mp_eval(core.items[-1], env)
            got = mpmath.mpf(run(kernel, point, exact_bits=320).results[0])
            assert abs(got - want) <= abs(want) * mpmath.mpf(2) ** -300, (point, got, want)
