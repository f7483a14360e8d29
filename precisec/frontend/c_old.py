"""C frontend: a kernel file (pycparser) to the IR.

The file is not run through a preprocessor: `#include` lines are dropped, precisec pragmas
are read here, comments are blanked, and every replacement keeps line and column numbers
so that errors and operation locations point into the user's own file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from pycparser import c_ast, c_parser
from pycparser.plyparser import ParseError

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend import read_source
from precisec.frontend.pragmas import Pragma, collect, parse_pragma
from precisec.ir import Const, Input, Kernel, Node, Op
from precisec.ops import BINARY_OPERATORS, C_FUNCTIONS, UNARY_OPERATORS

_STATEMENT_NAMES = {
    c_ast.If: "if statements",
    c_ast.For: "for loops",
    c_ast.While: "while loops",
    c_ast.DoWhile: "do-while loops",
    c_ast.Switch: "switch statements",
    c_ast.Goto: "goto",
    c_ast.Label: "labels",
    c_ast.Break: "break",
    c_ast.Continue: "continue",
    c_ast.FuncCall: "calls as statements",
    c_ast.UnaryOp: "increment and decrement statements",
}
_EXPRESSION_NAMES = {
    c_ast.TernaryOp: "the conditional operator '?:'",
    c_ast.ArrayRef: "array indexing",
    c_ast.StructRef: "struct member access",
    c_ast.Assignment: "assignment inside an expression",
    c_ast.ExprList: "the comma operator",
    c_ast.CompoundLiteral: "compound literals",
    c_ast.InitList: "initialiser lists",
}
_COMPARISONS = {"<", ">", "<=", ">=", "==", "!=", "&&", "||"}
_COMPOUND_ASSIGNMENTS = {"+=": "+", "-=": "-", "*=": "*", "/=": "/"}
_INT_LITERAL = re.compile(r"^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)[uUlL]*$")


def _blank(text: str) -> str:
    """Replace every character but newlines by spaces (keeps line:col positions)."""
    return re.sub(r"[^\n]", " ", text)


def _strip_comments(source: str) -> str:
    pattern = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
    return pattern.sub(lambda m: _blank(m.group(0)), source)


@dataclass
class _Preprocessed:
    text: str
    pragmas: list[Pragma]
    lines: list[str]


_DEFINE = re.compile(r"#\s*define\s+(?P<name>[A-Za-z_]\w*)\s+(?P<value>\S.*?)\s*$")


def _preprocess(source: str, file: str, defines: dict[str, tuple[str, SourceLoc]] | None = None,
                ) -> _Preprocessed:
    """Read pragmas, drop includes and other pragmas, reject other directives; with a
    `defines` dict, object-like `#define NAME VALUE` lines are collected into it."""
    text = _strip_comments(source)
    out_lines: list[str] = []
    pragmas: list[Pragma] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        stripped = line.lstrip()
        if not stripped.startswith("#"):
            out_lines.append(line)
            continue
        col = len(line) - len(stripped) + 1
        directive = re.match(r"#\s*(\w*)", stripped)
        name = directive.group(1) if directive else ""
        pragma = parse_pragma(line, file, lineno)
        define = _DEFINE.match(stripped) if defines is not None and name == "define" else None
        if pragma is not None:
            pragmas.append(pragma)
        elif define is not None and defines is not None:
            defines[define.group("name")] = (define.group("value"),
                                             SourceLoc(file, lineno, col))
        elif name not in ("include", "pragma"):
            raise PrecisecError(SourceLoc(file, lineno, col),
                                f"preprocessor directive '#{name}' is not supported")
        out_lines.append(_blank(line))
    return _Preprocessed("\n".join(out_lines), pragmas, text.split("\n"))


def _decimal_text(literal: str, loc: SourceLoc) -> tuple[str, bool]:
    """Exact decimal text of a C literal, and whether it is an integer literal."""
    if _INT_LITERAL.match(literal):
        digits = literal.rstrip("uUlL")
        return str(int(digits, 0) if not re.fullmatch(r"0[0-7]+", digits) else int(digits, 8)), True
    body = literal.rstrip("fFlL")
    if body.lower().startswith("0x"):
        return _fraction_text(Fraction(float.fromhex(body))), False
    try:
        return str(Decimal(body)), False
    except ArithmeticError as err:
        raise PrecisecError(loc, f"unsupported literal '{literal}'") from err


def _fraction_text(value: Fraction) -> str:
    """Exact decimal text of a dyadic rational."""
    digits = 0
    while (value * 10**digits).denominator != 1:
        digits += 1
    return str(Decimal(f"{int(value * 10**digits)}e-{digits}"))


@dataclass
class _Scope:
    """Name to node index; None for a declared but unassigned local."""

    names: dict[str, int | None] = field(default_factory=dict)


class _KernelBuilder:
    """Walks one function definition and appends IR nodes in evaluation order."""

    def __init__(self, file: str, lines: list[str]) -> None:
        self.file = file
        self.lines = lines
        self.nodes: list[Node] = []
        self.scopes: list[_Scope] = [_Scope()]

    def loc(self, node: c_ast.Node) -> SourceLoc:
        coord = node.coord
        return SourceLoc(self.file, coord.line, coord.column or 1)

    def error(self, node: c_ast.Node, message: str) -> PrecisecError:
        return PrecisecError(self.loc(node), message)

    def add(self, node: Node) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    # -- source positions -------------------------------------------------------------
    def _scan_back(self, loc: SourceLoc, symbol: str) -> SourceLoc | None:
        """Position of `symbol` before `loc`, skipping blanks and opening parentheses."""
        line, col = loc.line, loc.col - 1
        while line >= 1:
            text = self.lines[line - 1]
            col = min(col, len(text))
            while col >= 1:
                char = text[col - 1]
                if text[col - len(symbol):col] == symbol:
                    return SourceLoc(self.file, line, col - len(symbol) + 1)
                if not (char.isspace() or char == "("):
                    return None
                col -= 1
            line -= 1
            col = len(self.lines[line - 1]) if line >= 1 else 0
        return None

    def start(self, node: c_ast.Node) -> SourceLoc:
        """Where an expression begins in the source (pycparser gives its operand's)."""
        if isinstance(node, c_ast.BinaryOp):
            return self.start(node.left)
        if isinstance(node, c_ast.UnaryOp):
            inner = self.start(node.expr)
            return self._scan_back(inner, node.op) or inner
        return self.loc(node)

    def operator_loc(self, node: c_ast.BinaryOp | c_ast.UnaryOp) -> SourceLoc:
        if isinstance(node, c_ast.UnaryOp):
            return self.start(node)
        return self._scan_back(self.start(node.right), node.op) or self.start(node.left)

    # -- names ---------------------------------------------------------------------------
    def declare(self, name: str, value: int | None, where: c_ast.Node) -> None:
        if name in self.scopes[-1].names:
            raise self.error(where, f"redeclaration of '{name}'")
        self.scopes[-1].names[name] = value

    def assign(self, name: str, value: int, where: c_ast.Node) -> None:
        for scope in reversed(self.scopes):
            if name in scope.names:
                scope.names[name] = value
                return
        raise self.error(where, f"assignment to undeclared identifier '{name}'")

    def lookup(self, ident: c_ast.ID) -> int:
        for scope in reversed(self.scopes):
            if ident.name in scope.names:
                value = scope.names[ident.name]
                if value is None:
                    raise self.error(ident, f"'{ident.name}' is used before it is assigned")
                return value
        raise self.error(ident, f"undeclared identifier '{ident.name}'")

    # -- declarations and statements ----------------------------------------------------
    def check_double(self, decl: c_ast.Decl, what: str) -> None:
        kind = decl.type
        if isinstance(kind, c_ast.ArrayDecl):
            raise self.error(decl, f"{what} '{decl.name}': arrays are not supported")
        if isinstance(kind, c_ast.PtrDecl):
            raise self.error(decl, f"{what} '{decl.name}': pointers are not supported")
        if isinstance(kind, c_ast.FuncDecl):
            raise self.error(decl, f"{what} '{decl.name}': nested function declarations "
                                   "are not supported")
        inner = kind.type if isinstance(kind, c_ast.TypeDecl) else None
        if isinstance(inner, c_ast.Struct | c_ast.Union):
            raise self.error(decl, f"{what} '{decl.name}': structs and unions are not supported")
        names = inner.names if isinstance(inner, c_ast.IdentifierType) else []
        if names != ["double"]:
            spelled = " ".join(names) or type(inner).__name__
            raise self.error(decl, f"{what} '{decl.name}' has type '{spelled}'; "
                                   "only double is supported")

    def statement(self, stmt: c_ast.Node) -> int | None:
        """Process one statement; the output node if it returns."""
        if isinstance(stmt, c_ast.Decl):
            self.check_double(stmt, "local")
            self.declare(stmt.name, self.expression(stmt.init) if stmt.init else None, stmt)
            return None
        if isinstance(stmt, c_ast.Assignment):
            return self.assignment(stmt)
        if isinstance(stmt, c_ast.Return):
            if stmt.expr is None:
                raise self.error(stmt, "return without a value")
            return self.expression(stmt.expr)
        if isinstance(stmt, c_ast.Compound):
            self.scopes.append(_Scope())
            try:
                return self.block(stmt)
            finally:
                self.scopes.pop()
        if isinstance(stmt, c_ast.EmptyStatement):
            return None
        name = _STATEMENT_NAMES.get(type(stmt), f"statement '{type(stmt).__name__}'")
        raise self.error(stmt, f"{name} are not supported" if name.endswith("s")
                         else f"{name} is not supported")

    def assignment(self, stmt: c_ast.Assignment) -> None:
        if not isinstance(stmt.lvalue, c_ast.ID):
            raise self.error(stmt, "assignment target must be a local double variable")
        name = stmt.lvalue.name
        if stmt.op == "=":
            self.assign(name, self.expression(stmt.rvalue), stmt)
            return None
        symbol = _COMPOUND_ASSIGNMENTS.get(stmt.op)
        if symbol is None:
            raise self.error(stmt, f"assignment operator '{stmt.op}' is not supported")
        current = self.lookup(stmt.lvalue)
        value = self.expression(stmt.rvalue)
        loc = self._scan_back(self.start(stmt.rvalue), stmt.op) or self.loc(stmt)
        self.assign(name, self.add(Op(BINARY_OPERATORS[symbol].name, (current, value), loc)), stmt)
        return None

    def block(self, body: c_ast.Compound) -> int | None:
        items = body.block_items or []
        for position, stmt in enumerate(items):
            result = self.statement(stmt)
            if result is not None:
                if position + 1 < len(items):
                    raise self.error(items[position + 1], "statement after return is not "
                                                          "supported")
                return result
        return None

    # -- expressions ---------------------------------------------------------------------
    def expression(self, expr: c_ast.Node) -> int:
        if isinstance(expr, c_ast.ID):
            return self.lookup(expr)
        if isinstance(expr, c_ast.Constant):
            return self.add(self.constant(expr))
        if isinstance(expr, c_ast.UnaryOp):
            return self.unary(expr)
        if isinstance(expr, c_ast.BinaryOp):
            return self.binary(expr)
        if isinstance(expr, c_ast.FuncCall):
            return self.call(expr)
        if isinstance(expr, c_ast.Cast):
            decl = c_ast.Decl("cast", [], [], [], [], expr.to_type.type, None, None,
                              coord=expr.coord)
            self.check_double(decl, "cast")
            return self.expression(expr.expr)
        name = _EXPRESSION_NAMES.get(type(expr), f"expression '{type(expr).__name__}'")
        raise self.error(expr, f"{name} is not supported")

    def constant(self, expr: c_ast.Constant, negate: bool = False) -> Const:
        if expr.type in ("char", "string"):
            raise self.error(expr, f"{expr.type} literals are not supported")
        text, _ = _decimal_text(expr.value, self.loc(expr))
        return Const(f"-{text}" if negate else text, self.loc(expr))

    def unary(self, expr: c_ast.UnaryOp) -> int:
        if expr.op == "+":
            return self.expression(expr.expr)
        if expr.op == "-" and isinstance(expr.expr, c_ast.Constant):
            return self.add(self.constant(expr.expr, negate=True))
        spec = UNARY_OPERATORS.get(expr.op)
        if spec is None:
            raise self.error(expr, f"unary operator '{expr.op}' is not supported")
        arg = self.expression(expr.expr)
        return self.add(Op(spec.name, (arg,), self.operator_loc(expr)))

    def binary(self, expr: c_ast.BinaryOp) -> int:
        if expr.op in _COMPARISONS:
            raise self.error(expr, f"comparison '{expr.op}' is not supported (no branches)")
        spec = BINARY_OPERATORS.get(expr.op)
        if spec is None:
            raise self.error(expr, f"binary operator '{expr.op}' is not supported")
        if all(isinstance(side, c_ast.Constant) and _INT_LITERAL.match(side.value)
               for side in (expr.left, expr.right)):
            raise self.error(expr, "integer arithmetic between literals is not supported "
                                   "(C would not compute it in double; write 1.0 for 1)")
        left = self.expression(expr.left)
        right = self.expression(expr.right)
        return self.add(Op(spec.name, (left, right), self.operator_loc(expr)))

    def call(self, expr: c_ast.FuncCall) -> int:
        if not isinstance(expr.name, c_ast.ID):
            raise self.error(expr, "calls through function pointers are not supported")
        spec = C_FUNCTIONS.get(expr.name.name)
        if spec is None:
            raise self.error(expr, f"call to unknown function '{expr.name.name}'")
        args = expr.args.exprs if expr.args is not None else []
        if len(args) != spec.arity:
            raise self.error(expr, f"'{spec.c_function}' takes {spec.arity} argument(s), "
                                   f"got {len(args)}")
        indices = tuple(self.expression(a) for a in args)
        return self.add(Op(spec.name, indices, self.loc(expr)))


def _function_name(func: c_ast.FuncDef) -> str:
    return func.decl.name


def _select(functions: list[c_ast.FuncDef], function: str | None, file: str) -> c_ast.FuncDef:
    if function is not None:
        for func in functions:
            if _function_name(func) == function:
                return func
        raise PrecisecError(SourceLoc(file, 1, 1), f"no function named '{function}' "
                            f"(found: {', '.join(_function_name(f) for f in functions) or 'none'})")
    if not functions:
        raise PrecisecError(SourceLoc(file, 1, 1), "no function definition found")
    if len(functions) > 1:
        names = ", ".join(_function_name(f) for f in functions)
        raise PrecisecError(SourceLoc(file, functions[1].coord.line, functions[1].coord.column),
                            f"several functions ({names}); choose one with --function")
    return functions[0]


def _pragmas_for(func: c_ast.FuncDef, functions: list[c_ast.FuncDef],
                 pragmas: list[Pragma]) -> list[Pragma]:
    """Pragmas written before this function and after the previous one."""
    previous = max((f.coord.line for f in functions if f.coord.line < func.coord.line),
                   default=0)
    return [p for p in pragmas if previous <= p.loc.line < func.coord.line]


def parse_c(source: str, file: str, function: str | None = None) -> Kernel:
    """Parse kernel source text into the IR: a straight-line kernel as before; a kernel
    this frontend rejects is tried as a structured one (loops, branches, arrays, helpers,
    float; frontend/real.py), whose error wins if it fails too."""
    try:
        return _parse_straight(source, file, function)
    except PrecisecError as straight_error:
        from precisec.frontend.real import parse_real

        try:
            return parse_real(source, file, function)
        except PrecisecError as real_error:
            if real_error.message.startswith("syntax error"):
                raise straight_error from None
            raise real_error from None


def parse_ast(text: str, file: str) -> c_ast.FileAST:
    """pycparser's AST of preprocessed text; a syntax error becomes a located error."""
    try:
        return c_parser.CParser().parse(text, file)
    except ParseError as err:
        match = re.match(r"^(.*?):(\d+):(\d+): (.*)$", str(err))
        if match is None:
            raise PrecisecError(SourceLoc(file, 1, 1), f"syntax error: {err}") from err
        loc = SourceLoc(file, int(match.group(2)), int(match.group(3)))
        raise PrecisecError(loc, f"syntax error {match.group(4)}") from err


def _parse_straight(source: str, file: str, function: str | None = None) -> Kernel:
    """A straight-line double kernel into the IR."""
    pre = _preprocess(source, file)
    ast = parse_ast(pre.text, file)
    functions = [e for e in ast.ext if isinstance(e, c_ast.FuncDef)]
    func = _select(functions, function, file)
    pragmas = _pragmas_for(func, functions, pre.pragmas)
    builder = _KernelBuilder(file, pre.lines)
    func_loc = builder.loc(func.decl)
    ret = func.decl.type.type
    return_decl = c_ast.Decl(func.decl.name, [], [], [], [], ret, None, None, coord=func.coord)
    builder.check_double(return_decl, "function")

    ranges, target = collect(pragmas)

    params = func.decl.type.args.params if func.decl.type.args is not None else []
    inputs: list[int] = []
    for param in params:
        if isinstance(param, c_ast.Typename) and isinstance(param.type.type, c_ast.IdentifierType) \
                and param.type.type.names == ["void"]:
            continue
        if isinstance(param, c_ast.EllipsisParam) or not param.name:
            raise builder.error(param, "unnamed or variadic parameters are not supported")
        builder.check_double(param, "parameter")
        bound = ranges.pop(param.name, None)
        if bound is None:
            raise builder.error(param, f"parameter '{param.name}' has no range pragma "
                                       f"(#pragma precisec range({param.name}, LO, HI))")
        index = builder.add(Input(param.name, bound.lo, bound.hi, builder.loc(param)))
        builder.declare(param.name, index, param)
        inputs.append(index)
    for unused in ranges.values():
        raise PrecisecError(unused.loc, f"range pragma for '{unused.name}', which is not a "
                                        f"parameter of '{_function_name(func)}'")

    output = builder.block(func.body)
    if output is None:
        end = SourceLoc(file, func.body.coord.line, func.body.coord.column or 1)
        raise PrecisecError(end, f"function '{_function_name(func)}' has no return statement")
    return Kernel(_function_name(func), tuple(builder.nodes), tuple(inputs), output,
                  target, func_loc)


def load_c(path: str | Path, function: str | None = None) -> Kernel:
    """Read and parse a kernel file."""
    return parse_c(read_source(path), str(path), function)
