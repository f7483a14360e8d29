"""The MPFR backend (design §4): the tuned kernel as C with one mpfr_t per value.

Inputs enter exactly at 53 bits, each operation writes a temporary initialised at its own
precision, a constant is set from its exact decimal text at the precision of the operation
that consumes it, the result leaves through mpfr_get_d, and every mpfr_t is cleared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from precisec.ir import Const, Input, Kernel, Op
from precisec.reference import INPUT_BITS, operation_bits


def reserved_prefix(kernel: Kernel) -> str:
    """A prefix for generated C names that no parameter name starts with."""
    prefix = "pc_"
    while any(name.startswith(prefix) for name in kernel.input_names):
        prefix += "_"
    return prefix


def emit_mpfr(kernel: Kernel, bits: Mapping[int, int], header: Sequence[str]) -> str:
    """C source of the tuned kernel; `header` lines go into the leading comment."""
    widths = operation_bits(kernel, bits)
    prefix = reserved_prefix(kernel)

    def value_name(index: int) -> str:
        node = kernel.nodes[index]
        return f"{prefix}in_{node.name}" if isinstance(node, Input) else f"{prefix}t{index}"

    params = ", ".join(f"double {kernel.input(i).name}" for i in range(len(kernel.inputs)))
    declared: list[str] = []
    body: list[str] = []

    def init(name: str, precision: int) -> None:
        declared.append(name)
        body.append(f"    mpfr_init2({name}, {precision});")

    for position in range(len(kernel.inputs)):
        node = kernel.input(position)
        name = value_name(kernel.inputs[position])
        init(name, INPUT_BITS)
        body.append(f"    mpfr_set_d({name}, {node.name}, MPFR_RNDN);")
    for index, node in enumerate(kernel.nodes):
        if not isinstance(node, Op):
            continue
        precision = widths[index]
        kind = f"{precision} bits" if node.spec.rounds else "exact"
        body.append(f"    /* {node.loc.line}:{node.loc.col} {node.spec.name}, {kind} */")
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
             f"double {kernel.name}({params or 'void'})", "{",
             f"    mpfr_t {', '.join(declared)};", *body,
             f"    double {prefix}result = mpfr_get_d({result}, MPFR_RNDN);",
             f"    mpfr_clears({', '.join(declared)}, (mpfr_ptr) 0);",
             f"    return {prefix}result;", "}", ""]
    return "\n".join(lines)
