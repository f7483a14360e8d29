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

`precisec.frontend.fpcore.parse_tuned_fpcore` reads the result back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

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


def emit_fpcore(kernel: Kernel, bits: Mapping[int, int]) -> str:
    """The kernel as an FPCore 2.0 program with operation i rounded to bits[i] bits."""
    missing = set(kernel.rounding_ops) - set(bits)
    if missing:
        raise ValueError(f"no precision for operations {sorted(missing)}")
    widths = operation_bits(kernel, bits)
    uses = Counter(a for node in kernel.nodes if isinstance(node, Op) for a in node.args)
    uses[kernel.output] += 1
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
        args = [expression(a) for a in node.args]
        if node.spec.arity == 1 and fpcore_operator(node.spec) == "-" \
                and isinstance(kernel.nodes[node.args[0]], Const):
            # `(- 2.5)` would read back as the constant -2.5; keep the negation.
            args = [f"(! :precision {fpcore_precision(widths[index])} {args[0]})"]
        parts = [fpcore_operator(node.spec), *args]
        return f"(! :precision {fpcore_precision(widths[index])} ({' '.join(parts)}))"

    bindings: list[str] = []
    for index, node in enumerate(kernel.nodes):
        if isinstance(node, Op) and uses[index] != 1:
            value = expression(index)
            name = f"t{index}"
            while name in taken:
                name += "_"
            taken.add(name)
            names[index] = name
            bindings.append(f"[{name} {value}]")
    body = expression(kernel.output)
    if bindings:
        joined = "\n        ".join(bindings)
        body = f"(let* ({joined})\n   {body})"

    lines = [f"(FPCore {kernel.name} ({' '.join(kernel.input_names)})",
             f" :name {_string(kernel.name)}",
             " :precision binary64"]
    pre = _pre(kernel)
    if pre is not None:
        lines.append(f" :pre {pre}")
    if kernel.target_rmse is not None:
        lines.append(f" :precisec-rmse {kernel.target_rmse!r}")
    lines.append(f" {body})")
    return "\n".join(lines) + "\n"
