"""The operation table: what each IR operation is, as pure data.

Every stage learns an operation's name, arity, whether it rounds, its kind and its
spellings (C operator or libm name, FPCore, MPFR function) here. How an operation is
*evaluated* is each interpreter's own rule table keyed by these names (exact and emulated
evaluation, the JAX noise model, each emitter); `tests/unit/test_rules.py` checks that
every interpreter has a rule for every operation it can meet.

Kinds (docs/method.md §1):
* ``arith``: real operations; the ones with ``rounds`` get a precision (a *site*).
  ``copy`` is the exact identity: a C variable assigned a literal holds that literal at
  the kernel's type precision (docs/method.md §1), so the frontend copies it once.
* ``compare``: real or integer comparisons giving a boolean.
* ``logic``: boolean and/or/not.
* ``int``: integer arithmetic on loop counters and indices (exact, C semantics).
* ``convert``: an integer used as a real (exact for the small integers of index code).
* ``array``: ``load(a, i, ...)`` reads an element, ``store(a, i, ..., v)`` gives the array
  with one element replaced (the IR is functional; emitters update in place), and
  ``zeros(n, ...)`` is a new array of zeros with the literal dimensions n, ... (a local
  array, before its initialiser's stores).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpSpec:
    """One operation. arity -1: variadic (array indexing takes one index per dimension).

    c_symbol: the C operator for operators; c_function: the libm name for calls.
    mpfr: the MPFR function computing it (arith) or comparing (compare).
    native_exact: whether IEEE hardware/libm results are correctly rounded in every
      format (the basic operations, sqrt and fma, and the exact ones).
    """

    name: str
    arity: int
    rounds: bool
    kind: str
    fpcore: str | None = None
    c_symbol: str | None = None
    c_function: str | None = None
    mpfr: str | None = None
    native_exact: bool = False


def _arith(name: str, arity: int, symbol: str, fpcore: str, rounds: bool = True) -> OpSpec:
    return OpSpec(name, arity, rounds, "arith", fpcore, c_symbol=symbol,
                  mpfr=f"mpfr_{name}", native_exact=True)


def _call(name: str, arity: int, mpfr: str | None = None, rounds: bool = True,
          native_exact: bool = False) -> OpSpec:
    """A libm function whose C and FPCore names agree."""
    return OpSpec(name, arity, rounds, "arith", name, c_function=name,
                  mpfr=f"mpfr_{mpfr or name}", native_exact=native_exact or not rounds)


def _compare(name: str, symbol: str, mpfr: str) -> OpSpec:
    return OpSpec(name, 2, False, "compare", symbol, c_symbol=symbol, mpfr=mpfr)


def _int(name: str, arity: int, symbol: str) -> OpSpec:
    return OpSpec(name, arity, False, "int", c_symbol=symbol)


OPS: dict[str, OpSpec] = {spec.name: spec for spec in (
    _arith("add", 2, "+", "+"),
    _arith("sub", 2, "-", "-"),
    _arith("mul", 2, "*", "*"),
    _arith("div", 2, "/", "/"),
    _arith("neg", 1, "-", "neg", rounds=False),
    _call("fabs", 1, "abs", rounds=False),
    _call("sqrt", 1, native_exact=True),
    _call("cbrt", 1),
    _call("exp", 1),
    _call("expm1", 1),
    _call("exp2", 1),
    _call("log", 1),
    _call("log1p", 1),
    _call("log2", 1),
    _call("log10", 1),
    _call("pow", 2),
    _call("sin", 1),
    _call("cos", 1),
    _call("tan", 1),
    _call("asin", 1),
    _call("acos", 1),
    _call("atan", 1),
    _call("atan2", 2),
    _call("sinh", 1),
    _call("cosh", 1),
    _call("tanh", 1),
    _call("hypot", 2),
    _call("fma", 3, native_exact=True),
    OpSpec("copy", 1, False, "arith", mpfr="mpfr_set", native_exact=True),
    _call("fmin", 2, "min", rounds=False),
    _call("fmax", 2, "max", rounds=False),
    _compare("lt", "<", "mpfr_less_p"),
    _compare("le", "<=", "mpfr_lessequal_p"),
    _compare("gt", ">", "mpfr_greater_p"),
    _compare("ge", ">=", "mpfr_greaterequal_p"),
    _compare("eq", "==", "mpfr_equal_p"),
    _compare("ne", "!=", "mpfr_lessgreater_p"),
    OpSpec("and", 2, False, "logic", "and", c_symbol="&&"),
    OpSpec("or", 2, False, "logic", "or", c_symbol="||"),
    OpSpec("not", 1, False, "logic", "not", c_symbol="!"),
    _int("iadd", 2, "+"),
    _int("isub", 2, "-"),
    _int("imul", 2, "*"),
    _int("idiv", 2, "/"),
    _int("imod", 2, "%"),
    _int("ineg", 1, "-"),
    OpSpec("itof", 1, False, "convert"),
    OpSpec("load", -1, False, "array"),
    OpSpec("store", -1, False, "array"),
    OpSpec("zeros", -1, False, "array"),
)}

ARITH_BINARY: dict[str, OpSpec] = {
    s.c_symbol: s for s in OPS.values() if s.kind == "arith" and s.arity == 2 and s.c_symbol}
ARITH_UNARY: dict[str, OpSpec] = {
    s.c_symbol: s for s in OPS.values() if s.kind == "arith" and s.arity == 1 and s.c_symbol}
COMPARISONS: dict[str, OpSpec] = {
    s.c_symbol: s for s in OPS.values() if s.kind == "compare" and s.c_symbol}
LOGIC: dict[str, OpSpec] = {s.c_symbol: s for s in OPS.values() if s.kind == "logic" and s.c_symbol}
INT_BINARY: dict[str, OpSpec] = {
    s.c_symbol: s for s in OPS.values() if s.kind == "int" and s.arity == 2 and s.c_symbol}
C_FUNCTIONS: dict[str, OpSpec] = {s.c_function: s for s in OPS.values() if s.c_function}
FPCORE_OPERATIONS: dict[str, OpSpec] = {
    s.fpcore: s for s in OPS.values() if s.fpcore and s.kind in ("arith", "compare", "logic")}
