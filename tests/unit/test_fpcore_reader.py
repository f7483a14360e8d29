"""The FPCore s-expression reader (precisec.frontend.fpcore.reader): located data, exact
numbers, rendering back to text."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.fpcore.reader import (
    MAX_EXPONENT,
    SIGNIFICANT_DIGITS,
    Number,
    SList,
    String,
    Symbol,
    read_data,
    render,
    show,
)


def only(source: str) -> object:
    (datum,) = read_data(source, "f")
    return datum


def test_positions_comments_strings_and_brackets() -> None:
    source = ('; comment (ignored\n'
              '(FPCore (x)  ; trailing\n'
              '\t:name "a \\"b\\"\nc"\n'
              '  [let 1/3 -.5 0x1.8p1])\n')
    core = only(source)
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
def test_errors_are_located(source: str, where: tuple[int, int], message: str) -> None:
    with pytest.raises(PrecisecError) as info:
        read_data(source, "k.fpcore")
    assert (info.value.loc.file, info.value.loc.line, info.value.loc.col) == ("k.fpcore", *where)
    assert message in info.value.message


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
def test_every_position_is_tracked(tree: object, data: st.DataObject) -> None:
    """Any layout: every datum's line:col points at its own text in the source, and
    rendering reads back to the same data."""
    def layout(node: object) -> str:
        if isinstance(node, str):
            return node
        assert isinstance(node, list)
        opening, closing = data.draw(st.sampled_from(["()", "[]"]))
        inner = "".join(layout(n) + data.draw(_SPACE) for n in node)
        return f"{opening}{data.draw(_SPACE)}{inner}{closing}"

    source = data.draw(_SPACE) + layout([tree]) + data.draw(_SPACE)
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
            assert isinstance(node, str) and text.startswith(node)
            if isinstance(datum, Number):
                assert datum.source == node
            else:
                assert isinstance(datum, Symbol) and datum.name == node

    top = only(source)
    check(top, [tree])
    again = only(render(top))  # type: ignore[arg-type]
    assert render(again) == render(top)  # type: ignore[arg-type]


def number(literal: str) -> Number:
    datum = only(literal)
    assert isinstance(datum, Number)
    return datum


@pytest.mark.parametrize(("literal", "text"), [
    ("3/8", "0.375"), ("-1/2", "-0.5"), ("42.7e-6", "0.0000427"), ("-.985", "-0.985"),
    ("0x1.8p1", "3"), ("6755399441055744", "6755399441055744"), ("1e+2", "1E+2"),
])
def test_numbers_are_exact_decimals(literal: str, text: str) -> None:
    assert number(literal).text == text


def test_long_hex_float_is_exact() -> None:
    assert number("0x1.fffffffffffffp-1").value == Fraction(float.fromhex("0x1.fffffffffffffp-1"))


@given(st.fractions(max_denominator=10**12).filter(lambda f: f != 0))
def test_rationals_are_exact_or_correctly_rounded(value: Fraction) -> None:
    read = number(f"{value.numerator}/{value.denominator}")
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    text_value = Fraction(Decimal(read.text))
    if denominator == 1:
        assert text_value == value
    else:
        assert len(Decimal(read.text).as_tuple().digits) == SIGNIFICANT_DIGITS
        assert abs(text_value - value) <= abs(value) * Fraction(1, 10 ** (SIGNIFICANT_DIGITS - 1))


@given(st.decimals(allow_nan=False, allow_infinity=False).filter(
    lambda d: abs(d.adjusted()) <= MAX_EXPONENT))
def test_decimal_literals_are_exact(value: Decimal) -> None:
    assert Fraction(Decimal(number(str(value)).text)) == Fraction(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_hex_literals_are_exact(value: float) -> None:
    assert Fraction(Decimal(number(value.hex()).text)) == Fraction(value)


def test_show_cuts_every_long_list_for_messages() -> None:
    inner = "(* aaaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd eeeeeeeeee)"
    assert show(only(inner)) == "(* aaaaaaaaaa bbbbbbbbbb cccccccccc ddddd...)"  # type: ignore[arg-type]
    assert show(only(f"(+ {inner} 1/3)")) == \
        "(+ (* aaaaaaaaaa bbbbbbbbbb cccccccccc dd...)"  # type: ignore[arg-type]
    assert show(only('(f "s" 1/3)')) == '(f "s" 1/3)'  # type: ignore[arg-type]
    assert render(only(f"(+ {inner} 1/3)")) == f"(+ {inner} 1/3)"  # type: ignore[arg-type]


def test_deep_nesting_reads_without_recursion() -> None:
    depth = 5000
    datum = only("(+ x " * depth + "1" + ")" * depth)
    for _ in range(depth):
        assert isinstance(datum, SList)
        datum = datum.items[2]
    assert isinstance(datum, Number)
    assert render(only("(" * 3000 + ")" * 3000)).count("(") == 3000  # type: ignore[arg-type]
