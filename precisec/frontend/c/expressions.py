"""C expressions into IR equations: reals, integers (counters and indices), conditions.

Evaluation order is the old frontend's, so that straight-line kernels keep their site
numbers and Table 1 reproduces: operands left to right, then the operation, each at the
operator's own `line:col` (a binary operator's symbol; a call's function name).

Typing follows C: an operation on two integers is integer arithmetic (folded when both are
known at compile time, else an `iadd`…`imod` equation whose interval of values is kept, so
indices are bounds-checked statically); an integer used as a real is converted (`itof`,
or a literal). `&&` and `||` on data-dependent conditions evaluate both sides (they are
pure) and combine them with `and`/`or`; with a side known at compile time they
short-circuit as C does.

A literal keeps its exact decimal text, also when stored in a variable: where a rounding
operation uses it, it is rounded at that operation's precision, anywhere else at the
kernel's type (the literal rule of docs/method.md §1).
"""

from __future__ import annotations

from collections.abc import Callable

from pycparser import c_ast

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.c.preprocess import Preprocessed
from precisec.frontend.c.scope import (
    Array,
    Integer,
    IntRange,
    IntValue,
    Real,
    Scopes,
    bounds,
    unflat,
)
from precisec.frontend.c.syntax import INT_LITERAL, decimal_text, type_names
from precisec.ir import Atom, Lit, Var
from precisec.ir.builder import Builder, integer
from precisec.ops import ARITH_BINARY, C_FUNCTIONS, COMPARISONS, INT_BINARY, OpSpec

_INT_FOLD: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: _c_div(a, b),
    "%": lambda a, b: a - b * _c_div(a, b),
}
_INT_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__,
    "==": int.__eq__, "!=": int.__ne__}
_REFUSED_EXPRESSIONS = {
    c_ast.StructRef: "struct member access",
    c_ast.Assignment: "assignment inside an expression",
    c_ast.ExprList: "the comma operator",
    c_ast.CompoundLiteral: "compound literals",
    c_ast.InitList: "initialiser lists",
}


def _c_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


class Expressions:
    """Builds the expressions of one kernel (and its inlined helpers) into `builder`."""

    def __init__(self, pre: Preprocessed, precision: str, helpers: dict[str, c_ast.FuncDef],
                 fallback: SourceLoc) -> None:
        self.pre = pre
        self.b = Builder()
        self.precision = precision
        self.helpers = helpers
        self.fallback = fallback
        self.scopes = Scopes()
        self.calls: list[str] = []
        self.starts: dict[int, int | None] = {}
        self.integral: dict[int, bool] = {}

    # -- places ----------------------------------------------------------------------------
    def loc(self, node: c_ast.Node) -> SourceLoc:
        coord = getattr(node, "coord", None)
        if coord is None or not coord.line:
            return self.fallback
        return self.pre.loc(coord.line, coord.column or 1)

    def error(self, node: c_ast.Node, message: str) -> PrecisecError:
        return PrecisecError(self.loc(node), message)

    def start(self, node: c_ast.Node) -> int | None:
        """The token an expression begins with (pycparser gives a unary or binary
        operation its operand's position)."""
        key = id(node)
        if key not in self.starts:
            if isinstance(node, c_ast.BinaryOp):
                found = self.start(node.left)
            elif isinstance(node, c_ast.UnaryOp):
                inner = self.start(node.expr)
                found = self.before(inner, node.op)
                found = inner if found is None else found
            elif isinstance(node, c_ast.TernaryOp):
                found = self.start(node.cond)
            elif isinstance(node, c_ast.ArrayRef | c_ast.FuncCall):
                found = self.start(node.name)
            else:
                coord = node.coord
                found = None if coord is None else self.pre.token_at(coord.line, coord.column)
            self.starts[key] = found
        return self.starts[key]

    def before(self, index: int | None, symbol: str) -> int | None:
        """The token `symbol` just before token `index`, across opening parentheses."""
        if index is None:
            return None
        tokens = self.pre.tokens
        index -= 1
        while index >= 0 and tokens[index].text == "(":
            index -= 1
        return index if index >= 0 and tokens[index].text == symbol else None

    def start_loc(self, node: c_ast.Node) -> SourceLoc:
        index = self.start(node)
        return self.loc(node) if index is None else self.pre.token_loc(index)

    def operator_loc(self, node: c_ast.BinaryOp | c_ast.UnaryOp) -> SourceLoc:
        """Where an operator's symbol is written."""
        if isinstance(node, c_ast.UnaryOp):
            return self.start_loc(node)
        found = self.before(self.start(node.right), node.op)
        return self.start_loc(node.left) if found is None else self.pre.token_loc(found)

    def assign_op_loc(self, stmt: c_ast.Assignment) -> SourceLoc:
        found = self.before(self.start(stmt.rvalue), stmt.op)
        return self.loc(stmt) if found is None else self.pre.token_loc(found)

    # -- reals ------------------------------------------------------------------------------
    def real(self, expr: c_ast.Node, hint: str = "") -> Atom:
        """A real-valued expression."""
        if self.is_integer(expr):
            value = self.integer(expr)
            if isinstance(value, int):
                return Lit.real(str(value))
            return self.b.op("itof", (value.atom,), self.start_loc(expr), hint)
        if isinstance(expr, c_ast.Constant):
            return Lit.real(self.literal(expr))
        if isinstance(expr, c_ast.ID):
            return self.read(expr)
        if isinstance(expr, c_ast.UnaryOp):
            return self.unary(expr, hint)
        if isinstance(expr, c_ast.BinaryOp):
            return self.binary(expr, hint)
        if isinstance(expr, c_ast.FuncCall):
            return self.call(expr, hint)
        if isinstance(expr, c_ast.ArrayRef):
            return self.load(expr)
        if isinstance(expr, c_ast.TernaryOp):
            return self.ternary(expr, hint)
        if isinstance(expr, c_ast.Cast):
            self.check_cast(expr)
            return self.real(expr.expr, hint)
        name = _REFUSED_EXPRESSIONS.get(type(expr), f"the expression '{type(expr).__name__}'")
        raise self.error(expr, f"{name} is not supported")

    def literal(self, expr: c_ast.Constant, negate: bool = False) -> str:
        if expr.type in ("char", "string") or expr.value[:1] in ("'", '"'):
            raise self.error(expr, f"{expr.type} literals are not supported")
        text, _ = decimal_text(expr.value, self.loc(expr))
        return f"-{text}" if negate else text

    def read(self, ident: c_ast.ID) -> Atom:
        binding = self.scopes.find(ident.name)
        if binding is None:
            raise self.error(ident, f"undeclared identifier '{ident.name}'")
        if isinstance(binding, Array):
            raise self.error(ident, f"array '{ident.name}' used as a value")
        assert isinstance(binding, Real)
        if binding.value is None:
            raise self.error(ident, f"'{ident.name}' is used before it is assigned")
        return binding.value

    def unary(self, expr: c_ast.UnaryOp, hint: str) -> Atom:
        if expr.op == "+":
            return self.real(expr.expr, hint)
        if expr.op == "-":
            if isinstance(expr.expr, c_ast.Constant):
                return Lit.real(self.literal(expr.expr, negate=True))
            operand = self.real(expr.expr)
            return self.b.op("neg", (operand,), self.operator_loc(expr), hint)
        where = self.start_loc(expr)
        if expr.op in ("*", "&"):
            raise PrecisecError(where, f"pointers are not supported (unary '{expr.op}')")
        if expr.op in ("++", "--", "p++", "p--"):
            raise PrecisecError(where, "increment and decrement are supported as statements "
                                       "on int variables only")
        if expr.op == "!":
            raise PrecisecError(where, "'!' used as a number; use it in an if or ?: "
                                       "condition")
        raise PrecisecError(where, f"unary operator '{expr.op}' is not supported")

    def binary(self, expr: c_ast.BinaryOp, hint: str) -> Atom:
        if expr.op in COMPARISONS or expr.op in ("&&", "||"):
            raise PrecisecError(self.operator_loc(expr), f"comparison '{expr.op}' used as a "
                                                         "number; use it in an if or ?: "
                                                         "condition")
        spec = ARITH_BINARY.get(expr.op)
        if spec is None:
            raise PrecisecError(self.operator_loc(expr), f"binary operator '{expr.op}' is not "
                                                         "supported on reals")
        left = self.real(expr.left)
        right = self.real(expr.right)
        return self.b.op(spec.name, (left, right), self.operator_loc(expr), hint)

    def check_cast(self, expr: c_ast.Cast) -> None:
        names = type_names(expr.to_type.type)
        if names != [self.precision]:
            spelled = " ".join(names) or "a pointer"
            raise self.error(expr, f"cast to '{spelled}' is not supported in a "
                                   f"{self.precision} kernel")

    def call(self, expr: c_ast.FuncCall, hint: str = "") -> Atom:
        if not isinstance(expr.name, c_ast.ID):
            raise self.error(expr, "calls through function pointers are not supported")
        name = expr.name.name
        args = expr.args.exprs if expr.args is not None else []
        if name in self.calls:
            raise self.error(expr, f"recursion is not supported ('{name}' calls itself)")
        if name in self.helpers:
            return self.inline(self.helpers[name], args, expr)
        spec = self.libm(name)
        if spec is None:
            raise self.error(expr, f"call to unknown function '{name}'")
        if len(args) != spec.arity:
            raise self.error(expr, f"'{name}' takes {spec.arity} argument(s), got {len(args)}")
        values = [self.real(a) for a in args]
        return self.b.op(spec.name, values, self.loc(expr), hint)

    def libm(self, name: str) -> OpSpec | None:
        """The operation a libm name computes: `sqrt`, and `sqrtf` in a float kernel."""
        if self.precision == "float" and name.endswith("f") and name[:-1] in C_FUNCTIONS:
            return C_FUNCTIONS[name[:-1]]
        return C_FUNCTIONS.get(name)

    def inline(self, helper: c_ast.FuncDef, args: list[c_ast.Node],
               call: c_ast.FuncCall) -> Atom:
        raise NotImplementedError  # statements: the kernel builder inlines helpers

    def ternary(self, expr: c_ast.TernaryOp, hint: str) -> Atom:
        pred = self.condition(expr.cond)
        if isinstance(pred, bool):
            return self.real(expr.iftrue if pred else expr.iffalse, hint)
        [out] = self.select(pred, expr, lambda: [self.real(expr.iftrue)],
                            lambda: [self.real(expr.iffalse)], [hint])
        return out

    def select(self, pred: Atom, node: c_ast.Node, then: Callable[[], list[Atom]],
               other: Callable[[], list[Atom]], hints: list[str]) -> tuple[Var, ...]:
        """A `Cond` whose sides compute and yield the values `then` and `other` give."""
        number = self.b.new_branch()
        self.b.push()
        then_region = self.b.pop([], then())
        self.b.push()
        other_region = self.b.pop([], other())
        return self.b.cond(pred, then_region, other_region, self.loc(node), hints, number)

    # -- arrays ----------------------------------------------------------------------------
    def element(self, ref: c_ast.ArrayRef) -> tuple[Array, list[Atom], int | None]:
        """An indexed element: the array, its index values (bounds checked), and its flat
        position when every index is known at compile time."""
        subscripts: list[c_ast.Node] = []
        base: c_ast.Node = ref
        while isinstance(base, c_ast.ArrayRef):
            subscripts.append(base.subscript)
            base = base.name
        if not isinstance(base, c_ast.ID):
            raise self.error(ref, "only named arrays can be indexed")
        array = self.scopes.find(base.name)
        if array is None:
            raise self.error(base, f"undeclared identifier '{base.name}'")
        if not isinstance(array, Array):
            raise self.error(ref, f"'{base.name}' is not an array")
        if len(subscripts) != len(array.shape):
            raise self.error(ref, f"'{base.name}' has {len(array.shape)} dimension(s), indexed "
                                  f"with {len(subscripts)}")
        atoms: list[Atom] = []
        flat: int | None = 0
        for subscript, extent in zip(reversed(subscripts), array.shape, strict=True):
            if not self.is_integer(subscript):
                raise self.error(subscript, f"index of '{base.name}' must be an integer")
            value = self.integer(subscript)
            lo, hi = bounds(value)
            if lo < 0 or hi >= extent:
                shown = str(lo) if lo == hi else f"in {lo}..{hi}"
                raise self.error(ref, f"index {shown} is out of bounds for '{base.name}' "
                                      f"(size {extent})")
            atoms.append(self.int_atom(value))
            flat = flat * extent + value if isinstance(value, int) and flat is not None \
                else None
        return array, atoms, flat

    def load(self, ref: c_ast.ArrayRef) -> Atom:
        array, indices, flat = self.element(ref)
        return self.read_element(array, indices, flat, ref)

    def read_element(self, array: Array, indices: list[Atom], flat: int | None,
                     ref: c_ast.ArrayRef) -> Atom:
        """An element's value; refused when it is known not to have been written yet (a
        read in straight-line code after the array's declaration; inside a loop or branch
        opened since, it may have been written by an earlier iteration or path)."""
        if array.known is not None and flat is not None and flat not in array.known and \
                self.scopes.level == array.level:
            label = "".join(f"[{k}]" for k in unflat(flat, array.shape))
            raise self.error(ref, f"{array.name}{label} is used before it is assigned")
        return self.b.op("load", (array.value, *indices), self.loc(ref))

    # -- integers ----------------------------------------------------------------------------
    def is_integer(self, expr: c_ast.Node) -> bool:
        """Whether C types the expression as an integer."""
        key = id(expr)
        if key not in self.integral:
            if isinstance(expr, c_ast.Constant):
                found = bool(INT_LITERAL.match(expr.value))
            elif isinstance(expr, c_ast.ID):
                found = isinstance(self.scopes.find(expr.name), Integer)
            elif isinstance(expr, c_ast.BinaryOp):
                found = expr.op in _INT_FOLD and self.is_integer(expr.left) and \
                    self.is_integer(expr.right)
            elif isinstance(expr, c_ast.UnaryOp):
                found = expr.op in ("-", "+") and self.is_integer(expr.expr)
            elif isinstance(expr, c_ast.TernaryOp):
                found = self.is_integer(expr.iftrue) and self.is_integer(expr.iffalse)
            else:
                found = False
            self.integral[key] = found  # C scoping is lexical: a node's type never changes
        return self.integral[key]

    def integer(self, expr: c_ast.Node) -> IntValue:
        """An integer expression: folded when known at compile time."""
        if isinstance(expr, c_ast.Constant) and INT_LITERAL.match(expr.value):
            return int(decimal_text(expr.value, self.loc(expr))[0])
        if isinstance(expr, c_ast.ID):
            binding = self.scopes.find(expr.name)
            if not isinstance(binding, Integer):
                raise self.error(expr, f"'{expr.name}' is not an integer")
            if binding.value is None:
                raise self.error(expr, f"'{expr.name}' is used before it is assigned")
            return binding.value
        if isinstance(expr, c_ast.UnaryOp) and expr.op in ("-", "+"):
            value = self.integer(expr.expr)
            if expr.op == "+":
                return value
            if isinstance(value, int):
                return -value
            out = self.b.op("ineg", (value.atom,), self.operator_loc(expr))
            return IntRange(out, -value.hi, -value.lo)
        if isinstance(expr, c_ast.BinaryOp) and expr.op in _INT_FOLD:
            return self.int_binary(expr)
        if isinstance(expr, c_ast.TernaryOp):
            return self.int_ternary(expr)
        raise self.error(expr, "expected an integer expression of int constants, loop "
                               "counters and int variables")

    def int_binary(self, expr: c_ast.BinaryOp) -> IntValue:
        left, right = self.integer(expr.left), self.integer(expr.right)
        return self.int_op(expr.op, left, right, expr, self.operator_loc(expr))

    def int_op(self, op: str, left: IntValue, right: IntValue, node: c_ast.Node,
               loc: SourceLoc) -> IntValue:
        """`left op right` in C int arithmetic, with the interval of its values."""
        (a, b), (c, d) = bounds(left), bounds(right)
        if op in ("/", "%") and c <= 0 <= d:
            raise self.error(node, "integer division by zero" if c == d == 0 else
                                   f"integer division by a value in {c}..{d}, which may be 0")
        fold = _INT_FOLD[op]
        if isinstance(left, int) and isinstance(right, int):
            return fold(left, right)
        if op == "%":
            m = max(abs(c), abs(d)) - 1
            lo, hi = max(a, -m) if a < 0 else 0, min(b, m) if b > 0 else 0
        else:
            corners = [fold(x, y) for x in (a, b) for y in (c, d)]
            lo, hi = min(corners), max(corners)
        out = self.b.op(INT_BINARY[op].name, (self.int_atom(left), self.int_atom(right)), loc)
        return IntRange(out, lo, hi)

    def int_ternary(self, expr: c_ast.TernaryOp) -> IntValue:
        pred = self.condition(expr.cond)
        if isinstance(pred, bool):
            return self.integer(expr.iftrue if pred else expr.iffalse)
        values: list[IntValue] = []

        def side(node: c_ast.Node) -> list[Atom]:
            values.append(self.integer(node))
            return [self.int_atom(values[-1])]

        [out] = self.select(pred, expr, lambda: side(expr.iftrue), lambda: side(expr.iffalse),
                            [""])
        (a, b), (c, d) = bounds(values[0]), bounds(values[1])
        return IntRange(out, min(a, c), max(b, d))

    @staticmethod
    def int_atom(value: IntValue) -> Atom:
        return integer(value) if isinstance(value, int) else value.atom

    def constant(self, expr: c_ast.Node, what: str) -> int:
        """An integer known at compile time (literals, #defines, const ints)."""
        if not self.is_integer(expr):
            raise self.error(expr, f"{what} must be an integer known at compile time")
        value = self.integer(expr)
        if not isinstance(value, int):
            raise self.error(expr, f"{what} must be known at compile time, not depend on a "
                                   "loop counter")
        return value

    # -- conditions --------------------------------------------------------------------------
    def condition(self, expr: c_ast.Node) -> bool | Atom:
        """A condition: a bool when decided at compile time, else a boolean value."""
        if isinstance(expr, c_ast.BinaryOp) and expr.op in ("&&", "||"):
            stop = expr.op == "||"  # the value that decides without the right side
            left = self.condition(expr.left)
            if isinstance(left, bool):
                return left if left == stop else self.condition(expr.right)
            right = self.condition(expr.right)
            if isinstance(right, bool):
                return right if right == stop else left
            return self.b.op("or" if stop else "and", (left, right), self.operator_loc(expr))
        if isinstance(expr, c_ast.UnaryOp) and expr.op == "!":
            inner = self.condition(expr.expr)
            if isinstance(inner, bool):
                return not inner
            return self.b.op("not", (inner,), self.operator_loc(expr))
        if isinstance(expr, c_ast.BinaryOp) and expr.op in COMPARISONS:
            spec = COMPARISONS[expr.op]
            if self.is_integer(expr.left) and self.is_integer(expr.right):
                left, right = self.integer(expr.left), self.integer(expr.right)
                if isinstance(left, int) and isinstance(right, int):
                    return _INT_COMPARE[expr.op](left, right)
                args: tuple[Atom, Atom] = (self.int_atom(left), self.int_atom(right))
            else:
                args = (self.real(expr.left), self.real(expr.right))
            return self.b.op(spec.name, args, self.operator_loc(expr))
        if self.is_integer(expr):
            value = self.integer(expr)
            if isinstance(value, int):
                return value != 0
            return self.b.op("ne", (value.atom, integer(0)), self.start_loc(expr))
        raise self.error(expr, "a condition must be a comparison (<, <=, >, >=, ==, !=), "
                               "possibly combined with &&, || and !")

