"""Verifier and printer for the IR (in the manner of JAX's `check_jaxpr`/`pp_jaxpr`).

`verify` raises `IRError` on the first broken invariant: a value used before it is
defined or outside its scope, a type or shape mismatch, a wrong arity, a rounding
equation without a site (or an exact one with one), sites, branch or while-loop numbers
that are not exactly 0..n-1, a while loop without a positive cap or a boolean test, a
region whose results do not match its owner. Frontends call it on every kernel they
build, so a bug there cannot reach an interpreter.
"""

from __future__ import annotations

from precisec.ir.core import (
    BOOL,
    INT,
    REAL,
    Atom,
    Cond,
    Eqn,
    Input,
    Kernel,
    Lit,
    Loop,
    Region,
    Var,
    While,
)


class IRError(Exception):
    """A broken IR invariant: a bug in whatever built the IR, never the user's fault."""


def _shape(atom: Atom) -> tuple[int, ...]:
    return atom.shape if isinstance(atom, Var) else ()


class _Verifier:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.sites: set[int] = set()
        self.branches: set[int] = set()
        self.whiles: set[int] = set()
        self.defined: set[int] = set()

    def fail(self, message: str) -> IRError:
        return IRError(f"{self.kernel.name}: {message}")

    def use(self, atom: Atom, scope: list[set[int]]) -> None:
        if isinstance(atom, Lit):
            if atom.type not in (REAL, INT, BOOL):
                raise self.fail(f"literal of unknown type {atom.type}")
            return
        if not any(id(atom) in level for level in scope):
            raise self.fail(f"value {atom.hint or id(atom)} used out of scope")

    def define(self, var: Var, scope: list[set[int]]) -> None:
        if id(var) in self.defined:
            raise self.fail(f"value {var.hint or id(var)} defined twice")
        self.defined.add(id(var))
        scope[-1].add(id(var))

    def region(self, region: Region, scope: list[set[int]]) -> None:
        scope = [*scope, set()]
        for param in region.params:
            self.define(param, scope)
        for stmt in region.stmts:
            if isinstance(stmt, Eqn):
                self.eqn(stmt, scope)
            elif isinstance(stmt, Loop):
                self.loop(stmt, scope)
            elif isinstance(stmt, While):
                self.while_loop(stmt, scope)
            elif isinstance(stmt, Cond):
                self.cond(stmt, scope)
            else:
                raise self.fail(f"unknown statement {stmt!r}")
        for result in region.results:
            self.use(result, scope)

    def eqn(self, eqn: Eqn, scope: list[set[int]]) -> None:
        spec = eqn.spec
        for arg in eqn.args:
            self.use(arg, scope)
        types = [a.type for a in eqn.args]
        if spec.kind == "array":
            self.array(eqn, types)
        else:
            if len(eqn.args) != spec.arity:
                raise self.fail(f"{eqn.op} at {eqn.loc} takes {spec.arity} arguments")
            if any(_shape(a) for a in eqn.args):
                raise self.fail(f"{eqn.op} at {eqn.loc} applied to an array")
            expected = {"arith": (REAL, REAL), "logic": (BOOL, BOOL), "int": (INT, INT),
                        "convert": (INT, REAL)}.get(spec.kind)
            if spec.kind == "compare":
                if len(set(types)) != 1 or types[0] not in (REAL, INT):
                    raise self.fail(f"{eqn.op} at {eqn.loc} compares {types}")
                expected = (types[0], BOOL)
            assert expected is not None
            if any(t != expected[0] for t in types) or eqn.out.type != expected[1]:
                raise self.fail(f"{eqn.op} at {eqn.loc}: types {types} -> {eqn.out.type}")
        if spec.rounds != (eqn.site is not None):
            raise self.fail(f"{eqn.op} at {eqn.loc}: site {eqn.site} for rounds={spec.rounds}")
        if eqn.site is not None:
            if eqn.site in self.sites or not 0 <= eqn.site < len(self.kernel.sites):
                raise self.fail(f"site {eqn.site} repeated or out of range")
            if self.kernel.sites[eqn.site].op != eqn.op:
                raise self.fail(f"site {eqn.site} is a {self.kernel.sites[eqn.site].op}")
            self.sites.add(eqn.site)
        self.define(eqn.out, scope)

    def array(self, eqn: Eqn, types: list[str]) -> None:
        if eqn.op == "zeros":
            dims = [int(a.text) if isinstance(a, Lit) and a.type == INT else 0
                    for a in eqn.args]
            if not dims or min(dims) < 1 or eqn.out.type != REAL or eqn.out.shape != tuple(dims):
                raise self.fail(f"zeros at {eqn.loc}: bad dimensions")
            return
        array = eqn.args[0]
        rank = len(_shape(array))
        indices = eqn.args[1:1 + rank]
        ok = isinstance(array, Var) and array.type == REAL and rank > 0 and \
            all(t == INT for t in types[1:1 + rank])
        if eqn.op == "load":
            ok = ok and len(eqn.args) == 1 + rank and eqn.out.type == REAL and not eqn.out.shape
        else:
            ok = ok and len(eqn.args) == 2 + rank and types[-1] == REAL and \
                not _shape(eqn.args[-1]) and eqn.out.shape == _shape(array)
        if not ok:
            raise self.fail(f"{eqn.op} at {eqn.loc}: bad operands")
        for index, extent in zip(indices, _shape(array), strict=False):
            if isinstance(index, Lit) and not 0 <= int(index.text) < extent:
                raise self.fail(f"{eqn.op} at {eqn.loc}: index {index.text} out of bounds")

    def matches(self, atoms: tuple[Atom, ...], vars_: tuple[Var, ...], what: str) -> None:
        if len(atoms) != len(vars_) or any(
                a.type != v.type or _shape(a) != v.shape for a, v in zip(atoms, vars_,
                                                                           strict=False)):
            raise self.fail(f"{what}: {len(atoms)} values do not match {len(vars_)}")

    def loop(self, loop: Loop, scope: list[set[int]]) -> None:
        for atom in loop.init:
            self.use(atom, scope)
        if loop.trips < 0 or not loop.body.params or loop.counter.type != INT:
            raise self.fail(f"loop at {loop.loc}: bad trip count or counter")
        self.matches(loop.init, loop.carried, f"loop at {loop.loc} init")
        self.matches(loop.body.results, loop.carried, f"loop at {loop.loc} body results")
        self.matches(loop.body.results, loop.outs, f"loop at {loop.loc} outs")
        self.region(loop.body, scope)
        for out in loop.outs:
            self.define(out, scope)

    def while_loop(self, loop: While, scope: list[set[int]]) -> None:
        for atom in loop.init:
            self.use(atom, scope)
        where = f"while loop at {loop.loc}"
        if loop.cap < 1:
            raise self.fail(f"{where}: iteration cap {loop.cap}")
        if loop.number in self.whiles or not 0 <= loop.number < self.kernel.n_whiles:
            raise self.fail(f"while loop number {loop.number} repeated or out of range")
        self.whiles.add(loop.number)
        self.matches(loop.init, loop.carried, f"{where} init")
        self.matches(loop.init, loop.cond.params, f"{where} condition parameters")
        self.matches(loop.body.results, loop.carried, f"{where} body results")
        self.matches(loop.body.results, loop.outs, f"{where} outs")
        if len(loop.cond.results) != 1 or loop.cond.results[0].type != BOOL:
            raise self.fail(f"{where}: the condition must give one boolean")
        self.region(loop.cond, scope)
        self.region(loop.body, scope)
        for out in loop.outs:
            self.define(out, scope)

    def cond(self, cond: Cond, scope: list[set[int]]) -> None:
        self.use(cond.pred, scope)
        if cond.pred.type != BOOL:
            raise self.fail(f"branch at {cond.loc}: condition is not boolean")
        if cond.then.params or cond.other.params:
            raise self.fail(f"branch at {cond.loc}: sides take no parameters")
        if cond.branch in self.branches or not 0 <= cond.branch < self.kernel.n_branches:
            raise self.fail(f"branch number {cond.branch} repeated or out of range")
        self.branches.add(cond.branch)
        self.matches(cond.then.results, cond.outs, f"branch at {cond.loc} then")
        self.matches(cond.other.results, cond.outs, f"branch at {cond.loc} else")
        self.region(cond.then, scope)
        self.region(cond.other, scope)
        for out in cond.outs:
            self.define(out, scope)


def verify(kernel: Kernel) -> Kernel:
    """Check every invariant of `kernel`; returns it unchanged."""
    checker = _Verifier(kernel)
    body = kernel.body
    if len(body.params) != len(kernel.params):
        raise checker.fail("one body parameter per kernel parameter expected")
    for param, var in zip(kernel.params, body.params, strict=True):
        if var.type != REAL or var.shape != param.shape:
            raise checker.fail(f"parameter {param.name}: value of shape {var.shape}")
        if isinstance(param, Input) and not (len(param.lo) == len(param.hi) == param.size):
            raise checker.fail(f"input {param.name}: one range per element expected")
    checker.region(body, [])
    expected = [()] if kernel.returns else []
    expected += [out.shape for out in kernel.outputs]
    if [_shape(r) for r in body.results] != expected or any(
            r.type != REAL for r in body.results):
        raise checker.fail("body results do not match the return value and output arrays")
    if checker.sites != set(range(len(kernel.sites))):
        raise checker.fail("sites are not exactly 0..n-1")
    if checker.branches != set(range(kernel.n_branches)):
        raise checker.fail("branch numbers are not exactly 0..n-1")
    if checker.whiles != set(range(kernel.n_whiles)):
        raise checker.fail("while loop numbers are not exactly 0..n-1")
    if kernel.precision not in ("double", "float"):
        raise checker.fail(f"unknown precision {kernel.precision}")
    return kernel


class _Printer:
    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.lines: list[str] = []

    def name(self, atom: Atom) -> str:
        if isinstance(atom, Lit):
            return atom.text if atom.type != BOOL else ("true" if atom.text == "1" else "false")
        if id(atom) not in self.names:
            self.names[id(atom)] = f"{atom.hint or 'v'}_{len(self.names)}"
        return self.names[id(atom)]

    def typed(self, var: Var) -> str:
        dims = "".join(f"[{n}]" for n in var.shape)
        return f"{self.name(var)}:{var.type}{dims}"

    def region(self, region: Region, indent: str) -> None:
        for stmt in region.stmts:
            if isinstance(stmt, Eqn):
                args = " ".join(self.name(a) for a in stmt.args)
                note = f"  # site {stmt.site}, {stmt.loc.line}:{stmt.loc.col}" \
                    if stmt.site is not None else ""
                self.lines.append(f"{indent}{self.typed(stmt.out)} = {stmt.op} {args}{note}")
            elif isinstance(stmt, Loop):
                carried = ", ".join(f"{self.typed(p)}={self.name(a)}"
                                    for p, a in zip(stmt.carried, stmt.init, strict=True))
                self.lines.append(f"{indent}loop {self.typed(stmt.counter)} from {stmt.start} "
                                  f"step {stmt.step} x{stmt.trips} carry ({carried}):")
                self.region(stmt.body, indent + "  ")
                nexts = ", ".join(map(self.name, stmt.body.results))
                self.lines.append(f"{indent}  next ({nexts})")
                self.lines.append(f"{indent}-> ({', '.join(map(self.typed, stmt.outs))})")
            elif isinstance(stmt, While):
                self.while_loop(stmt, indent)
            else:
                self.lines.append(f"{indent}if {self.name(stmt.pred)}  # branch {stmt.branch}:")
                self.region(stmt.then, indent + "  ")
                yields = ", ".join(map(self.name, stmt.then.results))
                self.lines.append(f"{indent}  yield ({yields})")
                self.lines.append(f"{indent}else:")
                self.region(stmt.other, indent + "  ")
                self.lines.append(
                    f"{indent}  yield ({', '.join(map(self.name, stmt.other.results))})")
                self.lines.append(f"{indent}-> ({', '.join(map(self.typed, stmt.outs))})")


    def while_loop(self, stmt: While, indent: str) -> None:
        carried = ", ".join(f"{self.typed(p)}={self.name(a)}"
                            for p, a in zip(stmt.carried, stmt.init, strict=True))
        self.lines.append(f"{indent}while  # loop {stmt.number}, cap {stmt.cap}, "
                          f"carry ({carried}):")
        params = ", ".join(map(self.typed, stmt.cond.params))
        self.lines.append(f"{indent}  cond ({params}):")
        self.region(stmt.cond, indent + "    ")
        self.lines.append(f"{indent}    test {self.name(stmt.cond.results[0])}")
        self.lines.append(f"{indent}  do:")
        self.region(stmt.body, indent + "    ")
        nexts = ", ".join(map(self.name, stmt.body.results))
        self.lines.append(f"{indent}    next ({nexts})")
        self.lines.append(f"{indent}-> ({', '.join(map(self.typed, stmt.outs))})")


def pretty(kernel: Kernel) -> str:
    """The kernel as text, one statement a line, regions indented."""
    printer = _Printer()
    params = ", ".join(f"{p.name}: {printer.typed(v)}"
                       for p, v in zip(kernel.params, kernel.body.params, strict=True))
    printer.lines.append(f"kernel {kernel.name}({params}) [{kernel.precision}, "
                         f"{len(kernel.sites)} sites]:")
    printer.region(kernel.body, "  ")
    printer.lines.append(f"  return ({', '.join(map(printer.name, kernel.body.results))})")
    return "\n".join(printer.lines) + "\n"
