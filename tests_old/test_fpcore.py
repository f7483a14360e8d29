"""The FPCore frontend (precisec.frontend.fpcore) and emitter (precisec.backend.fpcore_out)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import mpmath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precisec.backend.fpcore_out import emit_fpcore, fpcore_precision
from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.c import load_c
from precisec.frontend.fpcore import (
    MAX_EXPONENT,
    SIGNIFICANT_DIGITS,
    Number,
    SList,
    String,
    Symbol,
    constant_text,
    kernel_identifier,
    load_fpcore,
    parse_fpcore,
    parse_tuned_fpcore,
    read_data,
    read_fpcores,
)
from precisec.ir import Const, Input, Kernel, Op
from precisec.ops import OPS
from precisec.reference import emulate, exact, sample_inputs

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(__file__).resolve().parent / "fpcore_samples"
FPBENCH = Path("/work/shared/fpbench")
FPBENCH_FILES = sorted(FPBENCH.glob("*.fpcore"))
LOC = SourceLoc("k.c", 1, 1)


def error_of(source: str, **kwargs: object) -> PrecisecError:
    with pytest.raises(PrecisecError) as info:
        parse_fpcore(source, "k.fpcore", **kwargs)  # type: ignore[arg-type]
    assert info.value.loc.file == "k.fpcore"
    return info.value


def at(err: PrecisecError) -> tuple[int, int]:
    return err.loc.line, err.loc.col


def const_values(kernel: Kernel) -> list[Fraction]:
    return [n.value for n in kernel.nodes if isinstance(n, Const)]


def ops(kernel: Kernel) -> list[tuple[str, tuple[int, ...]]]:
    return [(n.op, n.args) for n in kernel.nodes if isinstance(n, Op)]


# -- the reader -----------------------------------------------------------------------------


def test_reader_positions_comments_strings_and_brackets() -> None:
    source = ('; comment (ignored\n'
              '(FPCore (x)  ; trailing\n'
              '\t:name "a \\"b\\"\nc"\n'
              '  [let 1/3 -.5 0x1.8p1])\n')
    (core,) = read_data(source, "f")
    assert isinstance(core, SList) and core.loc == SourceLoc("f", 2, 1)
    head, args, key, name, bracket = core.items
    assert isinstance(head, Symbol) and head.loc == SourceLoc("f", 2, 2)
    assert isinstance(args, SList) and args.loc == SourceLoc("f", 2, 9)
    assert isinstance(key, Symbol) and key.name == ":name" and key.loc == SourceLoc("f", 3, 2)
    assert isinstance(name, String) and name.value == 'a "b"\nc'
    assert name.loc == SourceLoc("f", 3, 8)
    assert isinstance(bracket, SList) and bracket.loc == SourceLoc("f", 5, 3)
    third, half, three = bracket.items[1:]
    assert isinstance(third, Number) and third.value == Fraction(1, 3)
    assert third.loc == SourceLoc("f", 5, 8)
    assert isinstance(half, Number) and half.value == Fraction(-1, 2)
    assert isinstance(three, Number) and three.value == 3 and three.text == "3"


@pytest.mark.parametrize(("source", "where", "message"), [
    ("(FPCore (x) (+ x 1)", (1, 1), "'(' is never closed"),
    ("(FPCore (x))\n)", (2, 1), "unmatched ')'"),
    ("(let ([a 1)) a)", (1, 11), "')' does not match the '[' at 1:7"),
    ('(FPCore (x)\n :name "abc', (2, 8), "unterminated string"),
    ("(FPCore (x) (+ x 1/0))", (1, 18), "invalid number '1/0'"),
    ("(FPCore (x) (+ x 12ab))", (1, 18), "invalid number '12ab'"),
    ("(FPCore (x) (+ x a,b))", (1, 18), "invalid token 'a,b'"),
    ("(FPCore (x) (+ x -1e4001))", (1, 18), "number '-1e4001' is out of range"),
    ("(FPCore (x) (+ x 0x1p-16001))", (1, 18), "number '0x1p-16001' is out of range"),
])
def test_reader_errors_are_located(source: str, where: tuple[int, int], message: str) -> None:
    err = error_of(source)
    assert at(err) == where
    assert message in err.message


_ATOMS = st.one_of(
    st.from_regex(r"[a-z][a-z0-9*_.!?-]{0,5}", fullmatch=True),
    st.sampled_from(["+", "-", "*", "/", "<=", ":name", "!", "#"]),
    st.integers(-10**6, 10**6).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**9,
                max_value=10**9).map(str),
    st.fractions(max_denominator=10**6).map(lambda f: f"{f.numerator}/{f.denominator}"),
)
_TREES = st.recursive(_ATOMS, lambda inner: st.lists(inner, max_size=4), max_leaves=25)
_SPACE = st.sampled_from([" ", "\n", "\t", "  ", " ; note\n", "\n\n  "])


@given(tree=_TREES, data=st.data())
def test_reader_tracks_every_position(tree: object, data: st.DataObject) -> None:
    """Any layout: every datum's line:col points at its own text in the source."""
    def render(node: object) -> str:
        if isinstance(node, str):
            return node
        assert isinstance(node, list)
        opening, closing = data.draw(st.sampled_from(["()", "[]"]))
        parts = [render(n) for n in node]
        inner = "".join(p + data.draw(_SPACE) for p in parts)
        return f"{opening}{data.draw(_SPACE)}{inner}{closing}"

    source = data.draw(_SPACE) + render([tree]) + data.draw(_SPACE)
    lines = source.split("\n")

    def check(datum: object, node: object) -> None:
        assert isinstance(datum, Symbol | Number | SList | String)
        text = lines[datum.loc.line - 1][datum.loc.col - 1:]
        if isinstance(node, list):
            assert isinstance(datum, SList) and text[0] in "(["
            assert len(datum.items) == len(node)
            for item, child in zip(datum.items, node, strict=True):
                check(item, child)
        else:
            assert isinstance(node, str)
            assert text.startswith(node)
            if isinstance(datum, Number):
                assert datum.source == node
            else:
                assert isinstance(datum, Symbol) and datum.name == node

    (top,) = read_data(source, "f")
    check(top, [tree])


# -- numbers and constants ------------------------------------------------------------------


def number_const(literal: str) -> Const:
    kernel = parse_fpcore(f"(FPCore (x) :pre (<= 0 x 1) (+ x {literal}))", "k.fpcore")
    node = kernel.nodes[1]
    assert isinstance(node, Const)
    return node


@pytest.mark.parametrize(("literal", "text"), [
    ("3/8", "0.375"), ("-1/2", "-0.5"), ("42.7e-6", "0.0000427"), ("-.985", "-0.985"),
    ("0x1.8p1", "3"), ("(digits 314 -2 10)", "3.14"), ("(- 331.4)", "-331.4"),
    ("(- -2)", "2"), ("6755399441055744", "6755399441055744"),
])
def test_numbers_are_exact_decimals(literal: str, text: str) -> None:
    assert number_const(literal).text == text


def test_long_hex_float_is_exact() -> None:
    value = float.fromhex("0x1.fffffffffffffp-1")
    assert number_const("0x1.fffffffffffffp-1").value == Fraction(value)


@given(st.fractions(max_denominator=10**12).filter(lambda f: f != 0))
def test_rationals_are_exact_or_correctly_rounded(value: Fraction) -> None:
    const = number_const(f"{value.numerator}/{value.denominator}")
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:
        assert const.value == value
    else:
        digits = len(Decimal(const.text).as_tuple().digits)
        assert digits == SIGNIFICANT_DIGITS
        assert abs(const.value - value) <= abs(value) * Fraction(1, 10 ** (SIGNIFICANT_DIGITS - 1))


@given(st.decimals(allow_nan=False, allow_infinity=False).filter(
    lambda d: abs(d.adjusted()) <= MAX_EXPONENT))
def test_decimal_literals_are_exact(value: Decimal) -> None:
    assert number_const(str(value)).value == Fraction(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_hex_literals_are_exact(value: float) -> None:
    assert number_const(value.hex()).value == Fraction(value)


@pytest.mark.parametrize(("name", "value"), [
    ("PI", lambda: mpmath.pi), ("E", lambda: mpmath.e), ("LN2", lambda: mpmath.ln2),
    ("LN10", lambda: mpmath.ln10), ("LOG2E", lambda: 1 / mpmath.ln2),
    ("LOG10E", lambda: 1 / mpmath.ln10), ("PI_2", lambda: mpmath.pi / 2),
    ("PI_4", lambda: mpmath.pi / 4), ("M_1_PI", lambda: 1 / mpmath.pi),
    ("M_2_PI", lambda: 2 / mpmath.pi), ("M_2_SQRTPI", lambda: 2 / mpmath.sqrt(mpmath.pi)),
    ("SQRT2", lambda: mpmath.sqrt(2)), ("SQRT1_2", lambda: 1 / mpmath.sqrt(2)),
])
def test_constants_have_120_correct_digits(name: str, value: object) -> None:
    text = constant_text(name)
    assert len(Decimal(text).as_tuple().digits) == SIGNIFICANT_DIGITS
    with mpmath.workdps(300):
        truth = value()  # type: ignore[operator]
        error = abs(mpmath.mpf(text) - truth) / truth
        assert error < mpmath.mpf(10) ** (1 - SIGNIFICANT_DIGITS)
    assert number_const(name).text == text
    assert number_const(f"(- {name})").text == f"-{text}"


# -- kernels --------------------------------------------------------------------------------


def test_operations_are_located_at_their_parenthesis() -> None:
    source = ("(FPCore f (x y)\n"
              " :pre (and (<= 0 x 1) (<= 2 y 3))\n"
              " (let ([a (* x y)])\n"
              "   (- (sqrt a)\n"
              "      (- a))))\n")
    kernel = parse_fpcore(source, "k.fpcore")
    assert kernel.name == "f" and kernel.loc == SourceLoc("k.fpcore", 1, 1)
    assert kernel.input_names == ("x", "y")
    assert (kernel.input(1).lo, kernel.input(1).hi) == (2.0, 3.0)
    assert kernel.input(1).loc == SourceLoc("k.fpcore", 1, 14)
    located = [(n.op, n.loc.line, n.loc.col) for n in kernel.nodes if isinstance(n, Op)]
    assert located == [("mul", 3, 11), ("sqrt", 4, 7), ("neg", 5, 7), ("sub", 4, 4)]
    assert ops(kernel) == [("mul", (0, 1)), ("sqrt", (2,)), ("neg", (2,)), ("sub", (3, 4))]
    assert kernel.output == 5 and kernel.target_rmse is None


def test_let_is_parallel_and_let_star_sequential() -> None:
    pre = ":pre (<= 1 x 2)"
    parallel = parse_fpcore(f"(FPCore (x) {pre} (let ([x 3] [y x]) (+ x y)))", "k")
    assert ops(parallel) == [("add", (1, 0))]
    sequential = parse_fpcore(f"(FPCore (x) {pre} (let* ([x 3] [y x]) (+ x y)))", "k")
    assert ops(sequential) == [("add", (1, 1))]
    shadow = parse_fpcore("(FPCore (PI) :pre (<= 1 PI 2) (+ PI E))", "k")
    assert ops(shadow) == [("add", (0, 1))]
    assert const_values(shadow)[0] == Fraction(Decimal(constant_text("E")))


def test_annotations_and_precisions_in_2_0_syntax() -> None:
    source = ("(FPCore g ((! :precision binary64 x))\n"
              " :precision real :pre (< -1 x 1)\n"
              " (! :precision (float 11 64) :round nearestEven (+ x (! :precision real 1))))")
    kernel = parse_fpcore(source, "k.fpcore")
    assert ops(kernel) == [("add", (0, 1))]
    assert kernel.input(0).lo == -1.0


def test_ranges_from_pre_bounds() -> None:
    source = ("(FPCore (a b c d) :pre (and (and (<= -2 a) (<= a 5)) (> 4 b) (>= b (- PI))\n"
              "  (< 0 c 1/4) (<= 1/8 c 2 3) (>= 7 d 6) (<= d 8) TRUE) (+ (+ a b) (+ c d)))")
    kernel = parse_fpcore(source, "k.fpcore")
    ranges = [(kernel.input(i).lo, kernel.input(i).hi) for i in range(4)]
    assert ranges == [(-2.0, 5.0), (-float(mpmath.pi), 4.0), (0.125, 0.25), (6.0, 7.0)]


def test_tightest_bounds_win() -> None:
    kernel = parse_fpcore("(FPCore (x) :pre (and (<= 0 x 4) (<= 1 x 3)) x)", "k")
    assert (kernel.input(0).lo, kernel.input(0).hi) == (1.0, 3.0)
    assert kernel.output == 0 and kernel.rounding_ops == ()


def test_target_rmse_and_names() -> None:
    kernel = parse_fpcore('(FPCore (x) :name "NMSE example 3.1" :precisec-rmse 1e-15\n'
                          ':pre (<= 0 x 1) (sqrt x))', "k")
    assert kernel.name == "NMSE_example_3_1" and kernel.target_rmse == 1e-15
    assert kernel_identifier("3d thing") == "k_3d_thing"
    assert kernel_identifier("sin") == "k_sin"
    assert kernel_identifier("while") == "k_while"
    assert kernel_identifier("Rump's example, with pow") == "Rump_s_example__with_pow"
    assert parse_fpcore("(FPCore (x) :pre (<= 0 x 1) x)", "k").name == "fpcore_0"


MULTI = ('(FPCore one (x) :pre (<= 0 x 1) (+ x 1))\n'
         '(FPCore (x) :name "second" :pre (<= 0 x 1) (* x 2))\n'
         '(FPCore two (x) :name "second" :pre (<= 0 x 1) (- x 2))\n'
         '(FPCore (x) (if x x x))\n')


def test_selection_by_name_identifier_and_index() -> None:
    assert ops(parse_fpcore(MULTI, "m", function="one")) == [("add", (0, 1))]
    assert ops(parse_fpcore(MULTI, "m", function="two")) == [("sub", (0, 1))]
    assert ops(parse_fpcore(MULTI, "m", index=1)) == [("mul", (0, 1))]
    assert parse_fpcore(MULTI, "m", index=1).name == "second"
    entries = read_fpcores(MULTI, "m")
    assert [e.name for e in entries] == ["one", "second", "second", "#3"]
    assert [e.identifier for e in entries] == ["one", None, "two", None]
    assert [e.supported for e in entries] == [True, True, True, False]
    assert entries[3].reason is not None
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
    assert at(info.value) == where and message in info.value.message


def test_load_fpcore_errors() -> None:
    with pytest.raises(PrecisecError) as info:
        load_fpcore(SAMPLES / "missing.fpcore")
    assert "cannot read file" in str(info.value)
    with pytest.raises(PrecisecError) as info:
        parse_fpcore("; nothing\n", "e")
    assert info.value.message == "no FPCore found"


# -- refusals ---------------------------------------------------------------------------------

RANGE = ":pre (<= 0 x 1)"


@pytest.mark.parametrize(("source", "where", "message"), [
    (f"(FPCore (x) {RANGE}\n (if (< x 0.5) x))", (2, 2),
     "`if` takes a condition and two expressions"),
    (f"(FPCore (x) {RANGE}\n (if (+ x 1) x (- x)))", (2, 6),
     "`(+ x 1)` is not a supported condition"),
    (f"(FPCore (x) {RANGE}\n (while (< x 1) ([x x (* x 2)]) x))", (2, 2),
     "`while` loops are not supported"),
    (f"(FPCore (x) {RANGE}\n (while* TRUE ([x x x]) x))", (2, 2), "`while*` loops"),
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
    ("(FPCore (x y)\n :pre (<= 0 x 1)\n (+ x y))", (1, 12),
     "argument `y` has no range: add :pre (<= LO y HI)"),
    ("(FPCore (x) (+ x 1))", (1, 10), "argument `x` has no range"),
    ("(FPCore (x) :pre (>= x 0) (sqrt x))", (1, 10), "argument `x` has no upper bound in :pre"),
    ("(FPCore (x) :pre (<= x 0) (sqrt x))", (1, 10), "argument `x` has no lower bound in :pre"),
    ("(FPCore (x)\n :pre (<= 1 x 0) x)", (2, 7), "empty range for `x` in :pre: 1.0 > 0.0"),
    ("(FPCore (x)\n :pre (and (<= 0 x 1) (!= x q)) x)", (2, 29), "`q` in :pre is not an argument"),
    ("(FPCore (x)\n :pre (or (<= 0 x 1) (<= 2 x 3)) x)", (2, 7), "`or` in :pre is not supported"),
    ("(FPCore (x y)\n :pre (and (< 0 x y 1)) x)", (2, 12),
     "comparison between arguments `x` and `y` in :pre is not supported"),
    ("(FPCore (x y)\n :pre (> (+ x y) 1) x)", (2, 10),
     "`(+ x y)` in :pre is neither an argument nor a constant number"),
    ("(FPCore (x)\n :pre (let ([a 1]) (<= a x 2)) x)", (2, 7), "`let` in :pre is not supported"),
    ("(FPCore (x)\n :pre (<= 0 x INFINITY) x)", (2, 15), "range bound `INFINITY` is not finite"),
    ("(FPCore (x)\n :pre (<= 0 z 1) x)", (2, 13), "`z` in :pre is not an argument"),
    ("(FPCore (x)\n :pre (<= 0 x 1e999) x)", (2, 7), "the range of `x` is not finite"),
    ("(FPCore (x)\n :pre (<= 0 x 1 0.5) x)", (2, 7), "always false"),
    ("(FPCore (x)\n :pre (and (<= 0 x 1) (< 2 2)) x)", (2, 23), "`(< 2 2)` in :pre is always"),
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
    assert at(err) == where, str(err)
    assert str(err).startswith(f"k.fpcore:{where[0]}:{where[1]}: error: ")


# -- FPBench's benchmark files ----------------------------------------------------------------


def test_fpbench_files_are_present() -> None:
    assert len(FPBENCH_FILES) >= 8


@pytest.mark.parametrize("path", FPBENCH_FILES, ids=lambda p: p.name)
def test_fpbench_entries_parse_or_are_refused_with_a_location(path: Path) -> None:
    source = path.read_text()
    entries = read_fpcores(source, str(path))
    assert entries
    for entry in entries:
        assert entry.loc.file == str(path)
        if not entry.supported:
            assert entry.reason and entry.reason_loc is not None
            assert entry.reason_loc.file == str(path)
            assert entry.reason_loc.line >= entry.loc.line
            with pytest.raises(PrecisecError) as info:
                parse_fpcore(source, str(path), index=entry.index)
            assert info.value.message == entry.reason and info.value.loc == entry.reason_loc
            continue
        kernel = parse_fpcore(source, str(path), index=entry.index)
        assert kernel.name == entry.kernel_name and kernel.input_names == entry.args
        inputs = sample_inputs(kernel, 6, seed=entry.index)
        try:
            reference = exact(kernel, inputs)
        except PrecisecError as err:  # a domain issue, located in the file
            assert err.loc.file == str(path)
        else:
            assert all(abs(v) < float("inf") for v in reference.hi)


def test_fpbench_rosa_set_is_supported() -> None:
    entries = read_fpcores((FPBENCH / "rosa.fpcore").read_text(), "rosa.fpcore")
    supported = {e.name for e in entries if e.supported}
    assert {"doppler1", "doppler2", "doppler3", "rigidBody1", "rigidBody2", "jetEngine",
            "turbine1", "turbine2", "turbine3", "verhulst", "predatorPrey", "carbonGas",
            "sine", "sqroot", "sineOrder3"} <= supported
    reasons = {e.name: e.reason for e in entries}
    assert reasons["smartRoot"] is not None
    assert reasons["smartRoot"].startswith("`let` in :pre is not supported")
    assert reasons["Pendulum"] == "`while` loops are not supported"


def test_fpbench_rosa_verhulst_keeps_its_let_constants_shared() -> None:
    kernel = parse_fpcore((FPBENCH / "rosa.fpcore").read_text(), "rosa", function="verhulst")
    assert [(n.op, n.args) for n in kernel.nodes if isinstance(n, Op)] == [
        ("mul", (1, 0)), ("div", (0, 2)), ("add", (4, 5)), ("div", (3, 6))]
    assert const_values(kernel) == [4, Fraction("1.11"), 1]


# -- the same kernels as the C frontend -------------------------------------------------------


def structure(kernel: Kernel) -> list[tuple[object, ...]]:
    """Nodes without locations: inputs with ranges, constants by value, ops with args."""
    shape: list[tuple[object, ...]] = []
    for node in kernel.nodes:
        if isinstance(node, Input):
            shape.append(("input", node.name, node.lo, node.hi))
        elif isinstance(node, Const):
            shape.append(("const", node.value))
        else:
            shape.append(("op", node.op, node.args))
    return shape


@pytest.mark.parametrize("name", ["verhulst", "jet", "doppler1"])
def test_fptuner_samples_match_the_c_frontend(name: str) -> None:
    ours = load_fpcore(SAMPLES / f"{name}.fpcore")
    theirs = load_c(ROOT / "benchmarks_fptuner" / f"{name}.c")
    assert structure(ours) == structure(theirs)
    assert (ours.name, ours.inputs, ours.output, ours.target_rmse) == \
        (theirs.name, theirs.inputs, theirs.output, theirs.target_rmse)
    assert all(n.loc.file.endswith(f"{name}.fpcore") for n in ours.nodes)
    inputs = sample_inputs(ours, 50, seed=3)
    assert list(exact(ours, inputs).hi) == list(exact(theirs, inputs).hi)


# -- emit and parse back ------------------------------------------------------------------------


def canonical(kernel: Kernel, bits: dict[int, int],
              table: dict[tuple[object, ...], int]) -> tuple[Counter[int], int]:
    """Operations as a multiset of expression ids (with their precisions) and the output's
    id; ids come from `table`, shared across the kernels compared. Sharing is kept: a
    duplicated or merged node changes the multiset."""
    ids: list[int] = []
    for index, node in enumerate(kernel.nodes):
        key: tuple[object, ...]
        if isinstance(node, Input):
            key = ("input", node.name, node.lo, node.hi)
        elif isinstance(node, Const):
            key = ("const", node.value)
        else:
            key = ("op", node.op, bits.get(index) if node.spec.rounds else None,
                   tuple(ids[a] for a in node.args))
        ids.append(table.setdefault(key, len(table)))
    counted = Counter(ids[i] for i, n in enumerate(kernel.nodes) if isinstance(n, Op))
    return counted, ids[kernel.output]


def assert_round_trip(kernel: Kernel, bits: dict[int, int]) -> str:
    text = emit_fpcore(kernel, bits)
    back, back_bits = parse_tuned_fpcore(text, "out.fpcore")
    table: dict[tuple[object, ...], int] = {}
    assert canonical(back, back_bits, table) == canonical(kernel, bits, table)
    assert set(back_bits) == set(back.rounding_ops)
    assert [back.input(i) for i in range(len(back.inputs))] == [
        Input(n.name, n.lo, n.hi, back.input(i).loc)
        for i, n in enumerate(kernel.input(k) for k in range(len(kernel.inputs)))]
    assert (back.name, back.target_rmse) == (kernel.name, kernel.target_rmse)
    return text


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks_fptuner").glob("*.c")),
                         ids=lambda p: p.stem)
def test_emit_round_trips_the_fptuner_kernels(path: Path) -> None:
    kernel = load_c(path)
    bits = {i: 10 + 7 * k % 80 for k, i in enumerate(kernel.rounding_ops)}
    back, back_bits = parse_tuned_fpcore(assert_round_trip(kernel, bits), "out.fpcore")
    inputs = sample_inputs(kernel, 40, seed=5)
    assert list(emulate(back, back_bits, inputs)) == list(emulate(kernel, bits, inputs))
    double = {i: 53 for i in kernel.rounding_ops}
    text = assert_round_trip(kernel, double)
    table: dict[tuple[object, ...], int] = {}
    plain = parse_fpcore(text, "out.fpcore")
    plain_bits = dict.fromkeys(plain.rounding_ops, 53)
    assert canonical(plain, plain_bits, table) == canonical(kernel, double, table)


def test_emitted_text_is_annotated_and_shares_values() -> None:
    kernel = load_fpcore(SAMPLES / "doppler1.fpcore")
    bits = dict.fromkeys(kernel.rounding_ops, 24)
    bits[kernel.output] = 53
    text = emit_fpcore(kernel, bits)
    assert text.startswith("(FPCore doppler1 (u v T)\n :name \"doppler1\"\n")
    assert ":pre (and (<= -100.0000001 u 100.0000001) (<= 19.999999999 v " in text
    assert ":precisec-rmse 1.82e-13" in text
    assert "(! :precision (float 11 35) (* 0.6 T))" in text
    assert "(! :precision (float 11 35) (- t" in text  # negation at its argument's width
    assert text.count("[t") == 2  # t1 and s are shared, nothing else is bound
    assert "(! :precision binary64 (/ " in text
    assert fpcore_precision(53) == "binary64" and fpcore_precision(113) == "(float 11 124)"
    with pytest.raises(ValueError, match="no precision"):
        emit_fpcore(kernel, {})


def test_emit_avoids_name_clashes_and_keeps_unused_values() -> None:
    nodes = (Input("t2", 0.0, 1.0, LOC), Input("t2_", 1.0, 2.0, LOC),
             Op("mul", (0, 1), LOC), Op("add", (2, 2), LOC), Op("sqrt", (0,), LOC),
             Const("3.5E+7", LOC), Op("neg", (5,), LOC), Op("sub", (3, 6), LOC))
    kernel = Kernel("k", nodes, (0, 1), 7, None, LOC)
    bits = {2: 30, 3: 40, 4: 50, 7: 60}
    text = assert_round_trip(kernel, bits)
    assert "[t2__ (! :precision (float 11 41) (* t2 t2_))]" in text
    assert "[t4 (! :precision (float 11 61) (sqrt t2))]" in text
    assert "(! :precision binary64 (- (! :precision binary64 3.5e+7)))" in text


@st.composite
def kernels(draw: st.DrawFn) -> tuple[Kernel, dict[int, int]]:
    """Random straight-line kernels over the whole operation table, with precisions."""
    nodes: list[Input | Const | Op] = []
    for k in range(draw(st.integers(0, 3))):
        lo = draw(st.floats(-1e6, 1e6))
        nodes.append(Input(f"x{k}", lo, draw(st.floats(lo, 1e6)), LOC))
    nodes.append(Const(str(draw(st.decimals(-1e6, 1e6, allow_nan=False))), LOC))
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.integers(0, 4)) == 0:
            nodes.append(Const(str(draw(st.decimals(-1e3, 1e3, places=4))), LOC))
            continue
        spec = OPS[draw(st.sampled_from(sorted(n for n, o in OPS.items() if o.kind == "arith")))]
        args = tuple(draw(st.integers(0, len(nodes) - 1)) for _ in range(spec.arity))
        nodes.append(Op(spec.name, args, LOC))
    output = draw(st.integers(0, len(nodes) - 1))
    target = draw(st.none() | st.floats(1e-30, 1.0))
    inputs = tuple(i for i, n in enumerate(nodes) if isinstance(n, Input))
    kernel = Kernel("random_kernel", tuple(nodes), inputs, output, target, LOC)
    bits = {i: draw(st.integers(2, 300)) for i in kernel.rounding_ops}
    return kernel, bits


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(kernels())
def test_emit_parse_round_trip(generated: tuple[Kernel, dict[int, int]]) -> None:
    kernel, bits = generated
    assert_round_trip(kernel, bits)


def test_point_exclusions_in_pre_leave_the_range_box_unchanged() -> None:
    kernel = parse_fpcore("(FPCore (x y) :pre (and (<= 0 x 1) (!= x 0) (<= -2 y 3) (!= y x))"
                          " (+ x y))", "t.fpcore")
    assert [(kernel.input(i).lo, kernel.input(i).hi) for i in range(2)] == [(0.0, 1.0),
                                                                           (-2.0, 3.0)]
