"""FPCore bodies to the IR, with `precisec.ir.builder.Builder`.

Operations are emitted in evaluation order (arguments left to right, `let` bindings
before the body), so each rounding operation is a site numbered in source order and
located at its opening parenthesis. `(if c a b)` becomes a `Cond` whose sides are the two
branches' regions; its condition is built from comparisons (a variadic comparison chains
into `and`: `(< a b c)` is a<b and b<c; `(!= a b c)` says the values are pairwise
distinct), `and`, `or`, `not`, `TRUE` and `FALSE`, and a condition that is constant
picks its side statically (no branch). Literals are `Lit`s; the interpreters give them the
precision the IR's literal rule says (docs/method.md §1).

In `tuned` mode (the emitter's output read back) every rounding operation also records
the precision of its annotation context (`precisec.frontend.fpcore.forms.precision_bits`).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from fractions import Fraction
from itertools import pairwise

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.fpcore.forms import (
    CONSTANT_VALUES,
    DOUBLE_BITS,
    NON_REAL_CONSTANTS,
    Core,
    Precision,
    annotation,
    constant_text,
    parse_arguments,
    precision_bits,
)
from precisec.frontend.fpcore.names import argument_identifiers
from precisec.frontend.fpcore.pre import TARGET_PROPERTIES, domain, target, unwrap_let
from precisec.frontend.fpcore.reader import (
    MAX_EXPONENT,
    Datum,
    Number,
    SList,
    String,
    Symbol,
    decimal_text,
    head,
    render,
    show,
)
from precisec.ir.builder import Builder
from precisec.ir.check import verify
from precisec.ir.core import BOOL, REAL, Atom, Eqn, Input, Kernel, Lit, Output, Region, Var
from precisec.ir.prune import prune
from precisec.ops import ARITH_UNARY, FPCORE_OPERATIONS, OpSpec

_NEGATION = ARITH_UNARY["-"]
_BY_ARITY: dict[tuple[str, int], OpSpec] = {
    (spec.fpcore, spec.arity): spec for spec in FPCORE_OPERATIONS.values()
    if spec.kind == "arith"}
_BY_ARITY.setdefault(("-", 1), _NEGATION)
_COMPARISONS = {spec.fpcore: spec.name for spec in FPCORE_OPERATIONS.values()
                if spec.kind == "compare"}
_BOOLEANS = frozenset({"and", "or", "not"})

ARGUMENT_NAMES_KEY = "fpcore.arguments"
"""Kernel property: the FPCore argument names, space-separated, in parameter order (the
parameters themselves have C names, `precisec.frontend.fpcore.names`)."""

_FORMS = {
    "for": "`for` loops are not supported",
    "for*": "`for*` loops are not supported",
    "tensor": "`tensor` (arrays) is not supported",
    "tensor*": "`tensor*` (arrays) is not supported",
    "array": "`array` is only supported as the FPCore's result (its elements are the "
             "results); arrays as values are not supported",
    "ref": "`ref` (array indexing) is not supported",
    "dim": "`dim` (array dimensions) is not supported",
    "size": "`size` (array dimensions) is not supported",
    "cast": "`cast` is not supported",
    "#": "`#` (integer precision) is not supported",
}
_CONDITION_HINT = "use comparisons (< <= > >= == !=), and, or, not, TRUE, FALSE"
MAX_DEPTH = 20_000
"""Python frames allowed while building (a 500-deep expression needs about 1,500)."""

Scope = Mapping[str, Atom]

MAXERR_PROPERTY = ":precisec-maxerr"  # the worst-case target (docs/method.md §9)
CAP_PROPERTY = ":precisec-cap"  # every while loop's stated iteration cap (docs/method.md §1)


def _hint(name: str) -> str:
    """A let-bound name as a value hint (hints end up in generated C names)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


class BodyBuilder:
    """Emits the IR of an FPCore body while walking it."""

    def __init__(self, tuned: bool, cap: int | None = None) -> None:
        self.tuned = tuned
        self.cap = cap  # the stated cap of every while loop (None: the default)
        self.builder = Builder()
        self.site_bits: list[int] = []

    def constant(self, datum: Datum, scope: Scope) -> str | None:
        """Decimal text if `datum` is a literal number or an (unshadowed) FPCore constant."""
        if isinstance(datum, Number):
            return datum.text
        if isinstance(datum, Symbol) and datum.name in CONSTANT_VALUES \
                and datum.name not in scope:
            return constant_text(datum.name)
        if head(datum) == "digits":
            return self.digits(datum)
        return None

    @staticmethod
    def digits(datum: Datum) -> str:
        """`(digits m e b)`: the exact number m × b^e."""
        assert isinstance(datum, SList)
        parts = datum.items[1:]
        if len(parts) != 3 or not all(isinstance(p, Number) and p.value.denominator == 1
                                      for p in parts):
            raise PrecisecError(datum.loc, "`digits` takes three integers (digits m e b)")
        mantissa, exponent, base = (int(p.value) for p in parts if isinstance(p, Number))
        if base < 2:
            raise PrecisecError(datum.loc, "`digits` needs a base of at least 2")
        if abs(exponent) * math.log10(base) > MAX_EXPONENT:
            raise PrecisecError(datum.loc, f"`digits` number is out of range (beyond "
                                           f"1e±{MAX_EXPONENT})")
        return decimal_text(mantissa * Fraction(base) ** exponent)

    def expression(self, datum: Datum, scope: Scope, context: Precision,
                   hint: str = "") -> Atom:
        """The value of a real expression; `hint` names the value it computes."""
        if isinstance(datum, Symbol):
            return self.symbol(datum, scope)
        text = self.constant(datum, scope)
        if text is not None:
            return Lit.real(text)
        if isinstance(datum, String):
            raise PrecisecError(datum.loc, "a string is not a numeric expression")
        assert isinstance(datum, SList)
        if not datum.items:
            raise PrecisecError(datum.loc, "empty expression `()`")
        first = datum.items[0]
        if not isinstance(first, Symbol):
            raise PrecisecError(datum.loc, f"expected an operation, got `{show(first)}`")
        name, args = first.name, datum.items[1:]
        if name in ("let", "let*"):
            return self.let(datum, scope, context, sequential=name == "let*", hint=hint)
        if name == "!":
            if not args:
                raise PrecisecError(datum.loc, "`!` annotation without an expression")
            inner = annotation(args[:-1], context, self.tuned, "an `!` annotation")
            return self.expression(args[-1], scope, inner, hint)
        if name in ("while", "while*"):
            return self.while_loop(datum, args, scope, context, sequential=name == "while*",
                                   hint=hint)
        if name in _FORMS:
            raise PrecisecError(datum.loc, _FORMS[name])
        if name == "if":
            return self.branch(datum, args, scope, context, hint)
        if name in _COMPARISONS:
            raise PrecisecError(datum.loc, f"comparison `{name}` is only supported in :pre "
                                           "and in `if` conditions")
        if name in _BOOLEANS:
            raise PrecisecError(datum.loc, f"boolean `{name}` is only supported in :pre and "
                                           "in `if` conditions")
        return self.operation(datum, name, args, scope, context, hint)

    def symbol(self, datum: Symbol, scope: Scope) -> Atom:
        if datum.name in scope:
            return scope[datum.name]
        if datum.name in CONSTANT_VALUES:
            return Lit.real(constant_text(datum.name))
        if datum.name in NON_REAL_CONSTANTS:
            raise PrecisecError(datum.loc, f"constant `{datum.name}` "
                                           f"{NON_REAL_CONSTANTS[datum.name]}; not supported")
        raise PrecisecError(datum.loc, f"unknown variable `{datum.name}`")

    def operation(self, datum: SList, name: str, args: Sequence[Datum], scope: Scope,
                  context: Precision, hint: str) -> Atom:
        spec = _BY_ARITY.get((name, len(args)))
        if spec is None:
            arities = sorted(a for (n, a) in _BY_ARITY if n == name)
            if not arities:
                raise PrecisecError(datum.loc, f"unknown operation `{name}` (not in "
                                               "precisec's operation table)")
            counts = " or ".join(str(a) for a in arities)
            raise PrecisecError(datum.loc, f"`{name}` takes {counts} argument(s), "
                                           f"got {len(args)}")
        if spec.name == _NEGATION.name:
            text = self.constant(args[0], scope)
            if text is not None:
                return Lit.real(text[1:] if text.startswith("-") else f"-{text}")
        values = [self.expression(a, scope, context) for a in args]
        if self.tuned and spec.rounds:
            if context is None:
                raise PrecisecError(datum.loc, "no precision for this operation")
            self.site_bits.append(context)
        return self.builder.op(spec.name, values, datum.loc, hint)

    def let(self, datum: SList, scope: Scope, context: Precision, sequential: bool,
            hint: str) -> Atom:
        inner = self.let_scope(datum, scope, context, sequential)
        return self.expression(datum.items[2], inner, context, hint)

    def let_scope(self, datum: SList, scope: Scope, context: Precision,
                  sequential: bool) -> dict[str, Atom]:
        """The scope a `let`/`let*` form's body sees (its bindings built)."""
        form = show(datum.items[0])
        if len(datum.items) != 3 or not isinstance(datum.items[1], SList):
            raise PrecisecError(datum.loc, f"`{form}` needs a binding list and a body: "
                                           f"({form} ([name expr] ...) body)")
        inner = dict(scope)
        bound: set[str] = set()
        for binding in datum.items[1].items:
            if not (isinstance(binding, SList) and len(binding.items) == 2
                    and isinstance(binding.items[0], Symbol)):
                raise PrecisecError(binding.loc, f"malformed `{form}` binding "
                                                 f"`{show(binding)}`; expected [name expr]")
            name = binding.items[0].name
            if name in bound and not sequential:
                raise PrecisecError(binding.loc, f"`{name}` is bound twice in one `let`")
            bound.add(name)
            inner[name] = self.expression(binding.items[1], inner if sequential else scope,
                                          context, _hint(name))
        return inner

    # -- loops ---------------------------------------------------------------------------

    def while_loop(self, datum: SList, args: Sequence[Datum], scope: Scope,
                   context: Precision, sequential: bool, hint: str) -> Atom:
        """`(while cond ([x init update] ...) body)`: the body's value after the loop."""
        final = self.while_scope(datum, args, scope, context, sequential)
        return self.expression(args[2], final, context, hint)

    def while_scope(self, datum: SList, args: Sequence[Datum], scope: Scope,
                    context: Precision, sequential: bool) -> dict[str, Atom]:
        """`(while cond ([x init update] ...) body)`: a `While` carrying the bound values,
        and the scope its body sees (the names bound to their final values).
        `while` computes the initial values and then each round of updates in parallel
        (every update reads the previous round's values), `while*` in sequence (each
        reads the ones bound before it), as the FPCore standard says; the condition and
        the body read the carried values."""
        form = "while*" if sequential else "while"
        if len(args) != 3 or not isinstance(args[1], SList):
            raise PrecisecError(datum.loc, f"`{form}` needs a condition, a binding list and a "
                                           f"body: ({form} cond ([name init update] ...) body)")
        bindings: list[tuple[str, Datum, Datum]] = []
        for binding in args[1].items:
            if not (isinstance(binding, SList) and len(binding.items) == 3
                    and isinstance(binding.items[0], Symbol)):
                raise PrecisecError(binding.loc, f"malformed `{form}` binding "
                                                 f"`{show(binding)}`; expected [name init update]")
            name = binding.items[0].name
            if any(name == bound for bound, _, _ in bindings):
                raise PrecisecError(binding.loc, f"`{name}` is bound twice in one `{form}`")
            bindings.append((name, binding.items[1], binding.items[2]))
        if not bindings:
            raise PrecisecError(args[1].loc, f"`{form}` binds no variable")
        inner = dict(scope)
        init = []
        for name, start, _ in bindings:
            value = self.expression(start, inner if sequential else scope, context, _hint(name))
            init.append(value)
            inner[name] = value

        def carried() -> tuple[list[Var], dict[str, Atom]]:
            params = [Var(REAL, (), _hint(name)) for name, _, _ in bindings]
            return params, {**scope, **{n: v for (n, _, _), v in zip(bindings, params,
                                                                      strict=True)}}

        params, inner = carried()
        self.builder.push()
        test = self.condition(args[0], inner, context)
        test_atom = Lit(BOOL, "1" if test else "0") if isinstance(test, bool) else test
        cond = self.builder.pop(params, (test_atom,))
        params, inner = carried()
        self.builder.push()
        updates = []
        for name, _, update in bindings:
            value = self.expression(update, inner, context, _hint(name))
            updates.append(value)
            if sequential:
                inner[name] = value
        body = self.builder.pop(params, updates)
        outs = self.builder.while_loop(init, cond, body, datum.loc, self.cap)
        return {**scope, **{n: v for (n, _, _), v in zip(bindings, outs, strict=True)}}

    def results(self, datum: Datum, scope: Scope, context: Precision) -> list[Atom]:
        """The FPCore's results: one value, or the elements of an `(array e ...)` in its
        result position (the body itself, or the body of a `let`, `let*`, `while`,
        `while*` or `!` there), which become the kernel's output array."""
        name = head(datum)
        if isinstance(datum, SList) and name == "array":
            if len(datum.items) < 2:
                raise PrecisecError(datum.loc, "`array` needs at least one element")
            return [self.expression(e, scope, context) for e in datum.items[1:]]
        if isinstance(datum, SList) and name in ("let", "let*") and len(datum.items) == 3:
            inner = self.let_scope(datum, scope, context, sequential=name == "let*")
            return self.results(datum.items[2], inner, context)
        if isinstance(datum, SList) and name in ("while", "while*") and len(datum.items) == 4:
            final = self.while_scope(datum, datum.items[1:], scope, context,
                                     sequential=name == "while*")
            return self.results(datum.items[3], final, context)
        if isinstance(datum, SList) and name == "!" and len(datum.items) >= 2:
            inner = annotation(datum.items[1:-1], context, self.tuned, "an `!` annotation")
            return self.results(datum.items[-1], scope, inner)
        return [self.expression(datum, scope, context)]

    # -- branches ------------------------------------------------------------------------

    def branch(self, datum: SList, args: Sequence[Datum], scope: Scope, context: Precision,
               hint: str) -> Atom:
        """`(if cond then else)`: a `Cond` numbered when its condition has been computed;
        a constant condition picks its side."""
        if len(args) != 3:
            raise PrecisecError(datum.loc, f"`if` takes a condition and two expressions "
                                           f"(if cond then else), got {len(args)} argument(s)")
        cond = self.condition(args[0], scope, context)
        if isinstance(cond, bool):
            return self.expression(args[1] if cond else args[2], scope, context, hint)
        number = self.builder.new_branch()
        sides = []
        for side in args[1:]:
            self.builder.push()
            value = self.expression(side, scope, context, hint)
            sides.append(self.builder.pop((), (value,)))
        (merged,) = self.builder.cond(cond, sides[0], sides[1], datum.loc, (hint,), number)
        return merged

    def condition(self, datum: Datum, scope: Scope, context: Precision) -> Atom | bool:
        """A boolean expression: a Python bool when constant (TRUE, FALSE and what they
        decide), else a boolean value."""
        if isinstance(datum, Symbol) and datum.name in ("TRUE", "FALSE") \
                and datum.name not in scope:
            return datum.name == "TRUE"
        name = head(datum)
        if name == "!" and isinstance(datum, SList) and len(datum.items) >= 2:
            inner = annotation(datum.items[1:-1], context, self.tuned, "an `!` annotation")
            return self.condition(datum.items[-1], scope, inner)
        if name in ("let", "let*") and isinstance(datum, SList):
            bound = self.let_scope(datum, scope, context, sequential=name == "let*")
            return self.condition(datum.items[2], bound, context)
        if not isinstance(datum, SList) or name not in _COMPARISONS.keys() | _BOOLEANS:
            raise PrecisecError(datum.loc, f"`{show(datum)}` is not a supported condition; "
                                           f"{_CONDITION_HINT}")
        args = datum.items[1:]
        if name == "not":
            if len(args) != 1:
                raise PrecisecError(datum.loc, f"`not` takes 1 argument, got {len(args)}")
            term = self.condition(args[0], scope, context)
            if isinstance(term, bool):
                return not term
            return self.builder.op("not", (term,), datum.loc)
        if name in ("and", "or"):
            return self.junction(datum.loc, name, args, scope, context)
        if len(args) < 2:
            raise PrecisecError(datum.loc, f"comparison `{name}` needs two operands or more")
        values = [self.expression(a, scope, context) for a in args]
        pairs = [(a, b) for k, a in enumerate(values) for b in values[k + 1:]] \
            if name == "!=" else list(pairwise(values))
        terms = [self.builder.op(_COMPARISONS[name], pair, datum.loc) for pair in pairs]
        return self.chain("and", terms, datum.loc)

    def junction(self, loc: SourceLoc, name: str, args: Sequence[Datum], scope: Scope,
                 context: Precision) -> Atom | bool:
        """`and`/`or`: constant terms drop out or decide the whole (left to right)."""
        absorbing = name == "or"
        terms: list[Atom] = []
        for arg in args:
            term = self.condition(arg, scope, context)
            if isinstance(term, bool):
                if term == absorbing:
                    return absorbing
                continue
            terms.append(term)
        if not terms:
            return not absorbing
        return self.chain(name, terms, loc)

    def chain(self, name: str, terms: Sequence[Atom], loc: SourceLoc) -> Atom:
        """Left-nested `name` (and/or) of the terms."""
        result = terms[0]
        for term in terms[1:]:
            result = self.builder.op(name, (result, term), loc)
        return result


@contextmanager
def _deep_recursion() -> Iterator[None]:
    """Room for deeply nested expressions (the walk and `verify` recurse once per
    nesting level)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, MAX_DEPTH))
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def build_kernel(core: Core, tuned: bool = False) -> tuple[Kernel, list[int]]:
    """The IR of one FPCore and, when `tuned`, the bits of each site (else empty)."""
    top = core.prop(":precision")
    # A binary32 FPCore is a float kernel (float inputs and result, single-precision
    # baseline); its operations are tuned like any other, so they are built at no fixed
    # precision of their own.
    float_kernel = isinstance(top, Symbol) and top.name == "binary32"
    if float_kernel and not tuned:
        context: Precision = DOUBLE_BITS
    else:
        context = precision_bits(top, tuned, top_level=True) if top is not None \
            else DOUBLE_BITS
    arguments = parse_arguments(core, tuned)
    c_names = argument_identifiers([a.name for a in arguments])
    body = BodyBuilder(tuned, stated_cap(core.prop(CAP_PROPERTY)))
    params = [Var(REAL, (), c_name) for c_name in c_names]
    scope = {a.name: var for a, var in zip(arguments, params, strict=True)}
    with _deep_recursion():
        try:
            results = body.results(core.body, scope, context)
            pre = core.prop(":pre")
            bounds, precondition = domain(
                _precondition_region(core, [a.name for a in arguments], context),
                None if pre is None else pre.loc, "" if pre is None else render(pre),
                [a.name for a in arguments], "float" if float_kernel else "double")
            inputs = [Input(c_name, (), (lo,), (hi,), a.loc)
                      for a, c_name, (lo, hi) in zip(arguments, c_names, bounds, strict=True)]
            goal = target({key: core.prop(key) for key in TARGET_PROPERTIES})
            worst = target({MAXERR_PROPERTY: core.prop(MAXERR_PROPERTY)},
                           {MAXERR_PROPERTY: "maxerr"})
            outputs, values, final = _output_array(body.builder, results, c_names, core.loc)
            kernel = body.builder.kernel(
                core.kernel_name, core.loc, [*inputs, *outputs], [*params, *values],
                len(results) == 1, final,
                precision="float" if float_kernel else "double",
                target_rmse=None if goal is None else goal[1],
                properties=_kernel_properties(core, [a.name for a in arguments]),
                target_metric="rmse" if goal is None else goal[0],
                precondition=precondition)
            kernel = replace(kernel, target_maxerr=None if worst is None else worst[1])
            kernel, kept = prune(kernel)
            bits = [body.site_bits[k] for k in kept] if body.site_bits else []
            return verify(kernel), bits
        except RecursionError as err:
            raise PrecisecError(core.loc, "expression nested too deeply") from err


def stated_cap(value: Datum | None) -> int | None:
    """The `:precisec-cap N` property: a positive integer, or None without one."""
    if value is None:
        return None
    if not (isinstance(value, Number) and value.value.denominator == 1 and value.value >= 1):
        raise PrecisecError(value.loc, f"`{CAP_PROPERTY}` must be a positive integer (the "
                                       f"iteration cap of every while loop), got "
                                       f"`{show(value)}`")
    return int(value.value)


def _output_array(builder: Builder, results: list[Atom], taken: Sequence[str],
                  loc: SourceLoc) -> tuple[list[Output], list[Var], tuple[Atom, ...]]:
    """One result is returned; several (an `(array e ...)` result) are stored into an
    output array `out` (`out_2`, … if an argument has that name), as a C kernel writes
    its results: the output parameters, their initial values, the kernel's results."""
    if len(results) == 1:
        return [], [], (results[0],)
    name = next(n for n in ("out", *(f"out_{k}" for k in range(2, len(taken) + 3)))
                if n not in taken)
    start = Var(REAL, (len(results),), name)
    array: Atom = start
    for k, value in enumerate(results):
        array = builder.op("store", [array, Lit.int(k), value], loc, name)
    return [Output(name, (len(results),), loc)], [start], (array,)


def _precondition_region(core: Core, names: Sequence[str], context: Precision
                         ) -> Region | None:
    """`:pre` as a boolean region over one fresh value per argument, built apart from the
    body (its operations are no sites). Leading `let`/`let*` forms bind values it uses."""
    pre = core.prop(":pre")
    if pre is None:
        return None
    body = BodyBuilder(tuned=False)
    params = [Var(REAL, (), _hint(name)) for name in names]
    scope: dict[str, Atom] = dict(zip(names, params, strict=True))
    while (form := unwrap_let(pre)) is not None:
        kind, bindings, pre = form
        inner = dict(scope)
        bound: set[str] = set()
        for binding in bindings:
            if not (isinstance(binding, SList) and len(binding.items) == 2
                    and isinstance(binding.items[0], Symbol)):
                raise PrecisecError(binding.loc, f"malformed `{kind}` binding "
                                                 f"`{show(binding)}`; expected [name expr]")
            name = binding.items[0].name
            if name in bound and kind == "let":
                raise PrecisecError(binding.loc, f"`{name}` is bound twice in one `let`")
            bound.add(name)
            inner[name] = body.expression(binding.items[1], inner if kind == "let*" else scope,
                                          context)
        scope = inner
    condition = body.condition(pre, scope, context)
    if condition is False:
        raise PrecisecError(pre.loc, f"`{show(pre)}` in :pre is always false")
    if condition is True:
        return None
    region = body.builder.pop(params, (condition,))
    for stmt in region.stmts:
        if not isinstance(stmt, Eqn):
            raise PrecisecError(stmt.loc, "a precondition may not branch or loop")
    return region


def _kernel_properties(core: Core, names: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """What the FPCore emitter reuses: the argument names, every property as text."""
    return ((ARGUMENT_NAMES_KEY, " ".join(names)),
            *((key.name, render(value)) for key, value in core.order))
