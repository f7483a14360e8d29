"""Entry points of a tuned C file beyond the kernel's own function (docs/fast.md, Call
styles): a batched entry point, and the file as a header of `static inline` functions.

A separately compiled kernel pays a call per input and cannot be vectorised or scheduled
with its caller's loop. `NAME_batch(n, in..., out)` maps the kernel over arrays inside the
tuned file, where the compiler sees the kernel's body; the header (`--emit h`) gives the
caller the body itself. Both exist for kernels whose parameters are scalars and which
return their result (every FPTuner kernel); others keep the plain function only.
"""

from __future__ import annotations

from precisec.ir.core import Kernel
from precisec.toolchain import signature


def batchable(kernel: Kernel) -> bool:
    """Whether the kernel maps scalars to a returned scalar."""
    return kernel.returns and not kernel.outputs and all(
        not var.shape for var in kernel.body.params)


# The prefix of a fast file's double kernel without its MPFR rerun
# (`precisec.backend.fast`): `pc_doubles_NAME(in..., int *unsafe)`.
DOUBLES = "pc_doubles_"
# gcc -O2's cheapest vectoriser cost model refuses a batch loop (it needs an epilogue);
# the dynamic model, as at -O3, takes it where the target has the vector instructions (a
# fast file's rounding needs 64-bit integer compares: AVX2).
VECTORISE = ["#if defined(__GNUC__) && !defined(__clang__)",
             '__attribute__((optimize("vect-cost-model=dynamic")))', "#endif"]
# A batch that maps the kernel itself (native files): gcc -O2 inlines only small functions
# (not jet's body), and a loop with a call is not vectorised, so `flatten` puts the body in.
INLINE = ["#if defined(__GNUC__)", "__attribute__((flatten))", "#endif"]
# A separately compiled file built without -march (the README's build line) would get SSE2
# batches only; gcc's target clones add AVX2 and AVX-512 versions of the batch, one picked
# when the program loads (an ifunc: glibc on x86_64). Not in the header, where the
# caller's compiler inlines the batch for its own target.
CLONES = ["#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 \\",
          "    && defined(__x86_64__) && defined(__GLIBC__)",
          '__attribute__((target_clones("default", "avx2", "arch=x86-64-v4")))', "#endif"]


def batch_function(kernel: Kernel, text: str, storage: str = "") -> list[str]:
    """`NAME_batch(n, in..., out)`: out[i] = NAME(in...[i]) for i < n (no lines if the
    kernel is not `batchable`). If `text` has a double kernel without its MPFR rerun, the
    batch runs that over all inputs (a loop without calls, which the compiler can
    vectorise) and, only if some input was unsafe, the kernel itself over all again."""
    if not batchable(kernel):
        return []
    ctype = kernel.precision
    names = [param.name for param in kernel.params]
    params = ", ".join(f"const {ctype} *restrict {name}" for name in names)
    args = [f"{name}[pc_i]" for name in names]
    loop = "for (size_t pc_i = 0; pc_i < pc_n; pc_i++)"
    plain = f"{loop} pc_out[pc_i] = {kernel.name}({', '.join(args)});"
    body = [f"    {plain}"]
    attributes = [*VECTORISE, *INLINE, *([] if storage else CLONES)]
    if f"{DOUBLES}{kernel.name}(" in text:
        doubles = f"{DOUBLES}{kernel.name}({', '.join([*args, '&pc_bad'])})"
        body = ["    int pc_any = 0;", f"    {loop} {{", "        int pc_bad;",
                f"        pc_out[pc_i] = {doubles};", "        pc_any |= pc_bad;", "    }",
                f"    if (pc_any) {plain}"]
        attributes = VECTORISE
    return [*attributes,
            f"{storage}void {kernel.name}_batch(size_t pc_n, {params}{', ' if params else ''}"
            f"{ctype} *restrict pc_out)", "{", *body, "}", ""]


def with_batch(kernel: Kernel, text: str) -> str:
    """A tuned C file with its batched entry point appended."""
    lines = batch_function(kernel, text)
    if not lines:
        return text
    return "\n".join([text.rstrip("\n"), "", "#include <stddef.h>", *lines])


def header_text(kernel: Kernel, text: str) -> str:
    """A tuned C file (without its batched entry point) as a header: an include guard, the
    kernel `static inline`, `NAME_batch` `static inline` too."""
    definition = signature(kernel)
    if f"\n{definition}\n{{" not in text:
        raise ValueError(f"no definition of {kernel.name} in the tuned text")
    body = text.replace(f"\n{definition}\n{{", f"\nstatic inline {definition}\n{{", 1)
    guard = f"PRECISEC_{kernel.name.upper()}_H"
    comment_end = body.index("*/") + 2 if body.startswith("/*") else 0
    return "\n".join([body[:comment_end], f"#ifndef {guard}", f"#define {guard}",
                      "#include <stddef.h>", body[comment_end:].strip("\n"), "",
                      *batch_function(kernel, text, "static inline "),
                      f"#endif /* {guard} */", ""])
