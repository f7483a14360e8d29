"""`#pragma precisec pre(EXPR)`: a C expression over the scalar parameters, to the IR.

EXPR uses `+ - * /`, the comparisons, `&& || !`, parentheses, number literals and the
libm functions precisec knows (`sqrt`, `log`, ...). It is a statement about real
numbers: literals keep their exact decimal value and nothing rounds (samplers evaluate it
soundly, `precisec.tune.precondition`, inside the box of the range pragmas).
"""

from __future__ import annotations

from collections.abc import Mapping

from pycparser import c_ast, c_parser

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.c.syntax import decimal_text
from precisec.frontend.pragmas import PrePragma
from precisec.ir import BOOL, REAL, Atom, Lit, Precondition, Var
from precisec.ir.builder import Builder
from precisec.ops import ARITH_BINARY, C_FUNCTIONS, COMPARISONS

_PREFIX = "int pc_pre(void) { return ("
_LOGIC = {"&&": "and", "||": "or"}
_HINT = ("use the scalar parameters, numbers, + - * /, comparisons, && || ! and libm "
         "functions")


class _Translation:
    """Walks the expression's syntax tree, emitting equations into a builder of its own
    (so none of them is a rounding site of the kernel)."""

    def __init__(self, pragma: PrePragma, names: Mapping[str, Var]) -> None:
        self.pragma, self.names = pragma, names
        self.builder = Builder()

    def loc(self, node: c_ast.Node) -> SourceLoc:
        coord = node.coord
        offset = coord.column - len(_PREFIX) - 1 if coord is not None and coord.column else 0
        base = self.pragma.loc
        return SourceLoc(base.file, base.line, base.col + max(offset, 0))

    def error(self, node: c_ast.Node, message: str) -> PrecisecError:
        return PrecisecError(self.loc(node), message)

    def value(self, node: c_ast.Node) -> Atom:
        """A real or boolean value."""
        if isinstance(node, c_ast.ID):
            if node.name not in self.names:
                raise self.error(node, f"'{node.name}' in pre is not a scalar input "
                                       "parameter")
            return self.names[node.name]
        if isinstance(node, c_ast.Constant):
            text, _ = decimal_text(node.value, self.loc(node))
            return Lit.real(text)
        if isinstance(node, c_ast.UnaryOp) and node.op in ("-", "+", "!"):
            inner = self.value(node.expr)
            if node.op == "+":
                return self.real(inner, node.expr)
            if node.op == "-":
                return self.builder.op("neg", (self.real(inner, node.expr),), self.loc(node))
            return self.builder.op("not", (self.boolean(inner, node.expr),), self.loc(node))
        if isinstance(node, c_ast.BinaryOp):
            left, right = self.value(node.left), self.value(node.right)
            if node.op in _LOGIC:
                return self.builder.op(_LOGIC[node.op], (self.boolean(left, node.left),
                                                         self.boolean(right, node.right)),
                                       self.loc(node))
            spec = ARITH_BINARY.get(node.op) or COMPARISONS.get(node.op)
            if spec is None:
                raise self.error(node, f"operator '{node.op}' is not supported in pre; {_HINT}")
            return self.builder.op(spec.name, (self.real(left, node.left),
                                               self.real(right, node.right)), self.loc(node))
        if isinstance(node, c_ast.FuncCall) and isinstance(node.name, c_ast.ID):
            spec = C_FUNCTIONS.get(node.name.name)
            args = node.args.exprs if node.args is not None else []
            if spec is None:
                raise self.error(node, f"unknown function '{node.name.name}' in pre")
            if len(args) != spec.arity:
                raise self.error(node, f"'{node.name.name}' takes {spec.arity} argument(s), "
                                       f"got {len(args)}")
            values = [self.real(self.value(a), a) for a in args]
            return self.builder.op(spec.name, values, self.loc(node))
        raise self.error(node, f"this expression is not supported in pre; {_HINT}")

    def real(self, atom: Atom, node: c_ast.Node) -> Atom:
        if atom.type != REAL:
            raise self.error(node, "a condition where pre expects a number")
        return atom

    def boolean(self, atom: Atom, node: c_ast.Node) -> Atom:
        if atom.type != BOOL:
            raise self.error(node, "a number where pre expects a condition (a comparison)")
        return atom


def build_precondition(pragma: PrePragma, params: list[Var],
                       names: Mapping[str, Var]) -> Precondition:
    """The precondition of a pre pragma: a region from `params` (one per sampled scalar)
    to one boolean; `names` maps each scalar parameter to its value among `params`."""
    source = f"{_PREFIX}{pragma.text}); }}"
    try:
        tree = c_parser.CParser().parse(source, pragma.loc.file)
    except c_parser.ParseError as err:
        raise PrecisecError(pragma.loc, f"pre pragma: cannot parse '{pragma.text.strip()}' "
                                        "as a C expression") from err
    body = tree.ext[0].body.block_items
    if len(body) != 1 or not isinstance(body[0], c_ast.Return):
        raise PrecisecError(pragma.loc, f"pre pragma: '{pragma.text.strip()}' is not one "
                                        "C expression")
    translation = _Translation(pragma, names)
    result = translation.boolean(translation.value(body[0].expr), body[0].expr)
    return Precondition(translation.builder.pop(params, (result,)), pragma.loc,
                        pragma.text.strip())
