"""The MPFR backend: the tuned kernel as C with one `mpfr_t` per value (docs/method.md
§5).

The file defines the kernel's own function (same name, parameter order, `const` input
arrays, output arrays, double or float). Its structure is the IR's, written by the shared
walker (`precisec.backend.cwalk`) in the MPFR dialect (`MpfrDialect` below):
loops stay loops, branches stay branches. Every `mpfr_t` is initialised once at the top,
before any loop, and cleared at the end:

* a site's value at the site's bits, with a comment `/* line:col op, N bits */` (what
  `precisec check` reads the mean bits from);
* inputs exactly: `mpfr_set_d` at 53 bits (`mpfr_set_flt` at 24 for a float kernel);
* a literal from its decimal text, set once, at its consuming site's bits, or at the
  kernel type's precision where no rounding operation consumes it;
* merged, carried and array values, and exact operations, as wide as anything they
  receive, so copies never round;
* results through `mpfr_get_d` (`mpfr_get_flt`) to nearest; output arrays written back.

Every branch goes through `PRECISEC_BRANCH(b, cond)`, `(cond)` unless the verification
build defines it (`precisec.toolchain.run_tuned`).

The dialect (`MpfrDialect`) also serves the compiled evaluator
(`precisec.semantics.compiled`), which reads the precisions from a table at run time, so
one build serves every allocation, and calls two functions it defines:
`pc_arg(scratch, v)` rounds an argument wider than its operation first (the native
backend's casts, `interpret`'s round_arguments), `pc_check(v, k)` reports a non-finite
result of equation k in the exact reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from precisec.backend.cwalk import Walker, flat_pointer
from precisec.backend.storage import Key, Precisions, array_groups, compute_widths
from precisec.ir.core import Atom, Eqn, Input, Kernel, Lit, Param, Var
from precisec.ops import OPS
from precisec.toolchain import signature


def _call(function: str) -> Callable[[str, list[str]], str]:
    return lambda out, args: f"{function}({out}, {', '.join(args)}, MPFR_RNDN);"


# Real operations: rule(out, args) -> C statement.
RULES: dict[str, Callable[[str, list[str]], str]] = {
    **{name: _call(spec.mpfr) for name, spec in OPS.items()
       if spec.kind == "arith" and spec.mpfr},
    "itof": lambda out, args: f"mpfr_set_si({out}, {args[0]}, MPFR_RNDN);",
}

# Comparisons of reals: rule(a, b) -> C int expression. `ne` is the negation of equality
# (true for NaN, as in C and Python), not mpfr_lessgreater_p.
COMPARE: dict[str, Callable[[str, str], str]] = {
    **{name: (lambda f: lambda a, b: f"{f}({a}, {b})")(spec.mpfr) for name, spec in OPS.items()
       if spec.kind == "compare" and name != "ne"},
    "ne": lambda a, b: f"!mpfr_equal_p({a}, {b})",
}


@dataclass(frozen=True)
class Slot:
    """One mpfr_t (size 0) or array of them, and the key of its precision; `name` is its
    C expression (an element of the pool, if the dialect has one)."""

    name: str
    key: Key
    size: int = 0
    pooled: bool = False


class MpfrDialect:
    """Real values as mpfr_t slots; `note` writes a site's comment tail."""

    def __init__(self, note: Callable[[int], str], *, pool: str | None = None,
                 round_arguments: bool = False, check_finite: bool = False) -> None:
        self.note = note
        self.pool = pool
        self.pooled = 0
        self.round_arguments = round_arguments
        self.check_finite = check_finite
        self.slots: list[Slot] = []
        self.literals: dict[tuple[str, int | None], str] = {}

    def slot(self, name: str, key: Key, size: int = 0) -> str:
        """A new slot; its C expression: `name`, or the next element of the pool (one
        global array instead of thousands of variables compiles much faster)."""
        if self.pool and not size:
            name = f"{self.pool}[{self.pooled}]"
            self.pooled += 1
        self.slots.append(Slot(name, key, size, self.pool is not None and not size))
        return name

    def value(self, walker: Walker, var: Var) -> str:
        """A slot for a value at its own width."""
        name = self.slot(walker.define(var), ("var", id(var)))
        walker.names[id(var)] = name
        return name

    def literal(self, text: str, site: int | None) -> str:
        """A literal's slot: at the site's precision, or the literal precision (site None)."""
        if (text, site) not in self.literals:
            key = ("site", site) if site is not None else ("literal", 0)
            self.literals[text, site] = self.slot(f"pc_c{len(self.literals)}", key)
        return self.literals[text, site]

    def literal_texts(self) -> list[tuple[str, str]]:
        """(slot, decimal text) of every literal, to set once after initialisation."""
        return [(name, text) for (text, _), name in self.literals.items()]

    def ref(self, walker: Walker, atom: Atom, site: int | None = None) -> str:
        if isinstance(atom, Lit):
            return self.literal(atom.text, site)
        return walker.name(atom)

    def argument(self, walker: Walker, eqn: Eqn, position: int, atom: Atom) -> str:
        if eqn.site is None or isinstance(atom, Lit) or not self.round_arguments:
            return self.ref(walker, atom, eqn.site)
        scratch = self.slot(walker.fresh(f"round{position}"), ("site", eqn.site))
        return f"pc_arg({scratch}, {walker.name(atom)})"

    # -- the walker's Dialect protocol ------------------------------------------------------
    def arith(self, walker: Walker, eqn: Eqn) -> None:
        if eqn.op == "itof":
            args = [walker.int_ref(eqn.args[0])]
        else:
            args = [self.argument(walker, eqn, k, a) for k, a in enumerate(eqn.args)]
        out = self.value(walker, eqn.out)
        walker.emit(RULES[eqn.op](out, args))
        if self.check_finite and eqn.op != "itof":
            walker.emit(f"pc_check({out}, {walker.number(eqn)});")

    def compare(self, walker: Walker, eqn: Eqn) -> str:
        return COMPARE[eqn.op](*(self.ref(walker, a) for a in eqn.args))

    def load(self, walker: Walker, eqn: Eqn, array: str, index: str) -> None:
        if walker.is_used(eqn.out) and walker.stable(eqn):
            walker.alias(eqn.out, f"{array}[{index}]")
        else:
            walker.emit(f"mpfr_set({self.value(walker, eqn.out)}, {array}[{index}], MPFR_RNDN);")

    def store(self, walker: Walker, eqn: Eqn, array: str, index: str) -> None:
        walker.emit(f"mpfr_set({array}[{index}], {self.ref(walker, eqn.args[-1])}, MPFR_RNDN);")

    def zeros(self, walker: Walker, eqn: Eqn) -> str:
        size = eqn.out.size
        name = self.slot(walker.fresh(eqn.out.hint), ("group", walker.groups[id(eqn.out)]), size)
        walker.emit(f"for (int pc_k = 0; pc_k < {size}; pc_k++) mpfr_set_zero({name}[pc_k], 1);")
        return name

    def declare(self, walker: Walker, var: Var) -> None:
        self.value(walker, var)

    def assign(self, walker: Walker, target: Var, source: Atom) -> None:
        walker.emit(f"mpfr_set({walker.name(target)}, {self.ref(walker, source)}, MPFR_RNDN);")

    def temp(self, walker: Walker, temp: Var, source: Var) -> None:
        name = self.slot(walker.define(temp), ("var", id(source)))
        walker.names[id(temp)] = name
        walker.emit(f"mpfr_set({name}, {walker.name(source)}, MPFR_RNDN);")

    def declarations(self, storage: str = "") -> list[str]:
        """`mpfr_t` declarations of the slots, a few names a line."""
        names = [s.name for s in self.slots if not s.size and not s.pooled]
        lines = [f"{storage}mpfr_t {', '.join(names[start:start + 8])};"
                 for start in range(0, len(names), 8)]
        if self.pooled:
            lines.append(f"{storage}mpfr_t {self.pool}[{self.pooled}];")
        return lines + [f"{storage}mpfr_t {s.name}[{s.size}];" for s in self.slots if s.size]

    def initialisations(self, precision: Callable[[Slot], int]) -> list[str]:
        """mpfr_init2 of every slot at `precision(slot)` bits."""
        lines = []
        for slot in self.slots:
            bits = precision(slot)
            if slot.size:
                lines.append(f"for (int pc_k = 0; pc_k < {slot.size}; pc_k++) "
                             f"mpfr_init2({slot.name}[pc_k], {bits});")
            else:
                lines.append(f"mpfr_init2({slot.name}, {bits});")
        return lines

    def clears(self) -> list[str]:
        names = [s.name for s in self.slots if not s.size and not s.pooled]
        lines = [f"mpfr_clears({', '.join(names[start:start + 8])}, (mpfr_ptr) 0);"
                 for start in range(0, len(names), 8)]
        arrays = [(s.name, s.size) for s in self.slots if s.size]
        if self.pooled:
            arrays.append((str(self.pool), self.pooled))
        return lines + [f"for (int pc_k = 0; pc_k < {size}; pc_k++) mpfr_clear({name}[pc_k]);"
                        for name, size in arrays]


BRANCH_GUARD = ("#ifndef PRECISEC_BRANCH", "#define PRECISEC_BRANCH(b, c) (c)", "#endif")


def bind_parameters(walker: Walker, dialect: MpfrDialect, groups: dict[int, int], setter: str,
                    value_of: Callable[[Param, Var, int], str]) -> list[str]:
    """Give each kernel parameter its mpfr_t slot (an array its group's slots) and return
    the prologue that sets them: an input through `setter` from `value_of(param, var,
    column)` (the scalar, or an array's element `pc_k`; `column` is the input's first
    sample column), an output array to zeros."""
    prologue: list[str] = []
    column = 0
    for param, var in zip(walker.kernel.params, walker.kernel.body.params, strict=True):
        kind = "in" if isinstance(param, Input) else "out"
        name = walker.reserve(f"pc_{kind}_{param.name}")
        if not var.shape:
            name = walker.names[id(var)] = dialect.slot(name, ("var", id(var)))
            prologue.append(f"{setter}({name}, {value_of(param, var, column)}, MPFR_RNDN);")
            column += 1
            continue
        walker.storage[groups[id(var)]] = dialect.slot(name, ("group", groups[id(var)]),
                                                       var.size)
        if kind == "in":
            element = f"{setter}({name}[pc_k], {value_of(param, var, column)}, MPFR_RNDN);"
            column += var.size
        else:
            element = f"mpfr_set_zero({name}[pc_k], 1);"
        prologue.append(f"for (int pc_k = 0; pc_k < {var.size}; pc_k++) {element}")
    return prologue


def mpfr_function(kernel: Kernel, site_bits: Sequence[int], declarator: str) -> list[str]:
    """The tuned kernel as one C function in MPFR, declared by `declarator`."""
    bits = [int(b) for b in site_bits]
    rule = Precisions.emulation(kernel, bits)
    rule = Precisions(rule.site_bits, rule.literal_bits, input_bits=kernel.baseline_bits)
    groups = array_groups(kernel)
    widths = compute_widths(kernel, groups, rule)
    dialect = MpfrDialect(lambda site: f"{bits[site]} bits")
    walker = Walker(kernel, dialect, groups)
    ctype = kernel.precision
    suffix = "flt" if ctype == "float" else "d"
    prologue = bind_parameters(
        walker, dialect, groups, f"mpfr_set_{suffix}",
        lambda param, var, _: f"{flat_pointer(param.name, var, ctype, True)}[pc_k]"
        if var.shape else param.name)
    walker.run()
    epilogue: list[str] = []
    results = list(kernel.body.results)
    if kernel.returns:
        value = dialect.ref(walker, results.pop(0))
        epilogue.append(f"{ctype} pc_result = mpfr_get_{suffix}({value}, MPFR_RNDN);")
    for out, result in zip(kernel.outputs, results, strict=True):
        var = kernel.body.params[kernel.params.index(out)]
        epilogue.append(f"for (int pc_k = 0; pc_k < {out.size}; pc_k++) "
                        f"{flat_pointer(out.name, var, ctype, False)}[pc_k] = "
                        f"mpfr_get_{suffix}({walker.array(result)}[pc_k], MPFR_RNDN);")
    sets = [f'mpfr_set_str({name}, "{text}", 10, MPFR_RNDN);'
            for name, text in dialect.literal_texts()]
    inits = dialect.initialisations(lambda slot: widths.bits(slot.key))
    return [declarator, "{",
            *(f"    {line}" for line in (*dialect.declarations(), *inits, *sets, *prologue)),
            *walker.lines,
            *(f"    {line}" for line in (*epilogue, *dialect.clears())),
            *(["    return pc_result;"] if kernel.returns else []), "}", ""]


def emit_mpfr(kernel: Kernel, site_bits: Sequence[int], header_lines: Sequence[str]) -> str:
    """C source of the tuned kernel; `header_lines` go into the leading comment."""
    lines = ["/*", *(f" * {line}".rstrip() for line in header_lines), " */",
             "#include <mpfr.h>", "", *BRANCH_GUARD, "",
             *mpfr_function(kernel, site_bits, signature(kernel))]
    return "\n".join(lines)
