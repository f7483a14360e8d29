"""C translation phases 1–4 for the kernels precisec accepts, keeping every token's place.

pycparser parses preprocessed C, and `cpp` would lose the columns that sites and error
messages point at (docs/real-kernels.md). This stage does what the phases do for our
subset and remembers, for every token it hands to pycparser, where it was written:

1–2. backslash-newline splicing (also with blanks before the newline, as gcc does), so a
     `// comment \\` swallows the next line;
3.   comments (`//`, `/* */`, never inside string or character literals) and tokens;
4.   directives: object-like `#define NAME tokens` and `#undef`, applied to the lines
     after them (a use expands with the definitions current at that point, rescanned as
     C does; the tokens of an expansion sit at the macro's use); `#include <...>` lines
     are dropped; `#pragma precisec ...` lines are collected, other pragmas ignored;
     function-like macros, conditionals and every other directive are refused with a
     located error.

The output text keeps each token on its original line and, until a macro expansion shifts
the line, at its original column; `Preprocessed.loc` maps any pycparser coordinate back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.pragmas import Pragma, parse_pragma

_SPLICE = re.compile(r"\\[ \t\f\v]*\n")
_LEXEME = re.compile(r"""
  (?P<space>[ \t\f\v\r]+)
| (?P<newline>\n)
| (?P<comment>//[^\n]*|/\*.*?\*/)
| (?P<open_comment>/\*)
| (?P<literal>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
| (?P<quote>["'])
| (?P<number>\.?[0-9](?:[eEpP][+-]|[0-9A-Za-z_.])*)
| (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
| (?P<punct>\.\.\.|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[*/%+\-&^|]=|\#\#
            |[][(){}.&*+\-~!/%<>^|?:;=,\#])
""", re.VERBOSE | re.DOTALL)
_REFUSED = "preprocessor directive '#{}' is not supported"


@dataclass(frozen=True)
class Token:
    """A token and where the user wrote it (an expanded macro's tokens: at the use)."""

    text: str
    line: int
    col: int
    ident: bool = False
    expanded: bool = False


@dataclass
class Preprocessed:
    """Text for pycparser, its tokens in order, and the precisec pragmas."""

    file: str
    text: str
    tokens: list[Token]
    pragmas: list[Pragma]
    index: dict[tuple[int, int], int] = field(repr=False)

    def token_at(self, line: int, col: int) -> int | None:
        """The index of the output token starting at pycparser's (line, col)."""
        return self.index.get((line, col))

    def token_loc(self, index: int) -> SourceLoc:
        token = self.tokens[index]
        return SourceLoc(self.file, token.line, token.col)

    def loc(self, line: int, col: int) -> SourceLoc:
        """The original position of output position (line, col): of the token there, or
        of the nearest token before it on that line."""
        for start in range(col, 0, -1):
            found = self.index.get((line, start))
            if found is not None:
                return self.token_loc(found)
        return SourceLoc(self.file, line, max(col, 1))


@dataclass
class _Line:
    """One logical line's tokens with their offsets in the spliced text."""

    tokens: list[Token] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    comments: list[tuple[int, int]] = field(default_factory=list)


class _Preprocessor:
    def __init__(self, source: str, file: str) -> None:
        self.file = file
        self.text, self.lines, self.cols = _splice(source.replace("\r\n", "\n"))
        self.macros: dict[str, list[Token]] = {}
        self.pragmas: list[Pragma] = []
        self.out: list[Token] = []

    def at(self, offset: int) -> SourceLoc:
        offset = min(offset, len(self.text) - 1)
        if offset < 0:
            return SourceLoc(self.file, 1, 1)
        return SourceLoc(self.file, self.lines[offset], self.cols[offset])

    def error(self, token: Token, message: str) -> PrecisecError:
        return PrecisecError(SourceLoc(self.file, token.line, token.col), message)

    def run(self) -> None:
        text, pos, line = self.text, 0, _Line()
        while pos < len(text):
            match = _LEXEME.match(text, pos)
            if match is None:
                raise PrecisecError(self.at(pos), f"stray '{text[pos]}' in program")
            kind, end = match.lastgroup, match.end()
            if kind == "newline":
                self.logical_line(line)
                line = _Line()
            elif kind == "comment":
                line.comments.append((pos, end))
            elif kind == "open_comment":
                raise PrecisecError(self.at(pos), "unterminated comment")
            elif kind == "quote":
                raise PrecisecError(self.at(pos), f"missing terminating {text[pos]} character")
            elif kind != "space":
                line.tokens.append(Token(match.group(), self.lines[pos], self.cols[pos],
                                         ident=kind == "ident"))
                line.starts.append(pos)
                line.ends.append(end)
            pos = end
        self.logical_line(line)

    def logical_line(self, line: _Line) -> None:
        tokens = line.tokens
        if not tokens:
            return
        if tokens[0].text == "#":
            self.directive(line)
            return
        for token in tokens:
            self.expand(token, token, frozenset())

    def expand(self, token: Token, use: Token, active: frozenset[str]) -> None:
        """Append `token` to the output, expanding macros (not those being expanded)."""
        body = self.macros.get(token.text) if token.ident else None
        if body is None or token.text in active:
            if token is not use:
                token = Token(token.text, use.line, use.col, token.ident, expanded=True)
            self.out.append(token)
            return
        for part in body:
            self.expand(part, use, active | {token.text})

    def directive(self, line: _Line) -> None:
        tokens = line.tokens
        if len(tokens) == 1:
            return  # the null directive
        name = tokens[1].text
        if name == "define":
            self.define(line)
        elif name == "undef":
            if len(tokens) != 3 or not tokens[2].ident:
                raise self.error(tokens[0], "#undef takes one macro name")
            self.macros.pop(tokens[2].text, None)
        elif name == "include":
            if len(tokens) < 3 or tokens[2].text != "<":
                raise self.error(tokens[0], "#include \"...\" is not supported (only system "
                                            "headers such as <math.h>, which are dropped)")
        elif name == "pragma":
            self.pragma(line)
        else:
            raise self.error(tokens[0], _REFUSED.format(name))

    def define(self, line: _Line) -> None:
        tokens = line.tokens
        if len(tokens) < 3 or not tokens[2].ident:
            raise self.error(tokens[0], "#define needs a macro name")
        name = tokens[2]
        if len(tokens) > 3 and tokens[3].text == "(" and line.starts[3] == line.ends[2]:
            raise self.error(name, f"function-like macro '{name.text}' is not supported "
                                   "(only object-like #define NAME VALUE)")
        if any(t.text in ("#", "##") for t in tokens[3:]):
            raise self.error(name, f"macro '{name.text}': '#' and '##' are not supported")
        self.macros[name.text] = tokens[3:]

    def pragma(self, line: _Line) -> None:
        start, end = line.starts[0], line.ends[-1]
        chars = list(self.text[start:end])
        for lo, hi in line.comments:
            for k in range(max(lo, start), min(hi, end)):
                chars[k - start] = " "
        pragma = parse_pragma("".join(chars), lambda k: self.at(start + k))
        if pragma is not None:
            self.pragmas.append(pragma)

    def result(self) -> Preprocessed:
        """Lay the output tokens out on their lines; check braces pair up (pycparser
        fails on a stray '}' with an assertion, not a syntax error)."""
        rows: list[str] = []
        row: list[str] = []
        index: dict[tuple[int, int], int] = {}
        cursor, previous, depth = 1, None, 0
        for number, token in enumerate(self.out):
            while len(rows) + 1 < token.line:
                rows.append("".join(row))
                row, cursor, previous = [], 1, None
            adjacent_ok = previous is None or not (previous.expanded or token.expanded)
            col = token.col if token.col > cursor or (token.col == cursor and adjacent_ok) \
                else cursor + 1
            row.append(" " * (col - cursor) + token.text)
            cursor, previous = col + len(token.text), token
            index[(token.line, col)] = number
            depth += {"{": 1, "}": -1}.get(token.text, 0)
            if depth < 0:
                raise self.error(token, "unmatched '}'")
        rows.append("".join(row))
        return Preprocessed(self.file, "\n".join(rows) + "\n", self.out, self.pragmas, index)


def _splice(source: str) -> tuple[str, list[int], list[int]]:
    """The text with backslash-newlines removed, and each character's line and column."""
    pieces: list[str] = []
    lines: list[int] = []
    cols: list[int] = []
    line, pos = 1, 0
    for match in _SPLICE.finditer(source):
        piece = source[pos:match.start()]
        _positions(piece, line, lines, cols)
        pieces.append(piece)
        line, pos = line + piece.count("\n") + 1, match.end()
    piece = source[pos:]
    _positions(piece, line, lines, cols)
    pieces.append(piece)
    return "".join(pieces), lines, cols


def _positions(piece: str, line: int, lines: list[int], cols: list[int]) -> None:
    """Positions of a piece of source that starts a physical line."""
    for part in piece.split("\n"):
        lines.extend([line] * (len(part) + 1))
        cols.extend(range(1, len(part) + 2))
        line += 1
    del lines[-1], cols[-1]  # the split added one newline too many


def preprocess(source: str, file: str) -> Preprocessed:
    """Phases 1–4 of `source`: text for pycparser and the original position of its tokens."""
    pre = _Preprocessor(source, file)
    pre.run()
    return pre.result()
