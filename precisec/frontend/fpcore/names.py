"""C identifiers for FPCore names: the kernel's function name and its parameters.

FPCore symbols may contain characters C identifiers cannot (`x-y`, `a.b`, `λ`), may be C
keywords (`double`) or shadow what the emitted C calls (`sin`, `NAN`). The kernel keeps
the FPCore names in `Kernel.properties` (for reports and the FPCore emitter) and uses
these C names for its parameters, so the emitted C always compiles. The mapping:

* a name that is a valid, unreserved C identifier is kept as it is;
* otherwise every character outside `[A-Za-z0-9_]` becomes `_`, and the result gets the
  prefix `v_` (kernels: `k_`) if it starts with a digit or `_`, is a C keyword, a libm
  function of the operation table or a macro of the headers the C includes (`NAN`, and
  every `M_…` and `FP_…` name), or starts with a prefix reserved for generated code
  (`pc_`, `mpfr_`, `MPFR_`, `mp_`, `gmp_`, `__gmp`): `x-y` → `x_y`, `sin` → `v_sin`,
  `pc_z` → `v_pc_z`, `λ` → `v__`;
* among arguments, a mapped name that collides with an earlier C name gets the suffix
  `_2`, `_3`, ... (kept names are claimed first, so they never change).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from precisec.ops import C_FUNCTIONS

RESERVED_PREFIXES = ("pc_", "mpfr_", "MPFR_", "mp_", "gmp_", "__gmp")
"""Prefixes of generated C names (the C frontend refuses user names that start so)."""

_C_RESERVED = frozenset((
    # C23 keywords, and `main`.
    "alignas", "alignof", "auto", "bool", "break", "case", "char", "const", "constexpr",
    "continue", "default", "do", "double", "else", "enum", "extern", "false", "float", "for",
    "goto", "if", "inline", "int", "long", "nullptr", "register", "restrict", "return",
    "short", "signed", "sizeof", "static", "static_assert", "struct", "switch",
    "thread_local", "true", "typedef", "typeof", "typeof_unqual", "union", "unsigned",
    "void", "volatile", "while", "main",
    # Macros of the headers the emitted C includes.
    "INFINITY", "NAN", "HUGE_VAL", "HUGE_VALF", "HUGE_VALL", "NULL", "EOF", "errno",
    "stdin", "stdout", "stderr", "assert", "isnan", "isinf", "isfinite", "isnormal",
    "signbit", "fpclassify", "math_errhandling"))
_RESERVED_PATTERN = re.compile(r"_|[0-9]|M_|FP_|" + "|".join(RESERVED_PREFIXES))
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def is_free_identifier(name: str) -> bool:
    """Whether `name` is a C identifier the emitted C can use as it is."""
    return bool(_IDENTIFIER.fullmatch(name)) and name not in _C_RESERVED \
        and name not in C_FUNCTIONS and not _RESERVED_PATTERN.match(name)


def c_identifier(name: str, prefix: str) -> str:
    """`name` as a valid, unreserved C identifier (`prefix` added where needed)."""
    if is_free_identifier(name):
        return name
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return ident if is_free_identifier(ident) else f"{prefix}{ident}"


def kernel_identifier(name: str) -> str:
    """A C function name for an FPCore (its identifier or :name)."""
    return c_identifier(name, "k_")


def argument_identifiers(names: Sequence[str]) -> tuple[str, ...]:
    """Distinct C parameter names for FPCore argument names (which are distinct)."""
    taken = {name for name in names if is_free_identifier(name)}
    mapped: list[str] = []
    for name in names:
        if is_free_identifier(name):
            mapped.append(name)
            continue
        base = c_identifier(name, "v_")
        ident, suffix = base, 1
        while ident in taken:
            suffix += 1
            ident = f"{base}_{suffix}"
        taken.add(ident)
        mapped.append(ident)
    return tuple(mapped)
