"""Emit a kernel and its precision allocation as FPCore 2.0.

Every operation is wrapped in a precision annotation, `(! :precision P (op ...))`, where P
is `binary64` for 53 bits and otherwise `(float 11 N)` with N = P + 11. FPCore's
`(float E N)` gives the exponent width E and the *total* width N (sign, exponent and the
significand without its leading bit), so `binary64` is `(float 11 64)` and a P-bit
significand with double's exponent range is `(float 11 P+11)`. The exponent width is
double's: precisec's emulation (MPFR) does not model a narrower exponent range, so naming
`binary32` (8 exponent bits) for 24 bits would state an overflow threshold the tuned
kernel does not have.

A rounding operation gets its site's precision. An exact one (negation, fabs, fmin,
fmax) is annotated with the precision of its widest argument, so that it stays exact. A
literal is rounded to the precision of the annotation around it, which is the IR's rule
for a literal argument of a rounding operation (docs/method.md §1); any other literal
takes the kernel's type precision, so it is written inside an annotation of that
precision where the context differs (and always under a negation, which would otherwise
read back as a negative literal).

A branch (`Cond`) is written as `(if cond then else)` under the type precision, with its
condition inline (comparisons, and, or, not). Values used more than once, or never, or in
another region than their own, are `let*`-bound at the start of the region that defines
them (so a value computed on one side of a branch is bound on that side); the others are
written inline. Bindings follow the kernel's statement order and an inline value is
never moved past a site, so the FPCore reads back with the same sites in the same order
(`precisec.frontend.fpcore.parse_tuned_fpcore` gives back the same precisions).

A while loop (`While`) is written as `(while* test ([name init update] ...) rest)`, where
`rest` is what the region computes after the loop: the values its body computes come
first, each as a binding of its own (`[t 0 expr]`, in statement order, so its sites keep
their order), then the carried values, each updated from those (a carried value that
takes another's old value reads a copy bound before them); the initial values are bound
before the loop; the test is a region like any other (a `let*` around a condition where
it binds values). A stated cap is written as `:precisec-cap N`. The
form reads back with the same sites in the same order and the same results and trip
counts (the extra bindings hold no site). Only the FPCore subset precisec reads can be
written: one returned scalar, scalar inputs, no counted loops, no loop inside a loop;
anything else is a located refusal.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial

from precisec.errors import PrecisecError, SourceLoc
from precisec.ir.core import BOOL, REAL, Atom, Cond, Eqn, Kernel, Lit, Loop, Region, Var, While
from precisec.ops import OPS

ARGUMENT_NAMES_KEY = "fpcore.arguments"
"""Kernel property the FPCore frontend sets: the FPCore argument names, space-separated."""

BINARY64_BITS = 53
EXPONENT_BITS = 11
MAX_INDENT = 40
_SPELLINGS = {name: "-" if name == "neg" else spec.fpcore for name, spec in OPS.items()
              if spec.fpcore and spec.kind in ("arith", "compare", "logic")}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REWRITTEN = frozenset({":precision", ":precisec-rmse", ":precisec-relrmse", ":precisec-bits"})

Piece = str | Callable[[], list["Piece"]]
"""Output text, or a thunk giving more pieces (so rendering needs no recursion)."""


def fpcore_precision(bits: int) -> str:
    """The FPCore precision of a `bits`-bit significand with double's exponent range."""
    return "binary64" if bits == BINARY64_BITS else \
        f"(float {EXPONENT_BITS} {bits + EXPONENT_BITS})"


def fpcore_argument_names(kernel: Kernel) -> tuple[str, ...]:
    """The FPCore name of each input (its C name for a kernel not read from FPCore)."""
    names = kernel.prop(ARGUMENT_NAMES_KEY)
    return tuple(names.split(" ")) if names is not None else \
        tuple(p.name for p in kernel.inputs)


def _deeper(indent: str, by: int) -> str:
    """The indentation one level in; it stops growing after MAX_INDENT columns, so deep
    nesting costs linear space."""
    return indent + " " * by if len(indent) < MAX_INDENT else indent


def _value(stmt: Eqn | Cond) -> Var:
    """The value a statement defines (a branch written as FPCore merges one)."""
    return stmt.out if isinstance(stmt, Eqn) else stmt.outs[0]


def _refuse(loc: SourceLoc, message: str) -> PrecisecError:
    return PrecisecError(loc, f"cannot write this kernel as FPCore: {message}")


class _Plan:
    """Which values are bound and which are written inline (see the module docstring)."""

    def __init__(self, kernel: Kernel) -> None:
        self.uses: Counter[int] = Counter()
        self.use_region: dict[int, int] = {}
        self.definition: dict[int, Eqn | Cond] = {}
        self.home: dict[int, int] = {}
        self.inline: set[int] = set()
        self.whiles: list[While] = []
        self.count(kernel.body)
        self.plan(kernel.body)

    def count(self, region: Region, in_loop: bool = False) -> None:
        for stmt in region.stmts:
            if isinstance(stmt, Loop) or (isinstance(stmt, While) and in_loop):
                raise _refuse(stmt.loc, "counted loops and loops inside loops are not "
                                        "supported")
            if isinstance(stmt, While):
                if any(p.shape or p.type != REAL for p in stmt.carried):
                    raise _refuse(stmt.loc, "a while loop may carry only real scalars")
                self.note(stmt.init, region)
                self.count(stmt.cond, True)
                self.count(stmt.body, True)
                self.whiles.append(stmt)
            elif isinstance(stmt, Eqn):
                if stmt.op not in _SPELLINGS:
                    raise _refuse(stmt.loc, f"`{stmt.op}` has no FPCore form")
                self.note(stmt.args, region)
                self.define(stmt.out, stmt, region)
            else:
                if len(stmt.outs) != 1 or stmt.outs[0].type != REAL:
                    raise _refuse(stmt.loc, "a branch must merge exactly one real value")
                self.note((stmt.pred,), region)
                self.count(stmt.then, in_loop)
                self.count(stmt.other, in_loop)
                self.define(stmt.outs[0], stmt, region)
        self.note(region.results, region)

    def define(self, var: Var, stmt: Eqn | Cond, region: Region) -> None:
        self.definition[id(var)] = stmt
        self.home[id(var)] = id(region)

    def note(self, atoms: Sequence[Atom], region: Region) -> None:
        for atom in atoms:
            if isinstance(atom, Var):
                self.uses[id(atom)] += 1
                self.use_region[id(atom)] = id(region)

    def plan(self, region: Region) -> None:
        """Rebuild expression trees from the region's statement order, as one reads
        postfix code: a statement consumes its pending operands when they are on top of
        the stack; otherwise the fewest pending values from the bottom of the stack are
        bound first (binding a value moves it before everything still pending, so the ones
        below it are bound too), and a value that must be bound binds all pending ones.
        A boolean cannot be bound, but it holds no site once its real operands are, so
        it may then move to its user ("floating")."""
        stack: list[Var] = []
        floating: set[int] = set()

        def bind(count: int) -> None:
            for var in stack[:count]:
                if var.type == BOOL:
                    self.unbind_leaves(var)
                    floating.add(id(var))
            del stack[:count]

        for stmt in region.stmts:
            if isinstance(stmt, While):  # its initial values are bound before it
                bind(len(stack))
                self.plan(stmt.cond)
                self.plan_body(stmt.body)
                continue
            if isinstance(stmt, Cond):
                self.plan(stmt.then)
                self.plan(stmt.other)
            operands = stmt.args if isinstance(stmt, Eqn) else (stmt.pred,)
            for count in range(len(stack) + 1):
                rest = [id(v) for v in stack[count:]]
                stacked = [id(a) for a in operands if id(a) in rest]
                if rest[len(rest) - len(stacked):] == stacked:
                    break
            bind(count)
            del stack[len(stack) - len(stacked):]
            consumed = {id(a) for a in operands if id(a) in floating}.union(stacked)
            self.inline.update(consumed)
            floating.difference_update(consumed)
            out = _value(stmt)
            if self.candidate(out, region):
                stack.append(out)
            elif out.type == BOOL:
                raise _refuse(stmt.loc, "a condition must be used once, by the branch or "
                                        "logical operation of its own region")
            else:
                bind(len(stack))
        (result,) = region.results
        if len(stack) == 1 and stack[0] is result:
            self.inline.add(id(result))
        else:
            bind(len(stack))

    def plan_body(self, region: Region) -> None:
        """A loop body's values are all bound (each a binding of the `while*`), except
        booleans, which are written where they are used; a branch's sides as usual."""
        for stmt in region.stmts:
            if isinstance(stmt, Cond):
                self.plan(stmt.then)
                self.plan(stmt.other)

    def candidate(self, var: Var, region: Region) -> bool:
        """Used exactly once, in the region that defines it."""
        return self.home.get(id(var)) == id(region) == self.use_region.get(id(var)) \
            and self.uses[id(var)] == 1

    def unbind_leaves(self, var: Var) -> None:
        """A boolean that must move: its real operands are bound instead of inline."""
        stmt = self.definition[id(var)]
        assert isinstance(stmt, Eqn)
        for arg in stmt.args:
            if isinstance(arg, Var) and id(arg) in self.inline:
                if arg.type == BOOL:
                    self.unbind_leaves(arg)
                else:
                    self.inline.discard(id(arg))


class _Writer:
    """Renders the planned kernel; `base` is the kernel's type precision."""

    def __init__(self, kernel: Kernel, site_bits: Sequence[int], plan: _Plan) -> None:
        self.site_bits = site_bits
        self.plan = plan
        self.base = kernel.baseline_bits
        arguments = fpcore_argument_names(kernel)
        self.names: dict[int, str] = {
            id(var): name for var, name in zip(kernel.body.params, arguments, strict=True)}
        # Literals are written as numbers, so only the booleans' names must stay free.
        self.taken = {*arguments, "TRUE", "FALSE"}
        self.widths: dict[int, int] = {}
        self.measure(kernel.body)

    def measure(self, region: Region) -> None:
        """The precision of every real value: its site's; an exact operation's widest
        argument's; a merge's widest side's; a carried value's widest of its initial and
        updated values (until that settles); the type's for literals and inputs."""
        for stmt in region.stmts:
            if isinstance(stmt, While):
                widths: list[int] = []
                while widths != (widths := [max(self.width(init), self.width(update))
                                            for init, update in zip(stmt.init, stmt.body.results,
                                                                    strict=True)]):
                    for k, width in enumerate(widths):
                        for var in (stmt.body.params[k], stmt.cond.params[k], stmt.outs[k]):
                            self.widths[id(var)] = width
                    self.measure(stmt.cond)
                    self.measure(stmt.body)
            elif isinstance(stmt, Cond):
                self.measure(stmt.then)
                self.measure(stmt.other)
                self.widths[id(stmt.outs[0])] = max(
                    self.width(side.results[0]) for side in (stmt.then, stmt.other))
            elif isinstance(stmt, Eqn) and stmt.out.type == REAL:
                self.widths[id(stmt.out)] = self.site_bits[stmt.site] \
                    if stmt.site is not None else max(self.width(a) for a in stmt.args)

    def width(self, atom: Atom) -> int:
        return self.widths.get(id(atom), self.base) if isinstance(atom, Var) else self.base

    def literal(self, lit: Lit, context: int, wrap: bool = False) -> str:
        """A literal that takes the type's precision (wrapped where the context has
        another), or a boolean."""
        if lit.type == BOOL:
            return "TRUE" if lit.text == "1" else "FALSE"
        text = lit.text.replace("E", "e")
        if wrap or context != self.base:
            return f"(! :precision {fpcore_precision(self.base)} {text})"
        return text

    def atom(self, atom: Atom, context: int, indent: str) -> list[Piece]:
        if isinstance(atom, Lit):
            return [self.literal(atom, context)]
        if id(atom) in self.names:
            return [self.names[id(atom)]]
        return self.stmt(self.plan.definition[id(atom)], context, indent)

    def stmt(self, stmt: Eqn | Cond, context: int, indent: str) -> list[Piece]:
        return self.eqn(stmt, context, indent) if isinstance(stmt, Eqn) \
            else self.cond(stmt, indent)

    def eqn(self, eqn: Eqn, context: int, indent: str) -> list[Piece]:
        if eqn.op == "copy":  # FPCore has no identity: the value itself, as C stored it
            return self.atom(eqn.args[0], context, indent)
        spec = eqn.spec
        pieces: list[Piece] = [f"({_SPELLINGS[eqn.op]}"]
        width = context
        if spec.kind == "arith":
            width = self.widths[id(eqn.out)]
            pieces = [f"(! :precision {fpcore_precision(width)} ", *pieces]
        for arg in eqn.args:
            pieces.append(" ")
            if isinstance(arg, Lit) and spec.rounds:  # rounded at the operation's precision
                pieces.append(arg.text.replace("E", "e"))
            elif isinstance(arg, Lit):  # `(- 2.5)` would read back as the literal -2.5
                pieces.append(self.literal(arg, width, wrap=eqn.op == "neg"))
            else:
                pieces.append(partial(self.atom, arg, width, indent))
        pieces.append("))" if spec.kind == "arith" else ")")
        return pieces

    def cond(self, cond: Cond, indent: str) -> list[Piece]:
        inner = _deeper(indent, 4)
        return [f"(! :precision {fpcore_precision(self.base)} (if ",
                partial(self.atom, cond.pred, self.base, indent),
                f"\n{inner}", partial(self.region, cond.then, inner),
                f"\n{inner}", partial(self.region, cond.other, inner), "))"]

    def region(self, region: Region, indent: str, start: int = 0) -> list[Piece]:
        """A region's value from statement `start` on: its bound values in a `let*`, then
        its result, or the first while loop, which writes the rest."""
        inner = _deeper(indent, 7)
        (result,) = region.results
        stmts = region.stmts[start:]
        loop = next((k for k, s in enumerate(stmts) if isinstance(s, While)), None)
        if loop is None:
            body: Piece = partial(self.atom, result, self.base, _deeper(indent, 2))
        else:
            body = partial(self.while_loop, stmts[loop], region, start + loop + 1,
                           _deeper(indent, 2))
            stmts = stmts[:loop]
        bound = [s for s in stmts
                 if _value(s).type != BOOL and id(_value(s)) not in self.plan.inline]
        if not bound:
            return [body]
        pieces: list[Piece] = ["(let* ("]
        for position, stmt in enumerate(bound):
            pieces += [f"\n{inner}" if position else "", "[",
                       partial(self.name, _value(stmt)), " ",
                       partial(self.stmt, stmt, self.base, inner), "]"]
        return [*pieces, f")\n{indent}  ", body, ")"]

    def while_loop(self, loop: While, region: Region, rest: int, indent: str) -> list[Piece]:
        """`(while* test (body values, copies, carried values) rest)` (module docstring)."""
        inner = _deeper(indent, 4)
        names = [self.name(p)[0] for p in loop.body.params]
        for vars_ in (loop.cond.params, loop.outs):
            self.names.update((id(v), name) for v, name in zip(vars_, names, strict=True))
        zero = self.literal(Lit(REAL, "0"), self.base)
        pieces: list[Piece] = [f"(! :precision {fpcore_precision(self.base)} (while* ",
                               partial(self.region, loop.cond, inner), f"\n{inner}("]
        for stmt in loop.body.stmts:
            value = _value(stmt)  # type: ignore[arg-type]
            if value.type != BOOL:
                pieces += ["[", partial(self.name, value), f" {zero} ",
                           partial(self.stmt, stmt, self.base, inner), f"]\n{inner} "]
        carried = {id(p): k for k, p in enumerate(loop.body.params)}
        updates: list[Piece] = []
        for k, result in enumerate(loop.body.results):
            if isinstance(result, Var) and carried.get(id(result), k) != k:
                copy = Var(REAL, (), f"{names[carried[id(result)]]}_old")
                pieces += ["[", partial(self.name, copy), f" {zero} {self.names[id(result)]}]"
                           f"\n{inner} "]
                result = copy
            updates.append(partial(self.atom, result, self.base, inner))
        for k, (name, init, update) in enumerate(zip(names, loop.init, updates, strict=True)):
            pieces += ["" if k == 0 else f"\n{inner} ", f"[{name} ",
                       partial(self.atom, init, self.base, inner), " ", update, "]"]
        return [*pieces, f")\n{inner}", partial(self.region, region, inner, rest), "))"]

    def name(self, var: Var) -> list[Piece]:
        """A fresh name for a bound value, after its hint where it has a usable one."""
        base = var.hint if _NAME.fullmatch(var.hint) else f"t{len(self.names)}"
        name, suffix = base, 1
        while name in self.taken:
            suffix += 1
            name = f"{base}_{suffix}"
        self.taken.add(name)
        self.names[id(var)] = name
        return [name]

    def render(self, region: Region, indent: str) -> str:
        """The text of a region, expanding thunks in order with an explicit stack."""
        out: list[str] = []
        stack: list[Piece] = [partial(self.region, region, indent)]
        while stack:
            piece = stack.pop()
            if isinstance(piece, str):
                out.append(piece)
            else:
                stack.extend(reversed(piece()))
        return "".join(out)


def _pre(kernel: Kernel, names: Sequence[str]) -> str | None:
    """The ranges as a :pre conjunction (an infinite side states no bound); None when no
    argument has a bound. A C `pre` pragma has no FPCore spelling here: refused."""
    if kernel.precondition is not None:
        raise PrecisecError(kernel.precondition.loc, "--emit fpcore cannot express a C pre "
                                                     "pragma; use --emit c")
    bounds = []
    for p, name in zip(kernel.inputs, names, strict=True):
        lo, hi = p.lo[0], p.hi[0]
        sides = [*([repr(lo)] if math.isfinite(lo) else []), name,
                 *([repr(hi)] if math.isfinite(hi) else [])]
        if len(sides) > 1:
            bounds.append(f"(<= {' '.join(sides)})")
    if not bounds:
        return None
    return bounds[0] if len(bounds) == 1 else f"(and {' '.join(bounds)})"


def _header(kernel: Kernel, whiles: Sequence[While]) -> list[str]:
    """The core's first line and properties: the source's where it came from FPCore
    (`:precision` and `:precisec-rmse` state the kernel's), else made from the kernel."""
    names = fpcore_argument_names(kernel)
    kept = [(key, text) for key, text in kernel.properties
            if key.startswith(":") and key not in _REWRITTEN]
    given = dict(kept)
    title = given.get(":name", f'"{kernel.name}"')  # a C identifier needs no escapes
    lines = [f"(FPCore {kernel.name} ({' '.join(names)})", f" :name {title}",
             f" :precision {'binary32' if kernel.precision == 'float' else 'binary64'}"]
    pre = given[":pre"] if ":pre" in given else _pre(kernel, names) if kernel.inputs else None
    if pre is not None:
        lines.append(f" :pre {pre}")
    if kernel.target_rmse is not None:
        lines.append(f" :precisec-{kernel.target_metric} {kernel.target_rmse!r}")
    lines.extend(f" {key} {text}" for key, text in kept if key not in (":name", ":pre"))
    caps = {loop.cap for loop in whiles if loop.stated}
    if len(caps) > 1 or (caps and len(caps) < len({loop.stated for loop in whiles})):
        raise _refuse(whiles[0].loc, "FPCore states one iteration cap for all while loops")
    if caps and ":precisec-cap" not in given:
        lines.append(f" :precisec-cap {caps.pop()}")
    return lines


def emit_fpcore(kernel: Kernel, site_bits: Sequence[int]) -> str:
    """The kernel as an FPCore 2.0 program with site s rounded to site_bits[s] bits."""
    if len(site_bits) != len(kernel.sites):
        raise ValueError(f"{len(site_bits)} precisions for {len(kernel.sites)} sites")
    if kernel.outputs or any(p.shape for p in kernel.inputs) or not kernel.returns:
        raise _refuse(kernel.loc, "FPCore returns one scalar from scalar arguments")
    try:
        plan = _Plan(kernel)
        writer = _Writer(kernel, site_bits, plan)
    except RecursionError as err:
        raise _refuse(kernel.loc, "branches nested too deeply") from err
    body = writer.render(kernel.body, " ")
    return "\n".join([*_header(kernel, plan.whiles), f" {body})"]) + "\n"
