"""Emit a kernel and its precision allocation as FPCore 2.0.

Every operation is wrapped in a precision annotation, `(! :precision P (op ...))`, where P
is `binary64` for 53 bits and otherwise `(float 11 N)` with N = P + 11. FPCore's
`(float E N)` gives the exponent width E and the *total* width N (sign, exponent and the
significand without its leading bit), so `binary64` is `(float 11 64)` and a P-bit
significand with double's exponent range is `(float 11 P+11)`. The exponent width is
double's: precisec's emulation (MPFR) does not model a narrower exponent range, so naming
`binary32` (8 exponent bits) for 24 bits would state an overflow threshold the tuned
kernel does not have.

Rounding operations get their own precision. Exact operations (negation, fabs, fmin,
fmax) are annotated with the precision of their widest argument, as
`precisec.reference.operation_bits` evaluates them, so that they stay exact; a literal is
rounded to the precision of the annotation around it, which is the IR's rule that a
constant is rounded to the precision of the operation consuming it. Values used more than
once (and unused ones) are `let*`-bound, so sharing is kept. `:pre` states the ranges.

Branches (`select`s, whose sides carry guards) are written back as `(if cond then else)`:
comparisons and logic are written inline where a select uses them (the guards, which only
say where a value is used, are rebuilt by the reader), a value bound with `let*` is bound
inside the side of the `if` its guard belongs to, and a constant held as a double (`hold`)
is a literal in a binary64 annotation, which the reader holds again.

`precisec.frontend.fpcore.parse_tuned_fpcore` reads the result back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping

from precisec.errors import PrecisecError
from precisec.frontend.fpcore import DOUBLE_BITS, fpcore_operator
from precisec.ir import Const, Input, Kernel, Op
from precisec.reference import operation_bits

EXPONENT_BITS = 11


def fpcore_precision(bits: int) -> str:
    """The FPCore precision of a `bits`-bit significand with double's exponent range."""
    return "binary64" if bits == DOUBLE_BITS else f"(float {EXPONENT_BITS} {bits + EXPONENT_BITS})"


def _number(text: str) -> str:
    """An IR constant's decimal text as an FPCore decnum."""
    return text.replace("E", "e")


def _string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _pre(kernel: Kernel) -> str | None:
    bounds = [f"(<= {node.lo!r} {node.name} {node.hi!r})"
              for node in (kernel.input(i) for i in range(len(kernel.inputs)))]
    if not bounds:
        return None
    return bounds[0] if len(bounds) == 1 else f"(and {' '.join(bounds)})"


BOOLEAN_KINDS = frozenset({"compare", "logic"})


def _emitted(kernel: Kernel) -> set[int]:
    """Operations written out: every value, and the booleans some select uses (the
    others are guards, which the reader rebuilds)."""
    emitted: set[int] = set()
    for index in range(len(kernel.nodes) - 1, -1, -1):
        node = kernel.nodes[index]
        if not isinstance(node, Op):
            continue
        if node.spec.kind in BOOLEAN_KINDS and index not in emitted:
            continue
        emitted.add(index)
        emitted.update(a for a in node.args if isinstance(kernel.nodes[a], Op))
    return emitted


def _arms(kernel: Kernel) -> dict[int, tuple[int, int]]:
    """Guard node -> (select, argument position) of the `if` side it guards."""
    known = {(n.op, n.args): i for i, n in enumerate(kernel.nodes) if isinstance(n, Op)}
    arms: dict[int, tuple[int, int]] = {}
    for index, node in enumerate(kernel.nodes):
        if not (isinstance(node, Op) and node.op == "select"):
            continue
        cond = node.args[0]
        negation = known.get(("not", (cond,)))
        for position, term in ((1, cond), (2, negation)):
            guard = term if node.guard is None or term is None else \
                known.get(("and", (node.guard, term)))
            if guard is not None:
                if guard in arms:
                    raise PrecisecError(node.loc, "cannot write this kernel as FPCore: "
                                                  "several selects share one condition")
                arms[guard] = (index, position)
    return arms


def _check_holds(kernel: Kernel, uses: Counter[int]) -> None:
    """A held constant reads back as held only where an `if` side or a comparison uses
    it once."""
    users: dict[int, list[Op]] = {}
    for node in kernel.nodes:
        if isinstance(node, Op):
            for a in node.args:
                users.setdefault(a, []).append(node)
    for index, node in enumerate(kernel.nodes):
        if isinstance(node, Op) and node.op == "hold" and uses[index] > 0 and (
                uses[index] > 1 or index == kernel.output
                or any(u.spec.kind not in ("compare", "select") for u in users[index])):
            raise PrecisecError(node.loc, "cannot write this kernel as FPCore: a constant "
                                          "stored as a double is shared or used by an "
                                          "operation that would round it")


def emit_fpcore(kernel: Kernel, bits: Mapping[int, int]) -> str:
    """The kernel as an FPCore 2.0 program with operation i rounded to bits[i] bits."""
    missing = set(kernel.rounding_ops) - set(bits)
    if missing:
        raise ValueError(f"no precision for operations {sorted(missing)}")
    widths = operation_bits(kernel, bits)
    emitted = _emitted(kernel)
    uses = Counter(a for index, node in enumerate(kernel.nodes)
                   if isinstance(node, Op) and index in emitted for a in node.args)
    uses[kernel.output] += 1
    arms = _arms(kernel)
    _check_holds(kernel, uses)
    names: dict[int, str] = {}
    taken = set(kernel.input_names)
    for index in kernel.inputs:
        node = kernel.nodes[index]
        assert isinstance(node, Input)
        names[index] = node.name

    def expression(index: int) -> str:
        if index in names:
            return names[index]
        node = kernel.nodes[index]
        if isinstance(node, Const):
            return _number(node.text)
        assert isinstance(node, Op)
        if node.op == "hold":
            return f"(! :precision {fpcore_precision(DOUBLE_BITS)} {expression(node.args[0])})"
        if node.op == "select":
            args = [expression(node.args[0]), scoped(index, 1), scoped(index, 2)]
        else:
            args = [expression(a) for a in node.args]
        if node.spec.arity == 1 and fpcore_operator(node.spec) == "-" \
                and isinstance(kernel.nodes[node.args[0]], Const):
            # `(- 2.5)` would read back as the constant -2.5; keep the negation.
            args = [f"(! :precision {fpcore_precision(widths[index])} {args[0]})"]
        parts = [fpcore_operator(node.spec), *args]
        return f"(! :precision {fpcore_precision(widths[index])} ({' '.join(parts)}))"

    bound: dict[int | None, list[int]] = {}
    for index, node in enumerate(kernel.nodes):
        if isinstance(node, Op) and index in emitted and uses[index] != 1 \
                and node.spec.kind not in BOOLEAN_KINDS:
            if node.guard is not None and node.guard not in arms:
                raise PrecisecError(node.loc, "cannot write this kernel as FPCore: a shared "
                                              "value lies on a branch no single `if` side has")
            bound.setdefault(node.guard, []).append(index)

    def let(guard: int | None, body: Callable[[], str], indent: str) -> str:
        bindings = []
        for index in bound.get(guard, ()):
            value = expression(index)
            name = f"t{index}"
            while name in taken:
                name += "_"
            taken.add(name)
            names[index] = name
            bindings.append(f"[{name} {value}]")
        if not bindings:
            return body()
        joined = f"\n{indent}     ".join(bindings)
        return f"(let* ({joined})\n{indent}  {body()})"

    def scoped(select: int, position: int) -> str:
        """One side of an `if`, with the values bound on that side."""
        guard = next((g for g, arm in arms.items() if arm == (select, position)), None)
        side = kernel.nodes[select].args[position]
        if guard is None:
            return expression(side)
        return let(guard, lambda: expression(side), "   ")

    body = let(None, lambda: expression(kernel.output), "   ")

    lines = [f"(FPCore {kernel.name} ({' '.join(kernel.input_names)})",
             f" :name {_string(kernel.name)}",
             f" :precision {'binary32' if kernel.precision == 'float' else 'binary64'}"]
    pre = _pre(kernel)
    if pre is not None:
        lines.append(f" :pre {pre}")
    if kernel.target_rmse is not None:
        lines.append(f" :precisec-rmse {kernel.target_rmse!r}")
    lines.append(f" {body})")
    return "\n".join(lines) + "\n"
