"""`for` loops into `Loop` regions, never unrolled.

`for (int i = A; i CMP B; STEP)` with A, B known at compile time (literals, #defines,
const ints, integer arithmetic on them), CMP one of < <= > >= != and STEP `i++`, `i--`,
`i += c`, `i -= c` becomes one `Loop` with its start, step and trip count, whatever the
count. The values it carries are the outer scalars and arrays its body assigns, found by
scanning the body before building it; inside, the counter is an integer value with the
interval of its values, so indices derived from it are bounds-checked statically.

`while (cond) body`, and a `for` loop that steps a double (or nothing) whatever its
condition, becomes one `While` (docs/method.md §1), its test a region of its own
over the same carried values, stopped at the IR's hard iteration cap. Its carried values
are the outer doubles and arrays its body assigns; an int assigned inside is refused as
in any loop (count with a double instead), as are `break`, `continue` and `return`.
"""

from __future__ import annotations

from collections.abc import Callable

from pycparser import c_ast

from precisec.frontend.c.scope import Array, Binding, Integer, IntRange, Real
from precisec.frontend.c.statements import Statements
from precisec.frontend.c.syntax import type_names
from precisec.ir import BOOL, INT, Atom, Lit, Var

INT_RANGE = (-2**31, 2**31 - 1)
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "!=": "!="}


class Loops(Statements):
    """The function builder: statements, and loops."""

    cap: int | None = None
    """The stated iteration cap of every while loop (`#pragma precisec cap(N)`); None for
    the default."""

    def visit_For(self, stmt: c_ast.For) -> None:
        self.scopes.blocks.append({})
        try:
            if self.counts_a_double(stmt):
                self.for_as_while(stmt)
                return
            counter, step = self.loop_step(stmt)
            binding, start = self.loop_start(stmt, counter)
            op, bound = self.loop_bound(stmt, counter)
            trips = _trips(start, step, op, bound)
            last = start + (trips - 1) * step if trips else start
            if trips is None or (trips and not INT_RANGE[0] <= last + step <= INT_RANGE[1]):
                raise self.error(stmt, f"this loop never ends or overflows int (counter "
                                       f"'{counter}' from {start} step {step}, {op} {bound})")
            if trips:
                self.loop_body(stmt, binding, start, step, trips, (min(start, last),
                                                                   max(start, last)))
            self.scopes.assign(binding, start + trips * step)
        finally:
            self.scopes.blocks.pop()

    def visit_While(self, stmt: c_ast.While) -> None:
        carried = self.carried(stmt.stmt)
        init: list[Atom] = []
        for b in carried:
            if b.value is None:
                raise self.error(stmt, f"'{b.name}' is assigned in this while loop but has no "
                                       "value before it")
            init.append(b.value)  # type: ignore[arg-type]

        def region(build: Callable[[], Atom | None]
                   ) -> tuple[list[Var], Atom | None, list[Atom]]:
            """The test or the body over fresh carried values: its parameters, its value,
            the carried values at its end (an int assigned inside is refused where it is
            assigned, as in any loop)."""
            params = [Var(a.type, a.shape if isinstance(a, Var) else (), b.name)
                      for a, b in zip(init, carried, strict=True)]
            self.b.push()
            self.scopes.open(loop=True)
            for b, param in zip(carried, params, strict=True):
                self.scopes.assign(b, param)
            value = build()
            ends = [b.value for b in carried]
            self.scopes.close()
            return params, value, ends  # type: ignore[return-value]

        tests, test, _ = region(lambda: self.while_test(stmt))
        cond = self.b.pop(tests, [test])  # type: ignore[list-item]
        params, _, ends = region(lambda: self.side(stmt.stmt))
        body = self.b.pop(params, ends)
        outs = self.b.while_loop(init, cond, body, self.loc(stmt), self.cap)
        for b, out in zip(carried, outs, strict=True):
            self.scopes.assign(b, out)

    def counts_a_double(self, stmt: c_ast.For) -> bool:
        """Whether a for loop steps a double (or nothing) rather than an int counter: then
        its trip count is data, and it is `init; while (cond) { body; step }`."""
        step = stmt.next
        target = step.expr if isinstance(step, c_ast.UnaryOp) else \
            step.lvalue if isinstance(step, c_ast.Assignment) else None
        if step is None:
            return stmt.cond is not None
        if not isinstance(target, c_ast.ID):
            return False
        init = stmt.init
        if isinstance(init, c_ast.DeclList):
            return any(d.name == target.name and type_names(d.type) == ["double"]
                       for d in init.decls)
        return isinstance(self.scopes.find(target.name), Real)

    def for_as_while(self, stmt: c_ast.For) -> None:
        """`for (init; cond; step) body` with a data-dependent trip count: the init, then
        a while loop over the body and the step (in the for's own scope)."""
        init = stmt.init
        for part in init.decls if isinstance(init, c_ast.DeclList) else [init]:
            if part is not None:
                self.statement(part)
        body = c_ast.Compound([stmt.stmt, *([stmt.next] if stmt.next else [])], stmt.coord)
        self.visit_While(c_ast.While(stmt.cond, body, stmt.coord))

    def while_test(self, stmt: c_ast.While) -> Atom:
        test = self.condition(stmt.cond)
        return Lit(BOOL, "1" if test else "0") if isinstance(test, bool) else test

    def loop_step(self, stmt: c_ast.For) -> tuple[str, int]:
        step = stmt.next
        if isinstance(step, c_ast.UnaryOp) and step.op in ("++", "p++", "--", "p--") and \
                isinstance(step.expr, c_ast.ID):
            return step.expr.name, 1 if "+" in step.op else -1
        if isinstance(step, c_ast.Assignment) and step.op in ("+=", "-=") and \
                isinstance(step.lvalue, c_ast.ID):
            size = self.constant(step.rvalue, "the loop step")
            return step.lvalue.name, size if step.op == "+=" else -size
        raise self.error(step or stmt, "the loop step must update an int counter by a "
                                       "constant: i++, i--, i += 2, i -= 2")

    def loop_start(self, stmt: c_ast.For, counter: str) -> tuple[Integer, int]:
        init = stmt.init
        if isinstance(init, c_ast.DeclList) and len(init.decls) == 1 and \
                init.decls[0].name == counter and init.decls[0].init is not None:
            decl = init.decls[0]
            self.check_name(decl.name, decl)
            if type_names(decl.type) != ["int"]:
                raise self.error(decl, "a for loop counter must be an int")
            start = self.constant(decl.init, "the loop start")
            binding = Integer(counter, self.scopes.level)
            self.scopes.declare(binding)
            return binding, start
        if isinstance(init, c_ast.Assignment) and init.op == "=" and \
                isinstance(init.lvalue, c_ast.ID) and init.lvalue.name == counter:
            found = self.scopes.find(counter)
            if isinstance(found, Integer):
                self.check_int_assignment(found, init)
                return found, self.constant(init.rvalue, "the loop start")
        raise self.error(init or stmt, f"the loop must start its int counter '{counter}': "
                                       f"for (int {counter} = A; ...)")

    def loop_bound(self, stmt: c_ast.For, counter: str) -> tuple[str, int]:
        cond = stmt.cond
        if isinstance(cond, c_ast.BinaryOp) and cond.op in _FLIPPED:
            if isinstance(cond.left, c_ast.ID) and cond.left.name == counter:
                return cond.op, self.constant(cond.right, "the loop bound")
            if isinstance(cond.right, c_ast.ID) and cond.right.name == counter:
                return _FLIPPED[cond.op], self.constant(cond.left, "the loop bound")
        raise self.error(cond or stmt, f"the loop condition must compare the counter "
                                       f"'{counter}' with a bound (<, <=, >, >=, !=)")

    def loop_body(self, stmt: c_ast.For, binding: Integer, start: int, step: int, trips: int,
                  interval: tuple[int, int]) -> None:
        carried = self.carried(stmt.stmt)
        unset = [b.value is None for b in carried]
        init: list[Atom] = [Lit.real("0") if b.value is None else b.value  # type: ignore[misc]
                            for b in carried]
        params = [Var(a.type, a.shape if isinstance(a, Var) else (), b.name)
                  for a, b in zip(init, carried, strict=True)]
        counter = Var(INT, (), binding.name)
        self.b.push()
        self.scopes.open(loop=True)
        for b, param, empty in zip(carried, params, unset, strict=True):
            self.scopes.assign(b, None if empty else param)
        self.scopes.assign(binding, IntRange(counter, *interval))
        binding.counter = True
        self.side(stmt.stmt)
        binding.counter = False
        ends = [b.value for b in carried]
        written = self.scopes.close()
        assert {id(b) for b, _ in written} <= {id(b) for b in carried} | {id(binding)}
        body = self.b.pop([counter, *params],
                          [p if v is None else v for p, v in zip(params, ends, strict=True)])
        outs = self.b.loop(start, step, trips, init, body, self.loc(stmt))
        for b, out, end in zip(carried, outs, ends, strict=True):
            self.scopes.assign(b, None if end is None else out)

    def carried(self, body: c_ast.Node) -> list[Binding]:
        """The outer scalars and arrays a loop body assigns, in first-assignment order."""
        found: dict[int, Binding] = {}
        declared: list[set[str]] = [set()]

        def visit(node: c_ast.Node | None) -> None:
            if isinstance(node, c_ast.While):
                visit(node.stmt)
            elif isinstance(node, c_ast.Compound | c_ast.For):
                declared.append(set())
                for child in (node.block_items or []) if isinstance(node, c_ast.Compound) \
                        else (node.init, node.stmt):
                    visit(child)
                declared.pop()
            elif isinstance(node, c_ast.DeclList):
                for decl in node.decls:
                    visit(decl)
            elif isinstance(node, c_ast.Decl):
                declared[-1].add(node.name)
            elif isinstance(node, c_ast.If):
                visit(node.iftrue)
                visit(node.iffalse)
            elif isinstance(node, c_ast.Assignment):
                target = node.lvalue
                while isinstance(target, c_ast.ArrayRef):
                    target = target.name
                if isinstance(target, c_ast.ID) and \
                        not any(target.name in names for names in declared):
                    binding = self.scopes.find(target.name)
                    if isinstance(binding, Real | Array):
                        found.setdefault(id(binding), binding)

        visit(body)
        return list(found.values())


def _trips(start: int, step: int, op: str, bound: int) -> int | None:
    """How often `for (i = start; i op bound; i += step)` runs; None if it never ends."""
    holds = {"<": start < bound, "<=": start <= bound, ">": start > bound,
             ">=": start >= bound, "!=": start != bound}[op]
    if not holds:
        return 0
    if op == "!=":
        span = bound - start
        return span // step if step and span % step == 0 and span // step > 0 else None
    upward = op in ("<", "<=")
    if step == 0 or (step > 0) != upward:
        return None
    span = abs(bound - start) + (op in ("<=", ">="))
    return -(-span // abs(step))
