"""C statements into IR regions: declarations, assignments, branches, helper calls
(inlined), returns; `for` loops are in `loops`.

A data-dependent `if` becomes a `Cond` whose outs merge every outer name
either side assigns (an SSA merge), plus the returned value when both sides return.
Integers known at compile time are folded; an `int` declared outside a loop cannot be
assigned inside it (loops are not unrolled: derive it from the counter instead).
"""

from __future__ import annotations

from dataclasses import replace

from pycparser import c_ast

from precisec.frontend.c.expressions import Expressions
from precisec.frontend.c.scope import (
    Array,
    Binding,
    Integer,
    IntRange,
    Real,
    Scopes,
    bounds,
    unflat,
)
from precisec.frontend.c.syntax import parameters, type_names
from precisec.ir import REAL, Atom, Lit, Region
from precisec.ir.builder import integer
from precisec.ops import ARITH_BINARY

RESERVED_PREFIXES = ("pc_", "mpfr_", "MPFR_", "mp_", "gmp_", "__gmp")
_COMPOUND = {"+=": "+", "-=": "-", "*=": "*", "/=": "/"}
_REFUSED_STATEMENTS = {
    c_ast.DoWhile: "do-while loops are not supported (only while loops, and for loops with "
                   "constant bounds)",
    c_ast.Switch: "switch statements are not supported",
    c_ast.Goto: "goto is not supported",
    c_ast.Label: "labels are not supported",
    c_ast.Break: "break is not supported",
    c_ast.Continue: "continue is not supported",
    c_ast.FuncCall: "calls as statements are not supported",
    c_ast.Typedef: "typedefs are not supported",
}


class Statements(Expressions, c_ast.NodeVisitor):
    """Builds a function body (and, inlined, its helpers) statement by statement."""

    returns = True  # whether the function being built returns a value

    # -- names and types -------------------------------------------------------------------
    def check_name(self, name: str, node: c_ast.Node) -> None:
        for prefix in RESERVED_PREFIXES:
            if name.startswith(prefix):
                raise self.error(node, f"the name '{name}' starts with '{prefix}', which is "
                                       "reserved for the generated code")

    def scalar_type(self, node: c_ast.Node, kind: c_ast.Node, what: str) -> str:
        """'int' or 'real' for a declared type; anything else is a located refusal."""
        if isinstance(kind, c_ast.PtrDecl):
            raise self.error(node, f"{what}: pointers are not supported")
        if isinstance(kind, c_ast.FuncDecl):
            raise self.error(node, f"{what}: nested function declarations are not supported")
        inner = kind.type if isinstance(kind, c_ast.TypeDecl) else None
        if isinstance(inner, c_ast.Struct | c_ast.Union | c_ast.Enum):
            raise self.error(node, f"{what}: structs, unions and enums are not supported")
        names = type_names(kind)
        if names == ["int"]:
            return "int"
        if names in (["double"], ["float"]):
            if names[0] != self.precision:
                raise self.error(node, f"{what} is {names[0]} in a {self.precision} kernel; "
                                       "mixing float and double is not supported")
            return "real"
        raise self.error(node, f"{what} has type '{' '.join(names)}'; only {self.precision} "
                               "(and int for counters and indices) is supported")

    def shape(self, kind: c_ast.Node, node: c_ast.Node, name: str) -> tuple[tuple[int, ...],
                                                                             c_ast.Node]:
        """An array declarator's dimensions (compile-time) and its element type."""
        dims: list[int] = []
        while isinstance(kind, c_ast.ArrayDecl):
            if kind.dim is None:
                raise self.error(node, f"array '{name}' needs a size known at compile time")
            size = self.constant(kind.dim, f"the size of array '{name}'")
            if size < 1:
                raise self.error(kind.dim, f"array '{name}' has size {size}")
            dims.append(size)
            kind = kind.type
        return tuple(dims), kind

    # -- blocks ----------------------------------------------------------------------------
    def block(self, body: c_ast.Compound) -> Atom | None:
        self.scopes.blocks.append({})
        try:
            return self.items(body.block_items or [])
        finally:
            self.scopes.blocks.pop()

    def items(self, items: list[c_ast.Node]) -> Atom | None:
        """Statements in order; the returned value if the last one returns."""
        for position, stmt in enumerate(items):
            result = self.statement(stmt)
            if result is not None:
                if position + 1 < len(items):
                    raise self.error(items[position + 1], "statement after return is not "
                                                          "supported")
                return result
        return None

    def side(self, stmt: c_ast.Node) -> Atom | None:
        """A branch side or loop body: a statement in a scope of its own."""
        if isinstance(stmt, c_ast.Compound):
            return self.block(stmt)
        self.scopes.blocks.append({})
        try:
            return self.statement(stmt)
        finally:
            self.scopes.blocks.pop()

    def statement(self, stmt: c_ast.Node) -> Atom | None:
        """One statement, dispatched on its syntax class as pycparser's NodeVisitor does
        (`visit_Decl`, `visit_If`, …; `visit_For` is in `loops`). A statement without a
        rule is refused by name. A `return` gives its value, a block or branch ending in
        one gives that; others give None."""
        return self.visit(stmt)

    def generic_visit(self, node: c_ast.Node) -> None:
        message = _REFUSED_STATEMENTS.get(
            type(node), "expression statements other than assignments and int "
                        "increments are not supported")
        raise self.error(node, message)

    def visit_Decl(self, stmt: c_ast.Decl) -> None:
        self.declaration(stmt)

    def visit_Assignment(self, stmt: c_ast.Assignment) -> None:
        self.assignment(stmt)

    def visit_UnaryOp(self, stmt: c_ast.UnaryOp) -> None:
        if stmt.op not in ("p++", "++", "p--", "--"):
            self.generic_visit(stmt)
        self.increment(stmt)

    def visit_Return(self, stmt: c_ast.Return) -> Atom:
        return self.return_value(stmt)

    def visit_Compound(self, stmt: c_ast.Compound) -> Atom | None:
        return self.block(stmt)

    def visit_If(self, stmt: c_ast.If) -> Atom | None:
        return self.if_statement(stmt)

    def visit_EmptyStatement(self, stmt: c_ast.EmptyStatement) -> None:
        return None

    def return_value(self, stmt: c_ast.Return) -> Atom:
        if any(frame.loop for frame in self.scopes.frames):
            raise self.error(stmt, "return inside a loop is not supported")
        if stmt.expr is None:
            raise self.error(stmt, "return without a value is not supported")
        if not self.returns:
            raise self.error(stmt, "a void kernel cannot return a value")
        return self.real(stmt.expr, "return")

    # -- declarations and assignments ------------------------------------------------------
    def declaration(self, decl: c_ast.Decl) -> None:
        if decl.name is None:
            raise self.error(decl, "structs, unions and enums are not supported")
        self.check_name(decl.name, decl)
        what = f"local '{decl.name}'"
        if set(decl.storage) - {"register", "auto"}:
            raise self.error(decl, f"{what}: '{' '.join(decl.storage)}' locals are not "
                                   "supported")
        level = self.scopes.level
        binding: Binding
        if isinstance(decl.type, c_ast.ArrayDecl):
            binding = self.local_array(decl)
        elif self.scalar_type(decl, decl.type, what) == "int":
            value = None if decl.init is None else self.integer(decl.init)
            binding = Integer(decl.name, level, value, const="const" in decl.quals)
        else:
            value = None if decl.init is None else self.held(decl.init, decl.name)
            binding = Real(decl.name, level, value, const="const" in decl.quals)
        if not self.scopes.declare(binding):
            raise self.error(decl, f"redeclaration of '{decl.name}'")

    def held(self, expr: c_ast.Node, name: str) -> Atom:
        """The value a real variable holds after `name = expr`: a literal is stored at
        the kernel's type precision, as C stores it, so it becomes an exact `copy`
        (docs/method.md §1) rather than flowing as a literal into later operations."""
        value = self.real(expr, name)
        if isinstance(value, Lit) and value.type == REAL:
            return self.b.op("copy", (value,), self.loc(expr), name)
        return value

    def local_array(self, decl: c_ast.Decl) -> Array:
        shape, element = self.shape(decl.type, decl, decl.name)
        if self.scalar_type(decl, element, f"array '{decl.name}'") != "real":
            raise self.error(decl, f"array '{decl.name}': only {self.precision} arrays are "
                                   "supported")
        value = self.b.op("zeros", [integer(n) for n in shape], self.loc(decl), decl.name)
        array = Array(decl.name, self.scopes.level, value,
                      writable="const" not in decl.quals + (element.quals or []), known=set())
        if decl.init is None:
            return array
        if not isinstance(decl.init, c_ast.InitList):
            raise self.error(decl, f"array '{decl.name}' needs a {{...}} initialiser")
        for position, item in self.initialiser(decl.init, shape, decl.name):
            index = [integer(k) for k in unflat(position, shape)]
            stored = self.real(item)
            array.value = self.b.op("store", (array.value, *index, stored), self.loc(item),
                                    decl.name)
        array.known = None  # elements after the initialiser's are zeros, as C has them
        return array

    def initialiser(self, init: c_ast.InitList, shape: tuple[int, ...],
                    name: str) -> list[tuple[int, c_ast.Node]]:
        """(flat position, expression) of each element a `{...}` initialiser gives: a flat
        list, or one nested list per row."""
        size = 1
        for n in shape[1:]:
            size *= n
        nested = [isinstance(item, c_ast.InitList) for item in init.exprs]
        if any(nested) and (not all(nested) or len(shape) == 1):
            raise self.error(init, f"initialiser of '{name}': give a flat list, or one "
                                   "{...} per row")
        if all(nested) and nested:
            if len(init.exprs) > shape[0]:
                raise self.error(init, f"initialiser of '{name}' has too many rows")
            return [(row * size + position, item)
                    for row, sub in enumerate(init.exprs)
                    for position, item in self.initialiser(sub, shape[1:], name)]
        if len(init.exprs) > size * shape[0]:
            raise self.error(init, f"initialiser of '{name}' has more than {size * shape[0]} "
                                   "values")
        return list(enumerate(init.exprs))

    def assignment(self, stmt: c_ast.Assignment) -> None:
        if stmt.op != "=" and stmt.op not in _COMPOUND and stmt.op != "%=":
            raise self.error(stmt, f"assignment operator '{stmt.op}' is not supported")
        target = stmt.lvalue
        if isinstance(target, c_ast.ArrayRef):
            self.assign_element(stmt, target)
            return
        if not isinstance(target, c_ast.ID):
            what = "pointers are" if isinstance(target, c_ast.UnaryOp) else \
                "struct members are" if isinstance(target, c_ast.StructRef) else "this target is"
            raise self.error(target, f"assignment target: {what} not supported")
        binding = self.scopes.find(target.name)
        if binding is None:
            raise self.error(target, f"assignment to undeclared identifier '{target.name}'")
        if isinstance(binding, Array):
            raise self.error(target, f"cannot assign to array '{target.name}' as a whole")
        if isinstance(binding, Integer):
            self.check_int_assignment(binding, stmt)
            value = self.integer(stmt.rvalue)
            if stmt.op != "=":
                current = self.integer(target)
                value = self.int_op(stmt.op[0], current, value, stmt, self.assign_op_loc(stmt))
            self.scopes.assign(binding, value)
            return
        if stmt.op == "%=":
            raise self.error(stmt, "'%=' is not supported on reals")
        if binding.const:
            raise self.error(stmt, f"assignment to const '{target.name}'")
        if stmt.op == "=":
            self.scopes.assign(binding, self.held(stmt.rvalue, target.name))
            return
        current = self.read(target)
        operand = self.real(stmt.rvalue)
        spec = ARITH_BINARY[_COMPOUND[stmt.op]].name
        self.scopes.assign(binding, self.b.op(spec, (current, operand),
                                              self.assign_op_loc(stmt), target.name))

    def assign_element(self, stmt: c_ast.Assignment, target: c_ast.ArrayRef) -> None:
        if stmt.op == "%=":
            raise self.error(stmt, "'%=' is not supported on reals")
        array, indices, flat = self.element(target)
        if not array.writable:
            raise self.error(target, f"assignment to an element of const array '{array.name}'")
        if stmt.op == "=":
            value = self.real(stmt.rvalue)
        else:
            current = self.read_element(array, indices, flat, target)
            operand = self.real(stmt.rvalue)
            value = self.b.op(ARITH_BINARY[_COMPOUND[stmt.op]].name, (current, operand),
                              self.assign_op_loc(stmt))
        if array.known is not None:
            if flat is not None and self.scopes.level == array.level:
                array.known.add(flat)
            else:
                array.known = None  # written in a loop or branch: reads are not checked
        stored = self.b.op("store", (array.value, *indices, value), self.loc(target),
                           array.name)
        self.scopes.assign(array, stored)

    def check_int_assignment(self, binding: Integer, node: c_ast.Node) -> None:
        if binding.const:
            raise self.error(node, f"assignment to const '{binding.name}'")
        if binding.counter:
            raise self.error(node, f"the loop body assigns its counter '{binding.name}'")
        if self.scopes.in_loop_since(binding):
            raise self.error(node, f"int '{binding.name}' is assigned inside a loop but "
                                   "declared outside it (loops are not unrolled; derive it "
                                   "from the loop counter)")

    def increment(self, stmt: c_ast.UnaryOp) -> None:
        binding = self.scopes.find(stmt.expr.name) if isinstance(stmt.expr, c_ast.ID) else None
        if not isinstance(binding, Integer):
            raise self.error(stmt, "increment and decrement are supported on int variables "
                                   "only")
        self.check_int_assignment(binding, stmt)
        value = self.integer(stmt.expr)
        self.scopes.assign(binding, self.int_op("+" if "+" in stmt.op else "-", value, 1,
                                                stmt, self.loc(stmt)))

    # -- branches --------------------------------------------------------------------------
    def if_statement(self, stmt: c_ast.If) -> Atom | None:
        pred = self.condition(stmt.cond)
        if isinstance(pred, bool):
            chosen = stmt.iftrue if pred else stmt.iffalse
            return None if chosen is None else self.side(chosen)
        number = self.b.new_branch()
        then, then_return, then_writes = self.branch_side(stmt.iftrue)
        other, other_return, other_writes = self.branch_side(stmt.iffalse)
        if (then_return is None) != (other_return is None):
            raise self.error(stmt, "only one branch of this if returns (every path must end "
                                   "in a return, outside loops)")
        merged = {id(b): b for b, _ in then_writes + other_writes}
        then_values = {id(b): v for b, v in then_writes}
        other_values = {id(b): v for b, v in other_writes}
        targets: list[tuple[Binding, tuple[int, int] | None]] = []
        then_results: list[Atom] = []
        other_results: list[Atom] = []
        for key, binding in merged.items():
            a = then_values.get(key, binding.value)
            b = other_values.get(key, binding.value)
            if a is None or b is None or a is b or (isinstance(a, int) and a == b):
                self.scopes.assign(binding, None if a is None or b is None else a)
                continue
            if isinstance(binding, Integer):
                (lo, hi), (lo2, hi2) = bounds(a), bounds(b)  # type: ignore[arg-type]
                targets.append((binding, (min(lo, lo2), max(hi, hi2))))
                then_results.append(self.int_atom(a))  # type: ignore[arg-type]
                other_results.append(self.int_atom(b))  # type: ignore[arg-type]
            else:
                targets.append((binding, None))
                then_results.append(a)  # type: ignore[arg-type]
                other_results.append(b)  # type: ignore[arg-type]
        hints = [binding.name for binding, _ in targets]
        if then_return is not None and other_return is not None:
            then_results.append(then_return)
            other_results.append(other_return)
            hints.append("return")
        outs = self.b.cond(pred, replace(then, results=tuple(then_results)),
                           replace(other, results=tuple(other_results)), self.loc(stmt),
                           hints, number)
        for (binding, interval), out in zip(targets, outs, strict=False):
            self.scopes.assign(binding, out if interval is None else IntRange(out, *interval))
        return outs[-1] if then_return is not None else None

    def branch_side(self, stmt: c_ast.Node | None) -> tuple[Region, Atom | None,
                                                            list[tuple[Binding, object]]]:
        """One side in a region of its own: the region (results to fill in), its returned
        value, and the outer names it assigned with their values."""
        self.b.push()
        self.scopes.open(loop=False)
        returned = None if stmt is None else self.side(stmt)
        writes = self.scopes.close()
        return self.b.pop([], []), returned, writes

    # -- helpers ---------------------------------------------------------------------------
    def inline(self, helper: c_ast.FuncDef, args: list[c_ast.Node],
               call: c_ast.FuncCall) -> Atom:
        """A helper's body built at this call site, with its own sites."""
        name = helper.decl.name
        self.check_name(name, helper.decl)
        if helper.param_decls:
            raise self.error(helper.decl, f"'{name}': K&R-style parameter lists are not "
                                          "supported")
        ret = helper.decl.type.type
        if isinstance(ret, c_ast.PtrDecl) or type_names(ret) != [self.precision]:
            raise self.error(helper.decl, f"helper '{name}' must return {self.precision}")
        params = parameters(helper)
        if len(args) != len(params):
            raise self.error(call, f"'{name}' takes {len(params)} argument(s), got {len(args)}")
        scopes = Scopes()
        for param, arg in zip(params, args, strict=True):
            if not isinstance(param, c_ast.Decl) or not param.name:
                raise self.error(helper.decl, f"'{name}': unnamed or variadic parameters are "
                                              "not supported")
            self.check_name(param.name, param)
            what = f"parameter '{param.name}' of '{name}'"
            if isinstance(param.type, c_ast.ArrayDecl):
                raise self.error(param, f"{what}: array parameters of helpers are not "
                                        "supported")
            if self.scalar_type(param, param.type, what) == "int":
                if not self.is_integer(arg):
                    raise self.error(arg, f"{what} needs an integer argument")
                scopes.declare(Integer(param.name, 0, self.integer(arg)))
            else:
                scopes.declare(Real(param.name, 0, self.real(arg)))
        saved_scopes, saved_returns = self.scopes, self.returns
        self.scopes, self.returns = scopes, True
        self.calls.append(name)
        try:
            result = self.block(helper.body)
        finally:
            self.scopes, self.returns = saved_scopes, saved_returns
            self.calls.pop()
        if result is None:
            raise self.error(helper.decl, f"helper '{name}' has no return statement")
        return result

