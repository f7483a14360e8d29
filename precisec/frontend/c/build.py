"""A kernel file's AST into a verified `Kernel`: the kernel function and its signature,
its pragmas, its body (`statements`), its results.

Parameters: `double`/`float` scalars and `const` arrays are inputs, each element with a
range pragma (`x`, `x[]`, `x[3]`, `A[1][2]`, an element's own range winning over
`x[]`); non-const arrays are outputs, which start as zeros. The kernel returns a value,
writes outputs, or both (docs/real-kernels.md).
"""

from __future__ import annotations

from dataclasses import replace

from pycparser import c_ast

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.c.loops import Loops
from precisec.frontend.c.precondition import build_precondition
from precisec.frontend.c.preprocess import Preprocessed
from precisec.frontend.c.scope import Array, Real, unflat
from precisec.frontend.c.syntax import (
    choose,
    normalise_returns,
    parameters,
    pragmas_for,
    type_names,
)
from precisec.frontend.pragmas import PrePragma, RangePragma, cap_of, collect, maxerr_of
from precisec.ir import REAL, Atom, Input, Kernel, Output, Param, Precondition, Var
from precisec.ir.check import verify
from precisec.ir.prune import prune


def build_kernel(pre: Preprocessed, ast: c_ast.FileAST, function: str | None) -> Kernel:
    """The kernel of a parsed file: `function`, else the one function no other calls."""
    functions: dict[str, c_ast.FuncDef] = {}
    for ext in ast.ext:
        if isinstance(ext, c_ast.FuncDef):
            if ext.decl.name in functions:
                raise _error(pre, ext.decl, f"redefinition of '{ext.decl.name}'")
            functions[ext.decl.name] = ext
        elif isinstance(ext, c_ast.Decl) and isinstance(ext.type, c_ast.FuncDecl):
            continue  # a prototype
        elif isinstance(ext, c_ast.Decl) and ext.name is not None:
            raise _error(pre, ext, f"global variable '{ext.name}' is not supported")
        elif isinstance(ext, c_ast.Typedef):
            raise _error(pre, ext, "typedefs are not supported")
        elif isinstance(ext, c_ast.Decl):
            raise _error(pre, ext, "structs, unions and enums are not supported")
        else:
            raise _error(pre, ext, f"'{type(ext).__name__}' at file scope is not supported")
    func = choose(list(functions.values()), function, pre)
    for other in functions.values():
        normalise_returns(other.body)
    helpers = {name: f for name, f in functions.items() if f is not func}
    pragmas = pragmas_for(func, list(functions.values()), pre)
    builder = Loops(pre, _precision(pre, func), helpers, _loc(pre, func.decl))
    builder.cap = cap_of(pragmas)
    kernel = replace(_kernel(builder, func, pragmas), target_maxerr=maxerr_of(pragmas))
    return verify(prune(kernel)[0])


def _loc(pre: Preprocessed, node: c_ast.Node) -> SourceLoc:
    return pre.loc(node.coord.line, node.coord.column or 1)


def _error(pre: Preprocessed, node: c_ast.Node, message: str) -> PrecisecError:
    return PrecisecError(_loc(pre, node), message)


def _precision(pre: Preprocessed, func: c_ast.FuncDef) -> str:
    """The kernel's C element type, from its signature: double or float, not both."""
    if func.param_decls:
        raise _error(pre, func.decl, "K&R-style parameter lists are not supported")
    ret = func.decl.type.type
    names = type_names(ret)
    if isinstance(ret, c_ast.PtrDecl) or names not in (["double"], ["float"], ["void"]):
        raise _error(pre, func.decl, f"kernel '{func.decl.name}' must return double, float "
                                     "or void")
    kinds = set(names) - {"void"}
    for param in parameters(func):
        kind = getattr(param, "type", None)
        while isinstance(kind, c_ast.ArrayDecl):
            kind = kind.type
        kinds.update(n for n in type_names(kind) if n in ("double", "float"))
    if len(kinds) > 1:
        raise _error(pre, func.decl, "mixing float and double in the kernel's signature is "
                                     "not supported")
    return kinds.pop() if kinds else "double"


def _kernel(builder: Loops, func: c_ast.FuncDef, pragmas: list) -> Kernel:
    name = func.decl.name
    builder.check_name(name, func.decl)
    builder.calls.append(name)
    ranges, target, pre = collect(pragmas)
    used: set[str] = set()
    params: list[Param] = []
    values: list[Var] = []
    outputs: list[Array] = []
    for param in parameters(func):
        if not isinstance(param, c_ast.Decl) or not param.name:
            raise builder.error(param, "unnamed or variadic parameters are not supported")
        builder.check_name(param.name, param)
        where = builder.loc(param)
        what = f"parameter '{param.name}'"
        if isinstance(param.type, c_ast.PtrDecl):
            raise builder.error(param, f"{what}: pointers are not supported (use a fixed-size "
                                       "array, e.g. double x[8])")
        if isinstance(param.type, c_ast.ArrayDecl):
            shape, element = builder.shape(param.type, param, param.name)
            if builder.scalar_type(param, element, what) != "real":
                raise builder.error(param, f"{what}: only {builder.precision} arrays are "
                                           "supported")
            var = Var(REAL, shape, param.name)
            if "const" in param.quals + (element.quals or []):
                lo, hi = _element_ranges(builder, param, shape, ranges, used)
                params.append(Input(param.name, shape, lo, hi, where))
                binding = Array(param.name, 0, var, writable=False)
            else:
                if any(n == param.name or n.startswith(param.name + "[") for n in ranges):
                    raise builder.error(param, f"output array '{param.name}' has a range "
                                               "pragma; in/out arrays are not supported")
                params.append(Output(param.name, shape, where))
                binding = Array(param.name, 0, var, writable=True, known=set())
                outputs.append(binding)
        else:
            if builder.scalar_type(param, param.type, what) == "int":
                raise builder.error(param, f"{what}: int parameters are not supported (use "
                                           "#define or a const int local)")
            bound = ranges.get(param.name)
            if bound is None:
                raise builder.error(param, f"{what} has no range pragma "
                                           f"(#pragma precisec range({param.name}, LO, HI))")
            used.add(param.name)
            var = Var(REAL, (), param.name)
            params.append(Input(param.name, (), (bound.lo,), (bound.hi,), where))
            binding = Real(param.name, 0, var)
        if not builder.scopes.declare(binding):
            raise builder.error(param, f"two parameters named '{param.name}'")
        values.append(var)
    for label, pragma in ranges.items():
        if label not in used:
            raise PrecisecError(pragma.loc, f"range pragma for '{label}', which is not an "
                                            f"input parameter of '{name}'")
    returns = type_names(func.decl.type.type) != ["void"]
    if not returns and not outputs:
        raise builder.error(func.decl, f"void kernel '{name}' has no output array (a non-const "
                                       "array parameter)")
    builder.returns = returns
    items = list(func.body.block_items or [])
    if not returns and items and isinstance(items[-1], c_ast.Return) and \
            items[-1].expr is None:
        items.pop()  # a closing `return;`
    builder.scopes.blocks.append({})
    result = builder.items(items)
    if returns and result is None:
        raise builder.error(func.decl, f"function '{name}' has no return statement")
    results: list[Atom] = [] if result is None else [result]
    for array in outputs:
        if array.known is not None and len(array.known) < array.value.size:
            missing = min(set(range(array.value.size)) - array.known)
            raise builder.error(func.decl, f"output element {array.name}"
                                           f"{_label(missing, array.shape)} is never assigned")
        results.append(array.value)
    return builder.b.kernel(name, builder.fallback, params, values, returns, results,
                            precision=builder.precision,
                            target_rmse=None if target is None else target.target,
                            target_metric="rmse" if target is None else target.metric,
                            precondition=None if pre is None else _precondition(pre, params))


def _precondition(pragma: PrePragma, params: list[Param]) -> Precondition:
    """The pre pragma over one fresh value per sampled scalar; only scalar inputs have
    names in it."""
    values, names = [], {}
    for param in params:
        if isinstance(param, Input):
            scalars = [Var(REAL, (), param.name) for _ in range(param.size)]
            values.extend(scalars)
            if not param.shape:
                names[param.name] = scalars[0]
    return build_precondition(pragma, values, names)


def _element_ranges(builder: Loops, param: c_ast.Decl, shape: tuple[int, ...],
                    ranges: dict[str, RangePragma],
                    used: set[str]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Each element's range: its own pragma, else the array's `x[]` one."""
    lows: list[float] = []
    highs: list[float] = []
    size = 1
    for n in shape:
        size *= n
    for position in range(size):
        label = param.name + _label(position, shape)
        bound = ranges.get(label) or ranges.get(param.name + "[]")
        if bound is None:
            raise builder.error(param, f"element {label} has no range pragma "
                                       f"(#pragma precisec range({param.name}[], LO, HI))")
        used.add(bound.name)
        lows.append(bound.lo)
        highs.append(bound.hi)
    return tuple(lows), tuple(highs)


def _label(position: int, shape: tuple[int, ...]) -> str:
    """`[1][2]` for a flat position."""
    return "".join(f"[{k}]" for k in unflat(position, shape))
