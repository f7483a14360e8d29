"""The MPFR backend (design §4): the tuned kernel as C with one mpfr_t per value.

Inputs enter exactly at 53 bits, each operation writes a temporary initialised at its own
precision, a constant is set from its exact decimal text at the precision of the operation
that consumes it, the result leaves through mpfr_get_d (mpfr_get_flt for a float kernel,
whose inputs enter through mpfr_set_flt), and every mpfr_t is cleared.

Branches (an FPCore `if`) stay straight-line: comparisons and logic are `int`s (MPFR's
predicates compare the operands' rounded values exactly, as the emulator does), and a
select copies the chosen side into an mpfr_t at the width `operation_bits` gives it (never
narrower than either side, so the copy is exact). Both sides are always computed; MPFR
does not trap, so a side not taken may hold a NaN that the select discards. Boolean nodes
no emitted value uses (the guards of the IR) are not emitted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from precisec.ir import Const, Input, Kernel, Op
from precisec.reference import INPUT_BITS, operation_bits


def reserved_prefix(kernel: Kernel) -> str:
    """A prefix for generated C names that no parameter name starts with."""
    prefix = "pc_"
    while any(name.startswith(prefix) for name in kernel.input_names):
        prefix += "_"
    return prefix


BOOLEAN_KINDS = frozenset({"compare", "logic"})


def _live_booleans(kernel: Kernel) -> set[int]:
    """Boolean nodes some emitted value depends on (the others only guard)."""
    live: set[int] = set()
    for index in range(len(kernel.nodes) - 1, -1, -1):
        node = kernel.nodes[index]
        if not isinstance(node, Op):
            continue
        if node.spec.kind in BOOLEAN_KINDS and index not in live:
            continue
        live.update(a for a in node.args
                    if isinstance(arg := kernel.nodes[a], Op) and arg.spec.kind in BOOLEAN_KINDS)
    return live


def _boolean(kernel: Kernel, node: Op, value_name: Callable[[int], str]) -> str:
    """The C expression of a comparison (an MPFR predicate) or a logic operation."""
    args = [value_name(a) for a in node.args]
    if node.spec.kind == "compare":
        return f"{node.spec.mpfr_function}({', '.join(args)})"
    if node.spec.arity == 1:
        return f"{node.spec.c_symbol}{args[0]}"
    return f"{args[0]} {node.spec.c_symbol} {args[1]}"


def emit_mpfr(kernel: Kernel, bits: Mapping[int, int], header: Sequence[str]) -> str:
    """C source of the tuned kernel; `header` lines go into the leading comment."""
    widths = operation_bits(kernel, bits)
    prefix = reserved_prefix(kernel)

    def value_name(index: int) -> str:
        node = kernel.nodes[index]
        return f"{prefix}in_{node.name}" if isinstance(node, Input) else f"{prefix}t{index}"

    ctype = kernel.precision
    suffix = "flt" if ctype == "float" else "d"
    params = ", ".join(f"{ctype} {kernel.input(i).name}" for i in range(len(kernel.inputs)))
    declared: list[str] = []
    body: list[str] = []

    def init(name: str, precision: int) -> None:
        declared.append(name)
        body.append(f"    mpfr_init2({name}, {precision});")

    for position in range(len(kernel.inputs)):
        node = kernel.input(position)
        name = value_name(kernel.inputs[position])
        init(name, INPUT_BITS)
        body.append(f"    mpfr_set_{suffix}({name}, {node.name}, MPFR_RNDN);")
    live = _live_booleans(kernel)
    for index, node in enumerate(kernel.nodes):
        if not isinstance(node, Op):
            continue
        kind_of_op = node.spec.kind
        if kind_of_op in BOOLEAN_KINDS:
            if index in live:
                body.append(f"    /* {node.loc.line}:{node.loc.col} {node.spec.name}, exact */")
                body.append(f"    int {value_name(index)} = {_boolean(kernel, node, value_name)};")
            continue
        precision = widths[index]
        kind = f"{precision} bits" if node.spec.rounds else "exact"
        body.append(f"    /* {node.loc.line}:{node.loc.col} {node.spec.name}, {kind} */")
        if kind_of_op == "select":
            cond, then_value, else_value = (value_name(a) for a in node.args)
            result = value_name(index)
            init(result, precision)
            body.append(f"    mpfr_set({result}, {cond} ? {then_value} : {else_value}, "
                        "MPFR_RNDN);")
            continue
        args: list[str] = []
        for position, arg in enumerate(node.args):
            const = kernel.nodes[arg]
            if isinstance(const, Const):
                name = f"{prefix}c{index}_{position}"
                init(name, precision)
                body.append(f'    mpfr_set_str({name}, "{const.text}", 10, MPFR_RNDN);')
                args.append(name)
            else:
                args.append(value_name(arg))
        result = value_name(index)
        init(result, precision)
        body.append(f"    {node.spec.mpfr_function}({result}, {', '.join(args)}, MPFR_RNDN);")
    output = kernel.nodes[kernel.output]
    if isinstance(output, Const):
        result = f"{prefix}constant_result"
        init(result, INPUT_BITS)
        body.append(f'    mpfr_set_str({result}, "{output.text}", 10, MPFR_RNDN);')
    else:
        result = value_name(kernel.output)
    lines = ["/*", *(f" * {line}".rstrip() for line in header), " */",
             "#include <mpfr.h>", "",
             f"{ctype} {kernel.name}({params or 'void'})", "{",
             f"    mpfr_t {', '.join(declared)};", *body,
             f"    {ctype} {prefix}result = mpfr_get_{suffix}({result}, MPFR_RNDN);",
             f"    mpfr_clears({', '.join(declared)}, (mpfr_ptr) 0);",
             f"    return {prefix}result;", "}", ""]
    return "\n".join(lines)
