"""C frontend for structured kernels: branches, loops, arrays, helpers, float kernels.

The IR stays a DAG (design §2): loops with constant bounds are unrolled, helper calls are
inlined, if/else and ?: become `select`s over the variables either branch assigns (an
SSA-style merge), and every operation node carries the `site` of the source operation it
is an instance of (one precision per site), and the `guard` under which its value is
used. Integers (loop counters, `const int`, `#define N 8`) are evaluated here, statically.

Constants follow one rule the structured backend repeats: a literal (or integer
expression) that is a direct operand of a rounding operation is rounded at that
operation's precision (design §3.2); anywhere else (stored in a variable, returned,
compared, an operand of an exact operation) it is materialised as a double (`hold`).

Supported subset and its semantics: docs/real-kernels.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pycparser import c_ast

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.c import (
    _INT_LITERAL,
    _STATEMENT_NAMES,
    _decimal_text,
    _KernelBuilder,
    _pragmas_for,
    _preprocess,
    parse_ast,
)
from precisec.frontend.pragmas import collect
from precisec.ir import Branch, Const, Input, Kernel, Op, Param
from precisec.ops import (
    BINARY_OPERATORS,
    C_FUNCTIONS,
    COMPARISON_OPERATORS,
    OPS,
    UNARY_OPERATORS,
)

MAX_ITERATIONS = 100_000
FLOATING = ("double", "float")
_COMPOUND = {"+=": "+", "-=": "-", "*=": "*", "/=": "/"}
_INT_OPS = {"+", "-", "*", "/", "%"}
_INT_COMPARE = {"<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__,
                "==": int.__eq__, "!=": int.__ne__}


# -- what the structured backend needs ----------------------------------------------------
@dataclass
class Structure:
    """The kernel's C source structure: the (return-normalised) ASTs, the defines to
    re-emit, and the numbering of source operations (`sites`) and decisions (`branch
    sites`), keyed by (call path, AST node) so the backend finds the same numbers."""

    function: c_ast.FuncDef
    helpers: dict[str, c_ast.FuncDef]
    defines: dict[str, str]
    sites: dict[tuple, int] = field(default_factory=dict)
    shapes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    branch_sites: dict[tuple, int] = field(default_factory=dict)


def site_key(path: tuple[int, ...], node: c_ast.Node) -> tuple:
    return (path, id(node))


# -- shared AST helpers (also used by the backend) ----------------------------------------
def type_names(kind: c_ast.Node) -> list[str]:
    """The type names of a TypeDecl (e.g. ['double']), [] for anything else."""
    inner = kind.type if isinstance(kind, c_ast.TypeDecl) else None
    return list(inner.names) if isinstance(inner, c_ast.IdentifierType) else []


def array_shape(kind: c_ast.Node, dim: callable) -> tuple[tuple[int, ...], c_ast.Node]:
    """Dimensions of a (nested) ArrayDecl, evaluated by `dim`, and the element TypeDecl."""
    shape: list[int] = []
    while isinstance(kind, c_ast.ArrayDecl):
        shape.append(dim(kind.dim))
        kind = kind.type
    return tuple(shape), kind


def always_returns(stmt: c_ast.Node | None) -> bool:
    if isinstance(stmt, c_ast.Return):
        return True
    if isinstance(stmt, c_ast.Compound):
        return bool(stmt.block_items) and always_returns(stmt.block_items[-1])
    if isinstance(stmt, c_ast.If):
        return always_returns(stmt.iftrue) and always_returns(stmt.iffalse)
    return False


def normalise_returns(stmt: c_ast.Node | None) -> None:
    """Fold the statements after `if (c) { ... return a; }` into its else branch, in
    place, so that every return ends a branch (both passes then see one shape)."""
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


# -- bindings --------------------------------------------------------------------------------
@dataclass
class _Scalar:
    value: int | None


@dataclass
class _Array:
    shape: tuple[int, ...]
    values: list[int | None]
    writable: bool
    name: str

    def flat(self, indices: list[int], where: SourceLoc) -> int:
        if len(indices) != len(self.shape):
            raise PrecisecError(where, f"'{self.name}' has {len(self.shape)} dimension(s), "
                                       f"indexed with {len(indices)}")
        position = 0
        for index, size in zip(indices, self.shape, strict=True):
            if not 0 <= index < size:
                raise PrecisecError(where, f"index {index} is out of bounds for "
                                           f"'{self.name}' (size {size})")
            position = position * size + index
        return position


@dataclass
class _Int:
    value: int | None
    const: bool = False


Binding = _Scalar | _Array | _Int


def _clone(scopes: list[dict[str, Binding]]) -> list[dict[str, Binding]]:
    copied: list[dict[str, Binding]] = []
    for scope in scopes:
        copied.append({name: _Array(b.shape, list(b.values), b.writable, b.name)
                       if isinstance(b, _Array) else type(b)(**b.__dict__)
                       for name, b in scope.items()})
    return copied


class _RealBuilder(_KernelBuilder):
    """Executes the kernel's AST symbolically, appending IR nodes."""

    def __init__(self, file: str, lines: list[str], defines: dict[str, tuple[str, SourceLoc]],
                 helpers: dict[str, c_ast.FuncDef], structure: Structure) -> None:
        super().__init__(file, lines)
        self.defines = defines
        self.helpers = helpers
        self.structure = structure
        self.scopes: list[dict[str, Binding]] = [{}]  # type: ignore[assignment]
        self.guard: int | None = None
        self.path: tuple[int, ...] = ()
        self.calls: list[str] = []
        self.branches: list[Branch] = []

    # -- nodes -------------------------------------------------------------------------
    def site(self, node: c_ast.Node) -> int:
        return self.structure.sites.setdefault(site_key(self.path, node),
                                               len(self.structure.sites))

    def op(self, name: str, args: tuple[int, ...], loc: SourceLoc,
           site: c_ast.Node | None = None) -> int:
        spec = OPS[name]
        if not spec.rounds:
            args = tuple(self.held(a) for a in args)
        return self.add(Op(name, args, loc, self.site(site) if spec.rounds and site is not None
                           else None, self.guard))

    def held(self, index: int) -> int:
        """A constant outside a rounding operation is materialised as a double."""
        node = self.nodes[index]
        if isinstance(node, Const):
            return self.add(Op("hold", (index,), node.loc, None, self.guard))
        return index

    # -- names -------------------------------------------------------------------------
    def find(self, name: str) -> Binding | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def bind(self, name: str, binding: Binding, where: c_ast.Node) -> None:
        if name in self.scopes[-1]:
            raise self.error(where, f"redeclaration of '{name}'")
        self.scopes[-1][name] = binding

    # -- integers (static) ---------------------------------------------------------------
    def is_int(self, expr: c_ast.Node) -> bool:
        if isinstance(expr, c_ast.Constant):
            return bool(_INT_LITERAL.match(expr.value)) and expr.type not in ("char", "string")
        if isinstance(expr, c_ast.ID):
            binding = self.find(expr.name)
            if binding is None and expr.name in self.defines:
                return bool(_INT_LITERAL.match(self.defines[expr.name][0].strip("()")
                                               .lstrip("+-")))
            return isinstance(binding, _Int)
        if isinstance(expr, c_ast.BinaryOp) and expr.op in _INT_OPS:
            return self.is_int(expr.left) and self.is_int(expr.right)
        if isinstance(expr, c_ast.UnaryOp) and expr.op in ("-", "+"):
            return self.is_int(expr.expr)
        return False

    def int_value(self, expr: c_ast.Node) -> int:
        """The value of an integer expression (C semantics: division truncates)."""
        if isinstance(expr, c_ast.Constant):
            if not _INT_LITERAL.match(expr.value):
                raise self.error(expr, f"expected an integer, got '{expr.value}'")
            return int(_decimal_text(expr.value, self.loc(expr))[0])
        if isinstance(expr, c_ast.ID):
            binding = self.find(expr.name)
            if isinstance(binding, _Int):
                if binding.value is None:
                    raise self.error(expr, f"'{expr.name}' is used before it is assigned")
                return binding.value
            if binding is None and expr.name in self.defines:
                text = self.defines[expr.name][0].strip("()")
                sign = -1 if text.startswith("-") else 1
                return sign * int(_decimal_text(text.lstrip("+-"), self.loc(expr))[0])
            raise self.error(expr, f"'{expr.name}' is not an integer known at compile time")
        if isinstance(expr, c_ast.UnaryOp) and expr.op in ("-", "+"):
            value = self.int_value(expr.expr)
            return -value if expr.op == "-" else value
        if isinstance(expr, c_ast.BinaryOp) and expr.op in _INT_OPS:
            a, b = self.int_value(expr.left), self.int_value(expr.right)
            if expr.op in ("/", "%") and b == 0:
                raise self.error(expr, "integer division by zero")
            if expr.op == "+":
                return a + b
            if expr.op == "-":
                return a - b
            if expr.op == "*":
                return a * b
            quotient = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
            return quotient if expr.op == "/" else a - b * quotient
        raise self.error(expr, "expected an integer expression of constants, loop counters, "
                               "const ints and #defines")

    # -- declarations ----------------------------------------------------------------------
    def declaration(self, decl: c_ast.Decl) -> None:
        kind = decl.type
        if isinstance(kind, c_ast.PtrDecl):
            raise self.error(decl, f"local '{decl.name}': pointers are not supported")
        if isinstance(kind, c_ast.FuncDecl):
            raise self.error(decl, f"local '{decl.name}': nested function declarations are "
                                   "not supported")
        if isinstance(kind, c_ast.ArrayDecl):
            shape, element = array_shape(kind, self.dimension)
            self.check_floating(decl, element)
            self.structure.shapes[id(decl)] = shape
            values: list[int | None] = [None] * _size(shape)
            if isinstance(decl.init, c_ast.InitList):
                items = decl.init.exprs
                if len(items) > len(values) or any(isinstance(e, c_ast.InitList) for e in items):
                    raise self.error(decl, f"initialiser of '{decl.name}' must be a flat list "
                                           f"of at most {len(values)} values")
                for k, item in enumerate(items):
                    values[k] = self.value(item)
                for k in range(len(items), len(values)):
                    values[k] = self.held(self.add(Const("0", self.loc(decl))))
            elif decl.init is not None:
                raise self.error(decl, f"array '{decl.name}' needs a {{...}} initialiser")
            self.bind(decl.name, _Array(shape, values, "const" not in decl.quals, decl.name),
                      decl)
            return
        names = type_names(kind)
        if isinstance(kind, c_ast.TypeDecl) and isinstance(kind.type, c_ast.Struct | c_ast.Union):
            raise self.error(decl, f"local '{decl.name}': structs and unions are not supported")
        if names == ["int"]:
            value = self.int_value(decl.init) if decl.init is not None else None
            self.bind(decl.name, _Int(value, "const" in decl.quals), decl)
            return
        self.check_floating(decl, kind)
        self.bind(decl.name, _Scalar(self.value(decl.init) if decl.init is not None else None),
                  decl)

    def dimension(self, dim: c_ast.Node | None) -> int:
        if dim is None:
            raise PrecisecError(SourceLoc(self.file, 1, 1), "arrays need a constant size")
        size = self.int_value(dim)
        if size <= 0:
            raise self.error(dim, f"array size must be positive, got {size}")
        return size

    def check_floating(self, where: c_ast.Node, kind: c_ast.Node) -> None:
        names = type_names(kind)
        if isinstance(kind, c_ast.TypeDecl) and isinstance(kind.type, c_ast.Struct | c_ast.Union):
            raise self.error(where, "structs and unions are not supported")
        if names not in (["double"], ["float"]):
            spelled = " ".join(names) or type(kind).__name__
            raise self.error(where, f"type '{spelled}' is not supported here (double, float, "
                                    "and int loop counters are)")

    # -- statements -------------------------------------------------------------------------
    def block(self, body: c_ast.Compound) -> int | None:  # type: ignore[override]
        self.scopes.append({})
        try:
            return super().block(body)
        finally:
            self.scopes.pop()

    def statement(self, stmt: c_ast.Node) -> int | None:  # type: ignore[override]
        if isinstance(stmt, c_ast.Decl):
            self.declaration(stmt)
            return None
        if isinstance(stmt, c_ast.DeclList):
            for decl in stmt.decls:
                self.declaration(decl)
            return None
        if isinstance(stmt, c_ast.Assignment):
            self.assignment(stmt)
            return None
        if isinstance(stmt, c_ast.UnaryOp) and stmt.op in ("p++", "++", "p--", "--"):
            self.increment(stmt)
            return None
        if isinstance(stmt, c_ast.Return):
            if stmt.expr is None:
                raise self.error(stmt, "return without a value is not supported")
            return self.value(stmt.expr)
        if isinstance(stmt, c_ast.Compound):
            return self.block(stmt)
        if isinstance(stmt, c_ast.If):
            return self.if_statement(stmt)
        if isinstance(stmt, c_ast.For):
            self.for_loop(stmt)
            return None
        if isinstance(stmt, c_ast.EmptyStatement):
            return None
        if isinstance(stmt, c_ast.While | c_ast.DoWhile):
            kind = "while" if isinstance(stmt, c_ast.While) else "do-while"
            raise self.error(stmt, f"{kind} loops are not supported (only for loops with "
                                   "constant bounds)")
        name = _STATEMENT_NAMES.get(type(stmt), f"statement '{type(stmt).__name__}'")
        raise self.error(stmt, f"{name} are not supported" if name.endswith("s")
                         else f"{name} is not supported")

    def assignment(self, stmt: c_ast.Assignment) -> None:  # type: ignore[override]
        target = stmt.lvalue
        if isinstance(target, c_ast.ID) and isinstance(self.find(target.name), _Int):
            binding = self.find(target.name)
            assert isinstance(binding, _Int)
            if binding.const:
                raise self.error(stmt, f"assignment to const '{target.name}'")
            if stmt.op == "=":
                binding.value = self.int_value(stmt.rvalue)
            elif stmt.op in _COMPOUND:
                expr = c_ast.BinaryOp(_COMPOUND[stmt.op], target, stmt.rvalue, coord=stmt.coord)
                binding.value = self.int_value(expr)
            else:
                raise self.error(stmt, f"assignment operator '{stmt.op}' is not supported")
            return
        if stmt.op != "=" and stmt.op not in _COMPOUND:
            raise self.error(stmt, f"assignment operator '{stmt.op}' is not supported")
        read, write = self.lvalue(target)
        if stmt.op == "=":
            write(self.value(stmt.rvalue))
            return
        current = read()
        value = self.operand(stmt.rvalue)
        loc = self._scan_back(self.start(stmt.rvalue), stmt.op) or self.loc(stmt)
        write(self.op(BINARY_OPERATORS[_COMPOUND[stmt.op]].name, (current, value), loc, stmt))

    def lvalue(self, target: c_ast.Node) -> tuple:
        """Reader and writer of an assignable double (variable or array element)."""
        if isinstance(target, c_ast.ID):
            binding = self.find(target.name)
            if binding is None:
                raise self.error(target, f"assignment to undeclared identifier '{target.name}'")
            if not isinstance(binding, _Scalar):
                raise self.error(target, f"cannot assign to '{target.name}' as a whole")

            def read_scalar() -> int:
                if binding.value is None:
                    raise self.error(target, f"'{target.name}' is used before it is assigned")
                return binding.value

            def write_scalar(value: int) -> None:
                binding.value = value

            return read_scalar, write_scalar
        if isinstance(target, c_ast.ArrayRef):
            array, position = self.element(target)
            if not array.writable:
                raise self.error(target, f"assignment to an element of const array "
                                         f"'{array.name}'")

            def read_element() -> int:
                value = array.values[position]
                if value is None:
                    raise self.error(target, f"element {position} of '{array.name}' is used "
                                             "before it is assigned")
                return value

            def write_element(value: int) -> None:
                array.values[position] = value

            return read_element, write_element
        if isinstance(target, c_ast.UnaryOp) and target.op == "*":
            raise self.error(target, "pointer dereference is not supported")
        if isinstance(target, c_ast.StructRef):
            raise self.error(target, "struct member access is not supported")
        raise self.error(target, "assignment target must be a double variable or array element")

    def element(self, ref: c_ast.ArrayRef) -> tuple[_Array, int]:
        indices: list[int] = []
        base: c_ast.Node = ref
        while isinstance(base, c_ast.ArrayRef):
            indices.append(self.int_value(base.subscript))
            base = base.name
        if not isinstance(base, c_ast.ID):
            raise self.error(ref, "only named arrays can be indexed (no pointer arithmetic)")
        array = self.find(base.name)
        if not isinstance(array, _Array):
            raise self.error(ref, f"'{base.name}' is not an array")
        return array, array.flat(indices[::-1], self.loc(ref))

    def increment(self, stmt: c_ast.UnaryOp) -> None:
        binding = self.find(stmt.expr.name) if isinstance(stmt.expr, c_ast.ID) else None
        if not isinstance(binding, _Int) or binding.value is None or binding.const:
            raise self.error(stmt, "increment and decrement are supported on integer loop "
                                   "counters only")
        binding.value += 1 if "+" in stmt.op else -1

    # -- branches ------------------------------------------------------------------------
    def record_branch(self, node: c_ast.Node, cond: int | bool) -> None:
        key = site_key(self.path, node)
        site = self.structure.branch_sites.setdefault(key, len(self.structure.branch_sites))
        if isinstance(cond, bool):
            self.branches.append(Branch(site, None, self.guard, cond))
        else:
            self.branches.append(Branch(site, cond, self.guard))

    def guarded(self, cond: int, positive: bool) -> int:
        """The guard inside a branch: the enclosing guard and this condition (or its
        negation)."""
        saved, self.guard = self.guard, None
        try:
            term = cond if positive else self.op("not", (cond,), self.nodes[cond].loc)
            if saved is None:
                return term
            return self.op("and", (saved, term), self.nodes[cond].loc)
        finally:
            self.guard = saved

    def if_statement(self, stmt: c_ast.If) -> int | None:
        cond = self.condition(stmt.cond)
        self.record_branch(stmt, cond)
        if isinstance(cond, bool):
            chosen = stmt.iftrue if cond else stmt.iffalse
            return None if chosen is None else self.branch_body(chosen)
        before = _clone(self.scopes)
        outer_guard = self.guard
        then_guard, else_guard = self.guarded(cond, True), self.guarded(cond, False)
        self.guard = then_guard
        then_result = self.branch_body(stmt.iftrue)
        then_scopes = self.scopes
        self.scopes = before
        self.guard = else_guard
        else_result = self.branch_body(stmt.iffalse) if stmt.iffalse is not None else None
        self.guard = outer_guard
        self.merge(cond, then_scopes, stmt)
        if (then_result is None) != (else_result is None):
            raise self.error(stmt, "a return in only one branch of a data-dependent if is not "
                                   "supported here (inside a loop?)")
        if then_result is None or else_result is None:
            return None
        return self.op("select", (cond, then_result, else_result), self.loc(stmt))

    def branch_body(self, stmt: c_ast.Node) -> int | None:
        if isinstance(stmt, c_ast.Compound):
            return self.block(stmt)
        self.scopes.append({})
        try:
            return self.statement(stmt)
        finally:
            self.scopes.pop()

    def merge(self, cond: int, then_scopes: list[dict[str, Binding]], where: c_ast.Node) -> None:
        """self.scopes (the else side) becomes the merge of both sides."""
        loc = self.loc(where)
        for then_scope, else_scope in zip(then_scopes, self.scopes, strict=True):
            for name, then_b in then_scope.items():
                else_b = else_scope[name]
                if isinstance(then_b, _Int) and isinstance(else_b, _Int):
                    if then_b.value != else_b.value:
                        raise self.error(where, f"integer '{name}' is assigned differently in "
                                                "the branches of a data-dependent condition")
                elif isinstance(then_b, _Scalar) and isinstance(else_b, _Scalar):
                    else_b.value = self.pick(cond, then_b.value, else_b.value, loc)
                elif isinstance(then_b, _Array) and isinstance(else_b, _Array):
                    else_b.values = [self.pick(cond, a, b, loc)
                                     for a, b in zip(then_b.values, else_b.values, strict=True)]

    def pick(self, cond: int, a: int | None, b: int | None, loc: SourceLoc) -> int | None:
        if a == b:
            return a
        if a is None or b is None:
            return None
        return self.op("select", (cond, a, b), loc)

    def condition(self, expr: c_ast.Node) -> int | bool:
        """A condition: a Python bool if decided at compile time, else a boolean node."""
        if isinstance(expr, c_ast.BinaryOp) and expr.op in ("&&", "||"):
            left = self.condition(expr.left)
            if isinstance(left, bool):
                if left == (expr.op == "||"):
                    return left
                return self.condition(expr.right)
            right = self.condition(expr.right)
            if isinstance(right, bool):
                return right if right == (expr.op == "||") else left
            return self.op("and" if expr.op == "&&" else "or", (left, right),
                           self.operator_loc(expr))
        if isinstance(expr, c_ast.UnaryOp) and expr.op == "!":
            inner = self.condition(expr.expr)
            return (not inner) if isinstance(inner, bool) else \
                self.op("not", (inner,), self.operator_loc(expr))
        if isinstance(expr, c_ast.BinaryOp) and expr.op in COMPARISON_OPERATORS:
            if self.is_int(expr.left) and self.is_int(expr.right):
                return bool(_INT_COMPARE[expr.op](self.int_value(expr.left),
                                                  self.int_value(expr.right)))
            spec = COMPARISON_OPERATORS[expr.op]
            return self.op(spec.name, (self.value(expr.left), self.value(expr.right)),
                           self.operator_loc(expr))
        if self.is_int(expr):
            return self.int_value(expr) != 0
        raise self.error(expr, "a condition must be a comparison (<, <=, >, >=, ==, !=), "
                               "possibly combined with &&, || and !")

    # -- loops ---------------------------------------------------------------------------
    def for_loop(self, stmt: c_ast.For) -> None:
        self.scopes.append({})
        try:
            if isinstance(stmt.init, c_ast.DeclList):
                for decl in stmt.init.decls:
                    if type_names(decl.type) != ["int"]:
                        raise self.error(decl, "a for loop counter must be an int")
                    self.declaration(decl)
            elif stmt.init is not None:
                self.statement(stmt.init)
            counters = self.counters(stmt)
            iterations = 0
            while True:
                go = True if stmt.cond is None else self.condition(stmt.cond)
                if not isinstance(go, bool):
                    raise self.error(stmt.cond, "loop conditions must be known at compile "
                                                "time (integer counters with constant bounds)")
                if not go:
                    break
                iterations += 1
                if iterations > MAX_ITERATIONS:
                    raise self.error(stmt, f"loop runs more than {MAX_ITERATIONS} iterations")
                values = {name: self.find(name).value for name in counters}
                if self.branch_body(stmt.stmt) is not None:
                    raise self.error(stmt, "return inside a loop is not supported")
                for name in counters:
                    if self.find(name).value != values[name]:
                        raise self.error(stmt, f"the loop body assigns the counter '{name}'")
                if stmt.next is not None:
                    self.statement(stmt.next)
        finally:
            self.scopes.pop()

    def counters(self, stmt: c_ast.For) -> list[str]:
        names: list[str] = []
        nexts = stmt.next.exprs if isinstance(stmt.next, c_ast.ExprList) else [stmt.next]
        for step in nexts:
            target = step.expr if isinstance(step, c_ast.UnaryOp) else \
                step.lvalue if isinstance(step, c_ast.Assignment) else None
            if not isinstance(target, c_ast.ID) or not isinstance(self.find(target.name), _Int):
                raise self.error(step or stmt, "the loop step must update an int counter "
                                               "(i++, i += 2, ...)")
            names.append(target.name)
        return names

    # -- expressions ---------------------------------------------------------------------
    def value(self, expr: c_ast.Node) -> int:
        """A double-valued expression as a stored value (constants as doubles)."""
        return self.held(self.operand(expr))

    def operand(self, expr: c_ast.Node) -> int:
        """A double-valued expression; a literal or integer stays a bare Const node."""
        if self.is_int(expr):
            return self.add(Const(str(self.int_value(expr)), self.start(expr)))
        if isinstance(expr, c_ast.ID):
            binding = self.find(expr.name)
            if isinstance(binding, _Scalar):
                if binding.value is None:
                    raise self.error(expr, f"'{expr.name}' is used before it is assigned")
                return binding.value
            if isinstance(binding, _Array):
                raise self.error(expr, f"array '{expr.name}' used as a value")
            if binding is None and expr.name in self.defines:
                text, _ = self.defines[expr.name]
                return self.add(self.define_const(expr, text))
            raise self.error(expr, f"undeclared identifier '{expr.name}'")
        if isinstance(expr, c_ast.Constant):
            return self.add(self.constant(expr))
        if isinstance(expr, c_ast.ArrayRef):
            array, position = self.element(expr)
            value = array.values[position]
            if value is None:
                raise self.error(expr, f"element {position} of '{array.name}' is used before "
                                       "it is assigned")
            return value
        if isinstance(expr, c_ast.UnaryOp):
            if expr.op == "-" and isinstance(expr.expr, c_ast.Constant):
                return self.add(self.constant(expr.expr, negate=True))
            if expr.op == "+":
                return self.operand(expr.expr)
            if expr.op == "*":
                raise self.error(expr, "pointer dereference is not supported")
            spec = UNARY_OPERATORS.get(expr.op)
            if spec is None:
                raise self.error(expr, f"unary operator '{expr.op}' is not supported")
            return self.op(spec.name, (self.operand(expr.expr),), self.operator_loc(expr), expr)
        if isinstance(expr, c_ast.BinaryOp):
            if expr.op in COMPARISON_OPERATORS or expr.op in ("&&", "||"):
                raise self.error(expr, f"comparison '{expr.op}' used as a number; use it in "
                                       "an if or ?: condition")
            spec = BINARY_OPERATORS.get(expr.op)
            if spec is None:
                raise self.error(expr, f"binary operator '{expr.op}' is not supported")
            left, right = self.operand(expr.left), self.operand(expr.right)
            return self.op(spec.name, (left, right), self.operator_loc(expr), expr)
        if isinstance(expr, c_ast.TernaryOp):
            return self.ternary(expr)
        if isinstance(expr, c_ast.FuncCall):
            return self.call(expr)
        if isinstance(expr, c_ast.Cast):
            names = type_names(expr.to_type.type)
            if names not in (["double"], ["float"]):
                raise self.error(expr, f"cast to '{' '.join(names) or 'pointer'}' is not "
                                       "supported")
            return self.operand(expr.expr)
        if isinstance(expr, c_ast.StructRef):
            raise self.error(expr, "struct member access is not supported")
        raise self.error(expr, f"expression '{type(expr).__name__}' is not supported")

    def define_const(self, expr: c_ast.ID, text: str) -> Const:
        body = text.strip()
        while body.startswith("(") and body.endswith(")"):
            body = body[1:-1].strip()
        negate = body.startswith("-")
        literal = body.lstrip("+-").strip()
        if not re.fullmatch(r"[0-9.][0-9a-fA-FxX.eEpP+\-]*[fFlLuU]*", literal):
            raise self.error(expr, f"#define {expr.name} must be a number literal, got "
                                   f"'{text}'")
        decimal, _ = _decimal_text(literal, self.loc(expr))
        return Const(f"-{decimal}" if negate else decimal, self.loc(expr))

    def ternary(self, expr: c_ast.TernaryOp) -> int:
        cond = self.condition(expr.cond)
        self.record_branch(expr, cond)
        if isinstance(cond, bool):
            return self.value(expr.iftrue if cond else expr.iffalse)
        outer = self.guard
        then_guard, else_guard = self.guarded(cond, True), self.guarded(cond, False)
        self.guard = then_guard
        a = self.value(expr.iftrue)
        self.guard = else_guard
        b = self.value(expr.iffalse)
        self.guard = outer
        return self.op("select", (cond, a, b), self.loc(expr))

    def call(self, expr: c_ast.FuncCall) -> int:  # type: ignore[override]
        if not isinstance(expr.name, c_ast.ID):
            raise self.error(expr, "calls through function pointers are not supported")
        name = expr.name.name
        args = expr.args.exprs if expr.args is not None else []
        helper = self.helpers.get(name)
        if name in self.calls:
            raise self.error(expr, f"recursion is not supported ('{name}' calls itself)")
        if helper is None:
            spec = C_FUNCTIONS.get(name)
            if spec is None:
                raise self.error(expr, f"call to unknown function '{name}'")
            if len(args) != spec.arity:
                raise self.error(expr, f"'{name}' takes {spec.arity} argument(s), got "
                                       f"{len(args)}")
            return self.op(spec.name, tuple(self.operand(a) for a in args), self.loc(expr), expr)
        params = helper_params(helper)
        if len(args) != len(params):
            raise self.error(expr, f"'{name}' takes {len(params)} argument(s), got {len(args)}")
        scope: dict[str, Binding] = {}
        for param, arg in zip(params, args, strict=True):
            kind = param.type
            if isinstance(kind, c_ast.ArrayDecl | c_ast.PtrDecl):
                raise self.error(param, f"helper parameter '{param.name}': array and pointer "
                                        "parameters of helpers are not supported")
            if type_names(kind) == ["int"]:
                scope[param.name] = _Int(self.int_value(arg), const=True)
            else:
                self.check_floating(param, kind)
                scope[param.name] = _Scalar(self.value(arg))
        if type_names(helper.decl.type.type) not in (["double"], ["float"]):
            raise self.error(helper.decl, f"helper '{name}' must return double or float")
        saved_scopes, saved_path = self.scopes, self.path
        self.scopes, self.path = [scope], (*self.path, id(expr))
        self.calls.append(name)
        try:
            result = self.block(helper.body)
        finally:
            self.scopes, self.path = saved_scopes, saved_path
            self.calls.pop()
        if result is None:
            raise self.error(helper.decl, f"helper '{name}' has no return statement")
        return result


def _size(shape: tuple[int, ...]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def helper_params(func: c_ast.FuncDef) -> list[c_ast.Decl]:
    params = func.decl.type.args.params if func.decl.type.args is not None else []
    return [p for p in params if not (isinstance(p, c_ast.Typename)
                                      and type_names(p.type) == ["void"])]


def _called(func: c_ast.FuncDef) -> set[str]:
    names: set[str] = set()

    class Visitor(c_ast.NodeVisitor):
        def visit_FuncCall(self, node: c_ast.FuncCall) -> None:
            if isinstance(node.name, c_ast.ID):
                names.add(node.name.name)
            self.generic_visit(node)

    Visitor().visit(func.body)
    return names


def _reachable(func: c_ast.FuncDef, helpers: dict[str, c_ast.FuncDef]) -> set[str]:
    """Names of the helpers the kernel calls, directly or not (their pragmas are its)."""
    seen: set[str] = set()
    todo = [func]
    while todo:
        for name in _called(todo.pop()):
            if name in helpers and name not in seen:
                seen.add(name)
                todo.append(helpers[name])
    return seen


def _choose(functions: list[c_ast.FuncDef], function: str | None, file: str) -> c_ast.FuncDef:
    """The kernel: the named function, else the one function no other one calls."""
    if function is not None:
        for func in functions:
            if func.decl.name == function:
                return func
        raise PrecisecError(SourceLoc(file, 1, 1), f"no function named '{function}' (found: "
                            f"{', '.join(f.decl.name for f in functions) or 'none'})")
    if not functions:
        raise PrecisecError(SourceLoc(file, 1, 1), "no function definition found")
    if len(functions) == 1:
        return functions[0]
    called = set().union(*(_called(f) for f in functions))
    roots = [f for f in functions if f.decl.name not in called]
    if len(roots) != 1:
        names = ", ".join(f.decl.name for f in roots or functions)
        where = (roots or functions)[-1].coord
        raise PrecisecError(SourceLoc(file, where.line, where.column or 1),
                            f"several candidate kernels ({names}); choose one with --function")
    return roots[0]


def parse_real(source: str, file: str, function: str | None = None) -> Kernel:
    """Parse a structured kernel (docs/real-kernels.md) into the IR."""
    defines: dict[str, tuple[str, SourceLoc]] = {}
    pre = _preprocess(source, file, defines)
    ast = parse_ast(pre.text, file)
    for ext in ast.ext:
        if isinstance(ext, c_ast.Decl) and isinstance(ext.type, c_ast.Struct | c_ast.Union):
            raise PrecisecError(SourceLoc(file, ext.coord.line, ext.coord.column or 1),
                                "structs and unions are not supported")
        if isinstance(ext, c_ast.Decl) and not isinstance(ext.type, c_ast.FuncDecl):
            raise PrecisecError(SourceLoc(file, ext.coord.line, ext.coord.column or 1),
                                f"global variable '{ext.name}' is not supported")
    functions = [e for e in ast.ext if isinstance(e, c_ast.FuncDef)]
    func = _choose(functions, function, file)
    for f in functions:
        normalise_returns(f.body)
    helpers = {f.decl.name: f for f in functions if f is not func}
    structure = Structure(func, helpers, {name: text for name, (text, _) in defines.items()})
    builder = _RealBuilder(file, pre.lines, defines, helpers, structure)
    builder.calls.append(func.decl.name)
    reach = _reachable(func, helpers)
    pragmas = _pragmas_for(func, [f for f in functions if f.decl.name not in reach],
                           pre.pragmas)
    return _build(builder, func, pragmas, structure)


def _build(builder: _RealBuilder, func: c_ast.FuncDef, pragmas: list,
           structure: Structure) -> Kernel:
    file = builder.file
    ranges, target = collect(pragmas)
    used: set[str] = set()
    floating: set[str] = set()
    ret = func.decl.type.type
    ret_names = type_names(ret)
    if isinstance(ret, c_ast.PtrDecl) or ret_names not in (["double"], ["float"], ["void"]):
        raise builder.error(func.decl, f"function '{func.decl.name}' must return double, "
                                       "float or void")
    if ret_names != ["void"]:
        floating.add(ret_names[0])
    inputs: list[int] = []
    params: list[Param] = []
    outputs: list[tuple[str, _Array]] = []
    for param in helper_params(func):
        if isinstance(param, c_ast.EllipsisParam) or not param.name:
            raise builder.error(param, "unnamed or variadic parameters are not supported")
        kind = param.type
        if isinstance(kind, c_ast.PtrDecl):
            raise builder.error(param, f"parameter '{param.name}': pointers are not supported "
                                       "(use a fixed-size array, e.g. double x[8])")
        if isinstance(kind, c_ast.ArrayDecl):
            shape, element = array_shape(kind, builder.dimension)
            builder.check_floating(param, element)
            floating.add(type_names(element)[0])
            writable = "const" not in (element.quals or [])
            array = _Array(shape, [], writable, param.name)
            if writable:
                if any(n == param.name or n.startswith(param.name + "[") for n in ranges):
                    raise builder.error(param, f"output array '{param.name}' has a range "
                                               "pragma; in/out arrays are not supported")
                array.values = [None] * _size(shape)
                outputs.append((param.name, array))
            else:
                for k in range(_size(shape)):
                    label = param.name + "".join(f"[{i}]" for i in _unflat(k, shape))
                    bound = ranges.get(label) or ranges.get(param.name + "[]")
                    if bound is None:
                        raise builder.error(param, f"element {label} has no range pragma "
                                                   f"(#pragma precisec range({param.name}[], "
                                                   "LO, HI))")
                    used.add(bound.name)
                    index = builder.add(Input(label, bound.lo, bound.hi, builder.loc(param)))
                    array.values.append(index)
                    inputs.append(index)
            builder.bind(param.name, array, param)
            params.append(Param(param.name, shape, writable))
            continue
        if type_names(kind) == ["int"]:
            raise builder.error(param, f"parameter '{param.name}': int parameters are not "
                                       "supported (use #define or const int)")
        builder.check_floating(param, kind)
        floating.add(type_names(kind)[0])
        bound = ranges.get(param.name)
        if bound is None:
            raise builder.error(param, f"parameter '{param.name}' has no range pragma "
                                       f"(#pragma precisec range({param.name}, LO, HI))")
        used.add(bound.name)
        index = builder.add(Input(param.name, bound.lo, bound.hi, builder.loc(param)))
        builder.bind(param.name, _Scalar(index), param)
        inputs.append(index)
        params.append(Param(param.name))
    for name, pragma in ranges.items():
        if name not in used:
            raise PrecisecError(pragma.loc, f"range pragma for '{name}', which is not an "
                                            f"input parameter of '{func.decl.name}'")
    if len(floating) > 1:
        raise builder.error(func.decl, "mixing float and double in the kernel's signature is "
                                       "not supported")
    if ret_names == ["void"]:
        if not outputs:
            raise builder.error(func.decl, f"void function '{func.decl.name}' has no output "
                                           "array (a non-const array parameter)")
    elif outputs:
        raise builder.error(func.decl, "a kernel with output arrays must return void")
    builder.scopes.append({})
    result = builder.block(func.body)
    results: list[int] = []
    if outputs:
        for name, array in outputs:
            for k, value in enumerate(array.values):
                if value is None:
                    label = name + "".join(f"[{i}]" for i in _unflat(k, array.shape))
                    raise builder.error(func.decl, f"output element {label} is never assigned")
                results.append(builder.held(value))
    elif result is None:
        end = SourceLoc(file, func.body.coord.line, func.body.coord.column or 1)
        raise PrecisecError(end, f"function '{func.decl.name}' has no return statement")
    return Kernel(func.decl.name, tuple(builder.nodes), tuple(inputs),
                  results[0] if results else result, target,
                  builder.loc(func.decl), tuple(results),
                  "float" if floating == {"float"} else "double", tuple(params),
                  tuple(builder.branches), structure)


def _unflat(position: int, shape: tuple[int, ...]) -> list[int]:
    indices: list[int] = []
    for size in reversed(shape):
        indices.append(position % size)
        position //= size
    return indices[::-1]


def load_real(path: str | Path, function: str | None = None) -> Kernel:
    return parse_real(Path(path).read_text(), str(path), function)
