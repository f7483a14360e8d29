"""The C preprocessing stage: splicing, comments, object-like macros in source order,
pragmas, refusals, and the map from pycparser's text back to the user's line:col."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from precisec.errors import PrecisecError
from precisec.frontend.c.preprocess import Preprocessed, preprocess
from precisec.frontend.pragmas import RangePragma, TargetPragma


def texts(pre: Preprocessed) -> list[str]:
    return [t.text for t in pre.tokens]


def place(pre: Preprocessed, text: str, nth: int = 0) -> tuple[int, int]:
    """The original (line, col) of the nth output token spelled `text`."""
    found = [t for t in pre.tokens if t.text == text][nth]
    return found.line, found.col


def refused(source: str) -> PrecisecError:
    with pytest.raises(PrecisecError) as info:
        preprocess(source, "k.c")
    return info.value


def test_plain_text_keeps_every_position() -> None:
    source = "double f(double x) {\n    return x * 2.0;\n}\n"
    pre = preprocess(source, "k.c")
    assert pre.text == source
    assert place(pre, "*") == (2, 14)
    assert pre.loc(2, 16) == pre.token_loc(pre.token_at(2, 16))  # type: ignore[arg-type]


def test_line_comment_ending_in_backslash_swallows_the_next_line() -> None:
    pre = preprocess("double y = 1.0; // scale \\\ny = y * 1000.0;\nz;\n", "k.c")
    assert texts(pre) == ["double", "y", "=", "1.0", ";", "z", ";"]
    assert place(pre, "z") == (3, 1)


def test_backslash_with_trailing_blanks_still_splices_as_gcc_does() -> None:
    pre = preprocess("a = 1; // note \\   \nb = 2;\nc;\n", "k.c")
    assert "b" not in texts(pre)


def test_splice_inside_a_token_joins_it_and_keeps_later_columns() -> None:
    pre = preprocess("dou\\\nble x;\n  y;\n", "k.c")
    assert texts(pre)[:2] == ["double", "x"]
    assert place(pre, "double") == (1, 1)
    assert place(pre, "x") == (2, 5)
    assert place(pre, "y") == (3, 3)


def test_comments_are_removed_but_not_inside_literals() -> None:
    pre = preprocess('a /* one\n two */ b // three\n"x // y" \'/*\' c\n', "k.c")
    assert texts(pre) == ["a", "b", '"x // y"', "'/*'", "c"]
    assert place(pre, "b") == (2, 9)


def test_defines_apply_in_source_order_with_redefinition_and_undef() -> None:
    pre = preprocess("N;\n#define N 8\nN;\n#define N (N + 1)\nN;\n#undef N\nN;\n", "k.c")
    assert texts(pre) == ["N", ";", "8", ";", "(", "N", "+", "1", ")", ";", "N", ";"]


def test_macros_are_rescanned_with_the_definitions_current_at_the_use() -> None:
    pre = preprocess("#define M (N * 2)\n#define N 4\nM;\n#define A B\n#define B A\nA;\n", "k.c")
    assert texts(pre) == ["(", "4", "*", "2", ")", ";", "A", ";"]


def test_expanded_tokens_sit_at_the_use_and_later_tokens_map_back() -> None:
    pre = preprocess("#define LONG_NAME 1.5\nx = LONG_NAME*y + 0.25*z;\n", "k.c")
    assert place(pre, "1.5") == (2, 5)
    assert place(pre, "*", 0) == (2, 14)
    assert place(pre, "+") == (2, 17)
    assert place(pre, "z") == (2, 24)
    line = pre.text.splitlines()[1]
    plus = line.index("+") + 1
    assert pre.loc(2, plus).col == 17


def test_macro_expansion_never_pastes_tokens() -> None:
    pre = preprocess("#define M -1\nx = -M;\n", "k.c")
    assert texts(pre) == ["x", "=", "-", "-", "1", ";"]
    assert "--" not in pre.text


def test_includes_and_foreign_pragmas_are_dropped() -> None:
    pre = preprocess("#include <math.h>\n#pragma once\n# pragma GCC optimize(\"O3\")\nx;\n",
                     "k.c")
    assert texts(pre) == ["x", ";"]
    assert pre.pragmas == []


def test_precisec_pragmas_are_collected_with_their_place() -> None:
    pre = preprocess("#pragma precisec range(x, -1, 2) /* why */\n"
                     "  #  pragma precisec rmse(1e-9)\n", "k.c")
    [first, second] = pre.pragmas
    assert isinstance(first, RangePragma)
    assert (first.name, first.lo, first.hi, first.loc.line, first.loc.col) == \
        ("x", -1.0, 2.0, 1, 18)
    assert isinstance(second, TargetPragma)
    assert (second.target, second.loc.line, second.loc.col) == (1e-9, 2, 22)


def test_spliced_pragma_is_located_on_its_own_lines() -> None:
    pre = preprocess("#pragma precisec \\\n  range(a[], 0, 1)\n", "k.c")
    [pragma] = pre.pragmas
    assert isinstance(pragma, RangePragma)
    assert (pragma.name, pragma.loc.line, pragma.loc.col) == ("a[]", 2, 3)


def test_macros_never_reach_the_output() -> None:
    pre = preprocess("#define MPFR_RNDN MPFR_RNDZ\n#define pc_x 3\ny = 2;\n", "k.c")
    assert texts(pre) == ["y", "=", "2", ";"]


@pytest.mark.parametrize(("source", "line", "col", "words"), [
    ("x;\n#if 1\n#endif\n", 2, 1, "'#if'"),
    ("#ifdef N\n", 1, 1, "'#ifdef'"),
    ("  #else\n", 1, 3, "'#else'"),
    ("#error stop\n", 1, 1, "'#error'"),
    ("#line 7\n", 1, 1, "'#line'"),
    ("#define SQ(a) ((a)*(a))\n", 1, 9, "function-like macro 'SQ'"),
    ('#include "mine.h"\n', 1, 1, "#include"),
    ("#define\n", 1, 1, "macro name"),
    ("x = 1; /* open\n", 1, 8, "unterminated comment"),
    ('s = "abc\n', 1, 5, "missing terminating"),
    ("x = 1 @ 2;\n", 1, 7, "stray '@'"),
    ("f() { }\n}\n", 2, 1, "unmatched '}'"),
    ("#pragma precisec range(x, 2, 1)\n", 1, 18, "empty range"),
])
def test_refusals_are_located(source: str, line: int, col: int, words: str) -> None:
    err = refused(source)
    assert (err.loc.file, err.loc.line, err.loc.col) == ("k.c", line, col)
    assert words in err.message


def test_function_like_needs_the_parenthesis_right_after_the_name() -> None:
    pre = preprocess("#define P (2)\nP;\n", "k.c")
    assert texts(pre) == ["(", "2", ")", ";"]


@given(st.lists(st.sampled_from(["x", "1.5", "+", "*", "(", ")", "NAME", "/* c */", "\n",
                                 "  ", "y2", "0x1p3"]), max_size=40))
def test_every_output_token_maps_to_a_token_the_user_wrote(parts: list[str]) -> None:
    source = "#define NAME (x * 12.0)\n" + " ".join(parts) + "\n"
    pre = preprocess(source, "k.c")
    lines = source.split("\n")
    for number, token in enumerate(pre.tokens):
        written = lines[token.line - 1][token.col - 1:]
        assert written.startswith("NAME" if token.expanded else token.text)
        out_line = pre.text.split("\n")[token.line - 1]
        col = next(c for (ln, c), k in pre.index.items() if k == number and ln == token.line)
        assert out_line[col - 1:].startswith(token.text)
