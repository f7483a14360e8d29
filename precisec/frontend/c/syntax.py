"""pycparser's AST of a preprocessed kernel file, and what the builder asks of it.

Syntax errors become one located `PrecisecError`; the rest are small questions about the
tree (type names, literals, which function is the kernel, which pragmas are its) and
the one rewrite, `normalise_returns`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

from pycparser import c_ast, c_parser
from pycparser.plyparser import ParseError

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.c.preprocess import Preprocessed
from precisec.frontend.pragmas import Pragma

INT_LITERAL = re.compile(r"^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)[uUlL]*$")
_HEX_FLOAT = re.compile(r"0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)[pP]([+-]?\d+)")
_DECIMAL_FLOAT = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_COORD = re.compile(r"^(\d+):(\d+): (.*)$", re.DOTALL)


def parse_ast(pre: Preprocessed) -> c_ast.FileAST:
    """pycparser's AST; a syntax error becomes a located error in the user's file."""
    try:
        return c_parser.CParser().parse(pre.text, pre.file)
    except ParseError as err:
        text = str(err).removeprefix(f"{pre.file}:")
        match = _COORD.match(text)
        if match is None or int(match.group(1)) < 1:
            last = pre.token_loc(len(pre.tokens) - 1) if pre.tokens else \
                SourceLoc(pre.file, 1, 1)
            raise PrecisecError(last, f"syntax error: {text.strip()}") from err
        loc = pre.loc(int(match.group(1)), int(match.group(2)))
        raise PrecisecError(loc, f"syntax error {match.group(3)}") from err


def type_names(kind: c_ast.Node) -> list[str]:
    """The type names of a TypeDecl (['double'], ['unsigned', 'int']), [] otherwise."""
    inner = kind.type if isinstance(kind, c_ast.TypeDecl) else None
    return list(inner.names) if isinstance(inner, c_ast.IdentifierType) else []


def parameters(func: c_ast.FuncDef) -> list[c_ast.Node]:
    """A function's parameter declarations (none for `(void)`)."""
    params = func.decl.type.args.params if func.decl.type.args is not None else []
    return [p for p in params if not (isinstance(p, c_ast.Typename)
                                      and type_names(p.type) == ["void"])]


def decimal_text(literal: str, loc: SourceLoc) -> tuple[str, bool]:
    """The exact decimal text of a C number literal, and whether it is an integer."""
    if INT_LITERAL.match(literal):
        digits = literal.rstrip("uUlL")
        octal = re.fullmatch(r"0[0-7]+", digits) is not None
        return str(int(digits, 8) if octal else int(digits, 0)), True
    body = literal.rstrip("fFlL")
    hexa = _HEX_FLOAT.fullmatch(body)
    if hexa is not None:
        digits = hexa.group(1) + hexa.group(2)
        value = Fraction(int(digits, 16), 16 ** len(hexa.group(2))) * \
            Fraction(2) ** int(hexa.group(3))
        return _fraction_text(value), False
    if not _DECIMAL_FLOAT.fullmatch(body):
        raise PrecisecError(loc, f"unsupported number literal '{literal}'")
    return str(Decimal(body)), False


def _fraction_text(value: Fraction) -> str:
    """The exact decimal text of a dyadic rational."""
    digits = 0
    while (value * 10**digits).denominator != 1:
        digits += 1
    return str(Decimal(f"{int(value * 10**digits)}e-{digits}"))


def always_returns(stmt: c_ast.Node | None) -> bool:
    if isinstance(stmt, c_ast.Return):
        return True
    if isinstance(stmt, c_ast.Compound):
        return bool(stmt.block_items) and always_returns(stmt.block_items[-1])
    if isinstance(stmt, c_ast.If):
        return always_returns(stmt.iftrue) and always_returns(stmt.iffalse)
    return False


def normalise_returns(stmt: c_ast.Node | None) -> None:
    """Fold the statements after `if (c) { ... return a; }` into its else branch, in place,
    so that every return ends a branch: `if (c) return a; ...; return b;` becomes one
    branch yielding the returned value."""
    if isinstance(stmt, c_ast.Compound) and stmt.block_items:
        items = stmt.block_items
        for k, item in enumerate(items):
            rest = items[k + 1:]
            if isinstance(item, c_ast.If) and rest and not always_returns(item):
                if always_returns(item.iftrue):
                    other = [item.iffalse] if item.iffalse is not None else []
                    item.iffalse = c_ast.Compound(other + rest, coord=rest[0].coord)
                    del items[k + 1:]
                elif item.iffalse is not None and always_returns(item.iffalse):
                    item.iftrue = c_ast.Compound([item.iftrue, *rest], coord=rest[0].coord)
                    del items[k + 1:]
            normalise_returns(item)
    elif isinstance(stmt, c_ast.If):
        normalise_returns(stmt.iftrue)
        normalise_returns(stmt.iffalse)
    elif isinstance(stmt, c_ast.For | c_ast.While | c_ast.DoWhile):
        normalise_returns(stmt.stmt)


def called(func: c_ast.FuncDef) -> set[str]:
    """Names of the functions a function calls."""
    names: set[str] = set()

    class Calls(c_ast.NodeVisitor):
        def visit_FuncCall(self, node: c_ast.FuncCall) -> None:
            if isinstance(node.name, c_ast.ID):
                names.add(node.name.name)
            self.generic_visit(node)

    Calls().visit(func.body)
    return names


def choose(functions: list[c_ast.FuncDef], function: str | None,
           pre: Preprocessed) -> c_ast.FuncDef:
    """The kernel: the named function, else the one function no other one calls."""
    names = ", ".join(f.decl.name for f in functions) or "none"
    if function is not None:
        for func in functions:
            if func.decl.name == function:
                return func
        raise PrecisecError(SourceLoc(pre.file, 1, 1),
                            f"no function named '{function}' (found: {names})")
    if not functions:
        raise PrecisecError(SourceLoc(pre.file, 1, 1), "no function definition found")
    calls = set().union(*(called(f) for f in functions))
    roots = [f for f in functions if f.decl.name not in calls] or functions
    if len(roots) > 1:
        where = roots[-1].decl.coord
        raise PrecisecError(pre.loc(where.line, where.column),
                            f"several candidate kernels ({', '.join(f.decl.name for f in roots)})"
                            "; choose one with --function")
    return roots[0]


def pragmas_for(func: c_ast.FuncDef, functions: list[c_ast.FuncDef],
                pre: Preprocessed) -> list[Pragma]:
    """The kernel's pragmas: those after the previous function that is not one of its
    helpers and before the kernel."""
    reach: set[str] = set()
    todo = [func]
    by_name = {f.decl.name: f for f in functions}
    while todo:
        for name in called(todo.pop()):
            if name in by_name and name not in reach:
                reach.add(name)
                todo.append(by_name[name])

    def line(f: c_ast.FuncDef) -> int:
        return pre.loc(f.decl.coord.line, f.decl.coord.column).line

    start = line(func)
    previous = max((line(f) for f in functions
                    if f.decl.name not in reach and line(f) < start), default=0)
    return [p for p in pre.pragmas if previous <= p.loc.line < start]
