"""One walk from the structured IR to C, shared by every C emitter.

The walker writes the kernel's control structure: a loop becomes a C `for` over a `long`
trip counter, a while loop a `for` up to its cap that tests its condition first and
`break`s when it fails, then reports its trip count to `PRECISEC_TRIPS(w, trips)` (a
no-op unless the build defines it), a branch an `if`/`else` on `PRECISEC_BRANCH(b, cond)`,
loop-carried and merged values are C variables assigned at the end of each iteration or
side, integer and boolean code is plain C. What a *real* value is (an `mpfr_t`, a
hardware float) and how each operation computes it is the `Dialect`'s business: a rule
table keyed by op name (`precisec.backend.mpfr` for MPFR, `precisec.backend.native` for
hardware formats). Where arrays live and how wide values are is `precisec.backend.storage`'s.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from precisec.backend.storage import reads, used_values
from precisec.ir.core import (
    INT,
    REAL,
    Atom,
    Cond,
    Eqn,
    Kernel,
    Lit,
    Loop,
    Region,
    Stmt,
    Var,
    While,
    walk,
)


def _defined_scalars(stmt: Stmt) -> list[Var]:
    """The integer and boolean values a statement defines in its own region."""
    outs = [stmt.out] if isinstance(stmt, Eqn) else list(stmt.outs)
    return [v for v in outs if v.type != REAL]


class Dialect(Protocol):
    """How real values are stored and computed; every method writes through the walker."""

    def note(self, site: int) -> str:
        """The tail of a site's comment (`12 bits`)."""

    def arith(self, walker: Walker, eqn: Eqn) -> None:
        """An arithmetic operation or an integer converted to real."""

    def compare(self, walker: Walker, eqn: Eqn) -> str:
        """A comparison of reals as a C int expression."""

    def load(self, walker: Walker, eqn: Eqn, array: str, index: str) -> None: ...

    def zeros(self, walker: Walker, eqn: Eqn) -> str:
        """A local array of zeros: its storage's name (zeroed where it is defined)."""

    def store(self, walker: Walker, eqn: Eqn, array: str, index: str) -> None: ...

    def declare(self, walker: Walker, var: Var) -> None:
        """A merged or carried real variable, assigned later."""

    def assign(self, walker: Walker, target: Var, source: Atom) -> None:
        """target = source, exactly (target is at least as wide)."""

    def temp(self, walker: Walker, temp: Var, source: Var) -> None:
        """A fresh copy `temp` of `source`, as wide as it."""


TRIPS_GUARD = ("#ifndef PRECISEC_TRIPS", "#define PRECISEC_TRIPS(w, n) ((void) (n))", "#endif")
"""Written before each while loop: a build that records trip counts defines the macro."""

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")


def _int_literal(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


class Walker:
    """Writes a kernel's body as C statements. Emitters name the parameters (`names` for
    scalars, `storage` for array groups) before `run`."""

    def __init__(self, kernel: Kernel, dialect: Dialect, groups: dict[int, int]) -> None:
        self.kernel = kernel
        self.dialect = dialect
        self.groups = groups
        self.used = used_values(kernel.body.stmts, kernel.body.results)
        self.names: dict[int, str] = {}
        self.storage: dict[int, str] = {}
        self.lines: list[str] = []
        self.numbers: list[Eqn] = []
        self.depth = 1
        self.count = 0
        self.reserved: set[str] = set()
        self.cuts: list[int] = []
        self.where: list[tuple[Region, int]] = []
        self.fixed: set[int] = set()
        self.aliased: set[int] = set()
        self.summaries: dict[int, list[tuple[set[int], set[int]]]] = {}

    # -- names and text -------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A new name `pc_<hint>_<n>`, never a reserved one."""
        stem = _NOT_IDENT.sub("", hint)[:24] or "v"
        while True:
            self.count += 1
            name = f"pc_{stem}_{self.count}"
            if name not in self.reserved:
                return name

    def reserve(self, name: str) -> str:
        """A name the emitter chose (a parameter's copy), kept out of `fresh`'s way."""
        self.reserved.add(name)
        return name

    def define(self, var: Var) -> str:
        name = self.fresh(var.hint)
        self.names[id(var)] = name
        return name

    def name(self, var: Atom) -> str:
        assert isinstance(var, Var)
        return self.names[id(var)]

    def is_used(self, var: Var) -> bool:
        return id(var) in self.used

    def emit(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def number(self, eqn: Eqn) -> int:
        """A number for the equation (its index in `numbers`), for run-time messages."""
        self.numbers.append(eqn)
        return len(self.numbers) - 1

    def int_ref(self, atom: Atom) -> str:
        """An integer or boolean operand."""
        if isinstance(atom, Lit):
            return _int_literal(atom.text)
        return self.name(atom)

    def array(self, var: Atom) -> str:
        return self.storage[self.groups[id(var)]]

    def index(self, array: Atom, indices: Sequence[Atom]) -> str:
        """The row-major flat index of an element."""
        assert isinstance(array, Var)
        flat = ""
        for index, extent in zip(indices, array.shape, strict=True):
            term = self.int_ref(index)
            flat = term if not flat else f"({flat}) * {extent} + {term}"
        return flat

    def alias(self, var: Var, expr: str) -> None:
        """Name a loaded value by its array element (see `stable`)."""
        self.names[id(var)] = expr
        self.aliased.add(id(var))

    def stable(self, load: Eqn) -> bool:
        """Whether the element a load reads keeps its value while the loaded value is in
        use, so a dialect may read the element instead of copying it: its indices are
        constants, and no statement of the region stores into its array before the
        value's last use (or the region's end, if the value leaves the region)."""
        array, indices = load.args[0], load.args[1:]
        if any(isinstance(a, Var) and id(a) not in self.fixed for a in indices):
            return False
        region, position = self.where[-1]
        escapes = any(r is load.out for r in region.results)
        if escapes and region is self.kernel.body:
            return False
        later = self.summary(region)[position + 1:]
        last = len(later) - 1 if escapes else max(
            (k for k, (used, _) in enumerate(later) if id(load.out) in used), default=-1)
        group = self.groups[id(array)]
        for k in range(last + 1):
            reads_first = k == last and not escapes and isinstance(
                region.stmts[position + 1 + k], Eqn)
            if group in later[k][1] and not reads_first:
                return False
        return True

    def summary(self, region: Region) -> list[tuple[set[int], set[int]]]:
        """Per statement of a region: the values it reads and the arrays it stores into."""
        if id(region) not in self.summaries:
            self.summaries[id(region)] = [
                (reads([stmt]),
                 {self.groups[id(s.args[0])] for s in walk(Region((), (stmt,), ()))
                  if isinstance(s, Eqn) and s.op == "store"})
                for stmt in region.stmts]
        return self.summaries[id(region)]

    # -- statements -----------------------------------------------------------------------
    def run(self) -> None:
        """Write the body; `cuts` gets the line numbers where a top-level statement starts
        that no integer or boolean local of an earlier one reaches (where the body may be
        split into functions that share only real values)."""
        stmts = self.kernel.body.stmts
        last_use: dict[int, int] = {}
        for position, stmt in enumerate(stmts):
            last_use.update(dict.fromkeys(reads([stmt]), position))
        reach = -1
        for position, stmt in enumerate(stmts):
            if reach < position:
                self.cuts.append(len(self.lines))
            self.where.append((self.kernel.body, position))
            self.statement(stmt)
            self.where.pop()
            for var in _defined_scalars(stmt):
                reach = max(reach, last_use.get(id(var), -1))
            if isinstance(stmt, Eqn) and id(stmt.out) in self.aliased:
                reach = max(reach, last_use.get(id(stmt.out), -1))

    def region(self, region: Region) -> None:
        for position, stmt in enumerate(region.stmts):
            self.where.append((region, position))
            self.statement(stmt)
            self.where.pop()

    def statement(self, stmt: Stmt) -> None:
        if isinstance(stmt, Eqn):
            self.eqn(stmt)
        elif isinstance(stmt, Loop):
            self.loop(stmt)
        elif isinstance(stmt, While):
            self.while_loop(stmt)
        else:
            self.cond(stmt)

    def eqn(self, eqn: Eqn) -> None:
        spec = eqn.spec
        if eqn.site is not None:
            self.emit(f"/* {eqn.loc.line}:{eqn.loc.col} {eqn.op}, {self.dialect.note(eqn.site)} */")
        if eqn.op == "zeros":
            self.storage[self.groups[id(eqn.out)]] = self.dialect.zeros(self, eqn)
        elif spec.kind == "array":
            indices = eqn.args[1:] if eqn.op == "load" else eqn.args[1:-1]
            where = (self.array(eqn.args[0]), self.index(eqn.args[0], indices))
            if eqn.op == "load":
                self.dialect.load(self, eqn, *where)
            else:
                self.dialect.store(self, eqn, *where)
        elif spec.kind in ("arith", "convert"):
            self.dialect.arith(self, eqn)
        elif self.is_used(eqn.out):
            if spec.kind == "compare" and eqn.args[0].type == REAL:
                value = self.dialect.compare(self, eqn)
            elif spec.arity == 1:
                value = f"{spec.c_symbol}{self.int_ref(eqn.args[0])}"
            else:
                left, right = (self.int_ref(a) for a in eqn.args)
                value = f"({left} {spec.c_symbol} {right})"
            ctype = "long" if eqn.out.type == INT else "int"
            self.emit(f"const {ctype} {self.define(eqn.out)} = {value};")
            self.fixed.add(id(eqn.out))

    def declare(self, var: Var, init: Atom | None = None) -> None:
        """A variable assigned later (merged or carried); arrays need none."""
        if var.shape:
            return
        if var.type == REAL:
            self.dialect.declare(self, var)
            if init is not None:
                self.dialect.assign(self, var, init)
            return
        ctype = "long" if var.type == INT else "int"
        value = "" if init is None else f" = {self.int_ref(init)}"
        self.emit(f"{ctype} {self.define(var)}{value};")

    def assign(self, target: Var, source: Atom) -> None:
        if target.shape:
            return
        if target.type == REAL:
            self.dialect.assign(self, target, source)
        else:
            self.emit(f"{self.name(target)} = {self.int_ref(source)};")

    def loop(self, loop: Loop) -> None:
        live = [id(p) in self.used or id(o) in self.used
                for p, o in zip(loop.carried, loop.outs, strict=True)]
        for param, init, keep in zip(loop.carried, loop.init, live, strict=True):
            if keep:
                self.declare(param, init)
        trip = self.fresh("k")
        self.emit(f"for (long {trip} = 0; {trip} < {loop.trips}; {trip}++) {{")
        self.depth += 1
        if self.is_used(loop.counter):
            value = trip if loop.step == 1 else f"{trip} * {_int_literal(str(loop.step))}"
            value = value if loop.start == 0 else f"{loop.start} + {value}"
            self.emit(f"const long {self.define(loop.counter)} = {value};")
            self.fixed.add(id(loop.counter))
        self.region(loop.body)
        self.carry(loop, live)
        self.depth -= 1
        self.emit("}")
        for param, out, keep in zip(loop.carried, loop.outs, live, strict=True):
            if keep and not param.shape:
                self.names[id(out)] = self.names[id(param)]

    def while_loop(self, loop: While) -> None:
        """carried ← init; up to the cap: test, stop if false, body, carry. The test's
        parameters are the carried variables under other names."""
        live = [id(p) in self.used or id(t) in self.used or id(o) in self.used
                for p, t, o in zip(loop.carried, loop.cond.params, loop.outs, strict=True)]
        for param, init, keep in zip(loop.carried, loop.init, live, strict=True):
            if keep:
                self.declare(param, init)
        for param, test, keep in zip(loop.carried, loop.cond.params, live, strict=True):
            if keep and not param.shape:
                self.names[id(test)] = self.names[id(param)]
        trip = self.fresh("trips")
        self.lines.extend(TRIPS_GUARD)
        self.emit(f"/* {loop.loc.line}:{loop.loc.col} while loop {loop.number}: stops after "
                  f"{loop.cap} iterations (its hard cap) if its condition still holds */")
        self.emit(f"long {trip};")
        self.emit(f"for ({trip} = 0; {trip} < {loop.cap}; {trip}++) {{")
        self.depth += 1
        self.region(loop.cond)
        self.emit(f"if (!{self.int_ref(loop.cond.results[0])}) break;")
        self.region(loop.body)
        self.carry(loop, live)
        self.depth -= 1
        self.emit("}")
        self.emit(f"PRECISEC_TRIPS({loop.number}, {trip});")
        for param, out, keep in zip(loop.carried, loop.outs, live, strict=True):
            if keep and not param.shape:
                self.names[id(out)] = self.names[id(param)]

    def carry(self, loop: Loop | While, live: list[bool]) -> None:
        """carried ← body results, as a parallel assignment: a result that is itself a
        carried value is copied to a temporary before any carried value changes."""
        carried = {id(p) for p in loop.carried}
        moves: list[tuple[Var, Atom]] = []
        for param, result, keep in zip(loop.carried, loop.body.results, live, strict=True):
            if not keep or result is param or param.shape:
                continue
            if isinstance(result, Var) and id(result) in carried:
                temp = Var(result.type, (), "carry")
                if result.type == REAL:
                    self.dialect.temp(self, temp, result)
                else:
                    ctype = "long" if result.type == INT else "int"
                    self.emit(f"const {ctype} {self.define(temp)} = {self.name(result)};")
                result = temp
            moves.append((param, result))
        for param, result in moves:
            self.assign(param, result)

    def cond(self, cond: Cond) -> None:
        live = [self.is_used(o) and not o.shape for o in cond.outs]
        for out, keep in zip(cond.outs, live, strict=True):
            if keep:
                self.declare(out)
        self.emit(f"if (PRECISEC_BRANCH({cond.branch}, {self.int_ref(cond.pred)})) {{")
        for side in (cond.then, cond.other):
            if side is cond.other:
                self.emit("} else {")
            self.depth += 1
            self.region(side)
            for out, result, keep in zip(cond.outs, side.results, live, strict=True):
                if keep:
                    self.assign(out, result)
            self.depth -= 1
        self.emit("}")



def flat_pointer(name: str, var: Var, ctype: str, const: bool) -> str:
    """A parameter array of element type `ctype` as a flat pointer (itself if 1-D)."""
    if len(var.shape) == 1:
        return name
    return f"(({'const ' if const else ''}{ctype} *) {name})"
