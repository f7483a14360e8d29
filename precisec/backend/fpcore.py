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
(`precisec.frontend.fpcore.parse_tuned_fpcore` gives back the same precisions). Only the
FPCore subset precisec reads can be written: one returned scalar, scalar inputs, no loops;
anything else is a located refusal.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.fpcore.build import (
    BY_ARITY,
    COMPARISONS,
    deep_recursion,
    fpcore_argument_names,
    fpcore_operator,
)
from precisec.frontend.fpcore.forms import CONSTANT_VALUES, DOUBLE_BITS, NON_REAL_CONSTANTS
from precisec.frontend.fpcore.reader import quote
from precisec.ir.core import BOOL, REAL, Atom, Cond, Eqn, Kernel, Lit, Loop, Region, Var

EXPONENT_BITS = 11
_FPCORE_OPS = {spec.name: spec for spec in BY_ARITY.values()}
_COMPARE_SYMBOLS = {name: symbol for symbol, name in COMPARISONS.items()}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_INDENT = 40
_REWRITTEN = frozenset({":precision", ":precisec-rmse"})


def fpcore_precision(bits: int) -> str:
    """The FPCore precision of a `bits`-bit significand with double's exponent range."""
    return "binary64" if bits == DOUBLE_BITS else f"(float {EXPONENT_BITS} {bits + EXPONENT_BITS})"


def _deeper(indent: str, by: int) -> str:
    """The indentation one level in; it stops growing after MAX_INDENT columns, so deep
    nesting costs linear space."""
    return indent + " " * by if len(indent) < MAX_INDENT else indent


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
        self.count(kernel.body)
        self.plan(kernel.body)

    def count(self, region: Region) -> None:
        for stmt in region.stmts:
            if isinstance(stmt, Loop):
                raise _refuse(stmt.loc, "loops are not supported yet")
            if isinstance(stmt, Eqn):
                if stmt.op not in _FPCORE_OPS and stmt.spec.kind not in ("compare", "logic"):
                    raise _refuse(stmt.loc, f"`{stmt.op}` has no FPCore form")
                self.note(stmt.args, region)
                self.define(stmt.out, stmt, region)
            else:
                if len(stmt.outs) != 1 or stmt.outs[0].type != REAL:
                    raise _refuse(stmt.loc, "a branch must merge exactly one real value")
                self.note((stmt.pred,), region)
                self.count(stmt.then)
                self.count(stmt.other)
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
            out = stmt.out if isinstance(stmt, Eqn) else stmt.outs[0]
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
        self.taken = set(arguments) | CONSTANT_VALUES.keys() | NON_REAL_CONSTANTS.keys()
        self.widths: dict[int, int] = {}
        self.measure(kernel.body)

    def measure(self, region: Region) -> None:
        """The precision of every real value: its site's; an exact operation's widest
        argument's; a merge's widest side's; the type's for literals and inputs."""
        for stmt in region.stmts:
            if isinstance(stmt, Cond):
                self.measure(stmt.then)
                self.measure(stmt.other)
                self.widths[id(stmt.outs[0])] = max(
                    self.width(side.results[0]) for side in (stmt.then, stmt.other))
            elif isinstance(stmt, Eqn) and stmt.out.type == REAL:
                self.widths[id(stmt.out)] = self.site_bits[stmt.site] \
                    if stmt.site is not None else max(self.width(a) for a in stmt.args)

    def width(self, atom: Atom) -> int:
        return self.widths.get(id(atom), self.base) if isinstance(atom, Var) else self.base

    def bind(self, var: Var) -> str:
        """A fresh name for a bound value, after its hint where it has a usable one."""
        base = var.hint if _NAME.fullmatch(var.hint) else f"t{len(self.names)}"
        name, suffix = base, 1
        while name in self.taken:
            suffix += 1
            name = f"{base}_{suffix}"
        self.taken.add(name)
        self.names[id(var)] = name
        return name

    def literal(self, lit: Lit, context: int, wrap: bool = False) -> str:
        """A literal that takes the type's precision (wrapped where the context has
        another), or a boolean."""
        if lit.type == BOOL:
            return "TRUE" if lit.text == "1" else "FALSE"
        text = lit.text.replace("E", "e")
        if wrap or context != self.base:
            return f"(! :precision {fpcore_precision(self.base)} {text})"
        return text

    def atom(self, atom: Atom, context: int, indent: str) -> str:
        if isinstance(atom, Lit):
            return self.literal(atom, context)
        if id(atom) in self.names:
            return self.names[id(atom)]
        stmt = self.plan.definition[id(atom)]
        return self.eqn(stmt, context, indent) if isinstance(stmt, Eqn) \
            else self.cond(stmt, indent)

    def eqn(self, eqn: Eqn, context: int, indent: str) -> str:
        spec = eqn.spec
        if spec.kind in ("compare", "logic"):
            symbol = _COMPARE_SYMBOLS.get(eqn.op, eqn.op)
            args = "".join(f" {self.atom(a, context, indent)}" for a in eqn.args)
            return f"({symbol}{args})"
        width = self.widths[id(eqn.out)]
        parts = []
        for arg in eqn.args:
            if isinstance(arg, Lit) and spec.rounds:  # rounded at the operation's precision
                parts.append(arg.text.replace("E", "e"))
            elif isinstance(arg, Lit):  # `(- 2.5)` would read back as the literal -2.5
                parts.append(self.literal(arg, width, wrap=eqn.op == "neg"))
            else:
                parts.append(self.atom(arg, width, indent))
        args = "".join(f" {part}" for part in parts)
        return f"(! :precision {fpcore_precision(width)} ({fpcore_operator(spec)}{args}))"

    def cond(self, cond: Cond, indent: str) -> str:
        inner = _deeper(indent, 4)
        pred = self.atom(cond.pred, self.base, indent)
        sides = [self.region(side, inner) for side in (cond.then, cond.other)]
        return (f"(! :precision {fpcore_precision(self.base)} (if {pred}\n"
                f"{inner}{sides[0]}\n{inner}{sides[1]}))")

    def region(self, region: Region, indent: str) -> str:
        """A region's value: its bound values in a `let*`, then its result."""
        bindings = []
        inner = _deeper(indent, 7)
        for stmt in region.stmts:
            out = stmt.out if isinstance(stmt, Eqn) else stmt.outs[0]  # type: ignore[union-attr]
            if out.type == BOOL or id(out) in self.plan.inline:
                continue
            value = self.eqn(stmt, self.base, inner) if isinstance(stmt, Eqn) \
                else self.cond(stmt, inner)  # type: ignore[arg-type]
            bindings.append(f"[{self.bind(out)} {value}]")
        (result,) = region.results
        body = self.atom(result, self.base, _deeper(indent, 2))
        if not bindings:
            return body
        joined = f"\n{inner}".join(bindings)
        return f"(let* ({joined})\n{indent}  {body})"


def _pre(kernel: Kernel, names: Sequence[str]) -> str:
    bounds = [f"(<= {p.lo[0]!r} {name} {p.hi[0]!r})" for p, name in zip(kernel.inputs, names,
                                                                         strict=True)]
    return bounds[0] if len(bounds) == 1 else f"(and {' '.join(bounds)})"


def _header(kernel: Kernel) -> list[str]:
    """The core's first line and properties: the source's where it came from FPCore
    (`:precision` and `:precisec-rmse` state the kernel's), else made from the kernel."""
    names = fpcore_argument_names(kernel)
    kept = [(key, text) for key, text in kernel.properties
            if key.startswith(":") and key not in _REWRITTEN]
    given = dict(kept)
    lines = [f"(FPCore {kernel.name} ({' '.join(names)})",
             f" :name {given.get(':name', quote(kernel.name))}",
             f" :precision {'binary32' if kernel.precision == 'float' else 'binary64'}"]
    if kernel.inputs:
        lines.append(f" :pre {given.get(':pre', _pre(kernel, names))}")
    if kernel.target_rmse is not None:
        lines.append(f" :precisec-rmse {kernel.target_rmse!r}")
    lines.extend(f" {key} {text}" for key, text in kept if key not in (":name", ":pre"))
    return lines


def emit_fpcore(kernel: Kernel, site_bits: Sequence[int]) -> str:
    """The kernel as an FPCore 2.0 program with site s rounded to site_bits[s] bits."""
    if len(site_bits) != len(kernel.sites):
        raise ValueError(f"{len(site_bits)} precisions for {len(kernel.sites)} sites")
    if kernel.outputs or any(p.shape for p in kernel.inputs) or not kernel.returns:
        raise _refuse(kernel.loc, "FPCore returns one scalar from scalar arguments")
    with deep_recursion():
        writer = _Writer(kernel, site_bits, _Plan(kernel))
        body = writer.region(kernel.body, " ")
    return "\n".join([*_header(kernel), f" {body})"]) + "\n"
