"""The MPFR backend for structured kernels: the kernel's own C structure, re-emitted.

Loops stay loops, if/else and ?: stay branches, helpers are inlined at each call site
(each with its own precisions); integer code (counters, const ints, #defines) is copied
verbatim. Each source operation (site) writes one temporary initialised at the site's
precision; variables and exact operations (negation, fabs, fmin, fmax) live in mpfr_t's at
the widest precision in the file, so copies never round. Constants follow the frontend's
rule (frontend/real.py): set at the consuming rounding operation's precision when they are
its direct operand, else materialised at 53 bits. So the emitted code computes exactly what
the precision emulator computes on the unrolled IR, branch decisions included.

Every decision goes through PRECISEC_BRANCH(site, cond), a no-op unless the check build
defines it (toolchain.TRACE_HEADER) to record the decisions the tuned code takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pycparser import c_ast, c_generator

from precisec.frontend.c import _INT_LITERAL, _decimal_text
from precisec.frontend.real import (
    Structure,
    helper_params,
    site_key,
    type_names,
)
from precisec.ir import Kernel, Op
from precisec.ops import BINARY_OPERATORS, C_FUNCTIONS, COMPARISON_OPERATORS, UNARY_OPERATORS
from precisec.reference import INPUT_BITS

_GEN = c_generator.CGenerator()
_COMPOUND = {"+=": "+", "-=": "-", "*=": "*", "/=": "/"}
_INT_OPS = {"+", "-", "*", "/", "%"}


def _c(node: c_ast.Node) -> str:
    return _GEN.visit(node)


class _Emitter:
    def __init__(self, kernel: Kernel, bits: Mapping[int, int]) -> None:
        structure = kernel.structure
        assert isinstance(structure, Structure)
        self.kernel, self.structure = kernel, structure
        self.site_bits: dict[int, int] = {}
        for index, node in enumerate(kernel.nodes):
            if isinstance(node, Op) and node.spec.rounds and node.site is not None:
                self.site_bits[node.site] = bits[index]
        self.wide = max([INPUT_BITS, *self.site_bits.values()])
        self.scalars: list[tuple[str, int]] = []
        self.arrays: list[tuple[str, int, int]] = []
        self.init: list[str] = []
        self.body: list[str] = []
        self.depth = 1
        self.count = 0
        self.path: tuple[int, ...] = ()
        self.scopes: list[dict[str, tuple]] = [{}]
        self.returns: list[str] = []
        self.seen_sites: set[int] = set()

    # -- helpers ------------------------------------------------------------------------
    def line(self, text: str) -> None:
        self.body.append("    " * self.depth + text)

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def scalar(self, name: str, precision: int) -> str:
        self.scalars.append((name, precision))
        return name

    def find(self, name: str) -> tuple | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def is_int(self, expr: c_ast.Node) -> bool:
        if isinstance(expr, c_ast.Constant):
            return bool(_INT_LITERAL.match(expr.value)) and expr.type not in ("char", "string")
        if isinstance(expr, c_ast.ID):
            found = self.find(expr.name)
            if found is None and expr.name in self.structure.defines:
                text = self.structure.defines[expr.name].strip("()").lstrip("+-")
                return bool(_INT_LITERAL.match(text))
            return found is not None and found[0] == "int"
        if isinstance(expr, c_ast.BinaryOp) and expr.op in _INT_OPS:
            return self.is_int(expr.left) and self.is_int(expr.right)
        if isinstance(expr, c_ast.UnaryOp) and expr.op in ("-", "+"):
            return self.is_int(expr.expr)
        return False

    def literal(self, expr: c_ast.Node) -> str | None:
        """Exact decimal text of a floating literal operand (or a #define of one)."""
        negate = False
        if isinstance(expr, c_ast.UnaryOp) and expr.op == "-" and \
                isinstance(expr.expr, c_ast.Constant):
            negate, expr = True, expr.expr
        if isinstance(expr, c_ast.Constant):
            text = _decimal_text(expr.value, None)[0]  # type: ignore[arg-type]
            return f"-{text}" if negate else text
        if isinstance(expr, c_ast.ID) and self.find(expr.name) is None and \
                expr.name in self.structure.defines:
            body = self.structure.defines[expr.name].strip()
            while body.startswith("(") and body.endswith(")"):
                body = body[1:-1].strip()
            sign = "-" if body.startswith("-") else ""
            return sign + _decimal_text(body.lstrip("+-").strip(), None)[0]  # type: ignore[arg-type]
        return None

    # -- values ------------------------------------------------------------------------------
    def constant(self, expr: c_ast.Node, precision: int, name: str) -> str | None:
        """A constant operand set at `precision` into `name`; None if not a constant."""
        while isinstance(expr, c_ast.Cast) or (isinstance(expr, c_ast.UnaryOp)
                                               and expr.op == "+"):
            expr = expr.expr
        if self.is_int(expr):
            self.scalar(name, precision)
            self.line(f"mpfr_set_si({name}, (long) ({_c(expr)}), MPFR_RNDN);")
            return name
        text = self.literal(expr)
        if text is None:
            return None
        self.scalar(name, precision)
        self.init.append(f'    mpfr_set_str({name}, "{text}", 10, MPFR_RNDN);')
        return name

    def value(self, expr: c_ast.Node) -> str:
        """A double expression as a stored value (a constant at 53 bits)."""
        held = self.constant(expr, INPUT_BITS, self.fresh("h"))
        return held if held is not None else self.expression(expr)

    def operand(self, expr: c_ast.Node, site: int, position: int) -> str:
        """An operand of a rounding operation (a constant at the operation's precision)."""
        direct = self.constant(expr, self.bits(site), f"k{site}_{position}")
        return direct if direct is not None else self.expression(expr)

    def bits(self, site: int) -> int:
        return self.site_bits.get(site, INPUT_BITS)

    def site(self, node: c_ast.Node) -> int:
        key = site_key(self.path, node)
        if key not in self.structure.sites:
            self.structure.sites[key] = len(self.structure.sites)
        return self.structure.sites[key]

    def rounding(self, node: c_ast.Node, function: str, name: str, args: Sequence[c_ast.Node],
                 first: str | None = None) -> str:
        """Emit a rounding operation of the site `node`; its temporary's name."""
        site = self.site(node)
        names = [] if first is None else [first]
        names += [self.operand(a, site, k + len(names)) for k, a in enumerate(args)]
        temp = f"t{site}"
        if site not in self.seen_sites:
            self.seen_sites.add(site)
            self.scalar(temp, self.bits(site))
        coord = node.coord
        kind = f"{self.bits(site)} bits" if site in self.site_bits else "never executed"
        self.line(f"/* {coord.line}:{coord.column} {name}, {kind} */")
        self.line(f"{function}({temp}, {', '.join(names)}, MPFR_RNDN);")
        return temp

    def exact(self, function: str, args: Sequence[str]) -> str:
        temp = self.scalar(self.fresh("u"), self.wide)
        self.line(f"{function}({temp}, {', '.join(args)}, MPFR_RNDN);")
        return temp

    def expression(self, expr: c_ast.Node) -> str:
        if isinstance(expr, c_ast.ID):
            found = self.find(expr.name)
            assert found is not None and found[0] == "double", expr.name
            return found[1]
        if isinstance(expr, c_ast.ArrayRef):
            return self.element(expr)
        if isinstance(expr, c_ast.UnaryOp):
            if expr.op == "+":
                return self.value(expr.expr)
            spec = UNARY_OPERATORS[expr.op]
            if spec.rounds:
                return self.rounding(expr, spec.mpfr_function, spec.name, [expr.expr])
            return self.exact(spec.mpfr_function, [self.value(expr.expr)])
        if isinstance(expr, c_ast.BinaryOp):
            spec = BINARY_OPERATORS[expr.op]
            return self.rounding(expr, spec.mpfr_function, spec.name, [expr.left, expr.right])
        if isinstance(expr, c_ast.Cast):
            return self.value(expr.expr)
        if isinstance(expr, c_ast.TernaryOp):
            result = self.scalar(self.fresh("r"), self.wide)
            cond = self.condition(expr.cond)
            self.line(f"if (PRECISEC_BRANCH({self.branch_site(expr)}, {cond})) {{")
            self.depth += 1
            self.line(f"mpfr_set({result}, {self.value(expr.iftrue)}, MPFR_RNDN);")
            self.depth -= 1
            self.line("} else {")
            self.depth += 1
            self.line(f"mpfr_set({result}, {self.value(expr.iffalse)}, MPFR_RNDN);")
            self.depth -= 1
            self.line("}")
            return result
        if isinstance(expr, c_ast.FuncCall):
            name = expr.name.name
            args = expr.args.exprs if expr.args is not None else []
            if name in self.structure.helpers:
                return self.inline(expr, self.structure.helpers[name], args)
            spec = C_FUNCTIONS[name]
            if spec.rounds:
                return self.rounding(expr, spec.mpfr_function, spec.name, args)
            return self.exact(spec.mpfr_function, [self.value(a) for a in args])
        raise AssertionError(f"unexpected expression {type(expr).__name__}")

    def element(self, ref: c_ast.ArrayRef) -> str:
        subscripts: list[c_ast.Node] = []
        base: c_ast.Node = ref
        while isinstance(base, c_ast.ArrayRef):
            subscripts.append(base.subscript)
            base = base.name
        found = self.find(base.name)
        assert found is not None and found[0] == "array"
        _, cname, shape = found
        flat = ""
        for subscript, size in zip(subscripts[::-1], shape, strict=True):
            flat = f"({_c(subscript)})" if not flat else f"({flat}) * {size} + ({_c(subscript)})"
        return f"{cname}[{flat}]"

    def branch_site(self, node: c_ast.Node) -> int:
        key = site_key(self.path, node)
        if key not in self.structure.branch_sites:
            self.structure.branch_sites[key] = len(self.structure.branch_sites)
        return self.structure.branch_sites[key]

    def condition(self, expr: c_ast.Node) -> str:
        """A C int expression; double operands are computed first."""
        if isinstance(expr, c_ast.BinaryOp) and expr.op in ("&&", "||"):
            return f"({self.condition(expr.left)} {expr.op} {self.condition(expr.right)})"
        if isinstance(expr, c_ast.UnaryOp) and expr.op == "!":
            return f"!{self.condition(expr.expr)}"
        if isinstance(expr, c_ast.BinaryOp) and expr.op in COMPARISON_OPERATORS:
            if self.is_int(expr.left) and self.is_int(expr.right):
                return f"({_c(expr)})"
            spec = COMPARISON_OPERATORS[expr.op]
            left, right = self.value(expr.left), self.value(expr.right)
            return f"{spec.mpfr_function}({left}, {right})"
        return f"({_c(expr)})"

    # -- statements ---------------------------------------------------------------------
    def block(self, items: Sequence[c_ast.Node]) -> None:
        self.scopes.append({})
        for stmt in items:
            self.statement(stmt)
        self.scopes.pop()

    def nested(self, stmt: c_ast.Node | None) -> None:
        self.depth += 1
        if isinstance(stmt, c_ast.Compound):
            self.block(stmt.block_items or [])
        elif stmt is not None:
            self.block([stmt])
        self.depth -= 1

    def statement(self, stmt: c_ast.Node) -> None:
        if isinstance(stmt, c_ast.Decl):
            self.declaration(stmt)
        elif isinstance(stmt, c_ast.DeclList):
            for decl in stmt.decls:
                self.declaration(decl)
        elif isinstance(stmt, c_ast.Assignment):
            target = stmt.lvalue
            if isinstance(target, c_ast.ID) and (self.find(target.name) or ("",))[0] == "int":
                self.line(f"{_c(stmt)};")
                return
            name = self.expression(target)
            if stmt.op == "=":
                self.line(f"mpfr_set({name}, {self.value(stmt.rvalue)}, MPFR_RNDN);")
                return
            spec = BINARY_OPERATORS[_COMPOUND[stmt.op]]
            temp = self.rounding(stmt, spec.mpfr_function, spec.name, [stmt.rvalue], first=name)
            self.line(f"mpfr_set({name}, {temp}, MPFR_RNDN);")
        elif isinstance(stmt, c_ast.UnaryOp):
            self.line(f"{_c(stmt)};")
        elif isinstance(stmt, c_ast.Return):
            self.line(f"mpfr_set({self.returns[-1]}, {self.value(stmt.expr)}, MPFR_RNDN);")
        elif isinstance(stmt, c_ast.Compound):
            self.line("{")
            self.nested(stmt)
            self.line("}")
        elif isinstance(stmt, c_ast.If):
            cond = self.condition(stmt.cond)
            self.line(f"if (PRECISEC_BRANCH({self.branch_site(stmt)}, {cond})) {{")
            self.nested(stmt.iftrue)
            if stmt.iffalse is not None:
                self.line("} else {")
                self.nested(stmt.iffalse)
            self.line("}")
        elif isinstance(stmt, c_ast.For):
            self.line("{")
            self.depth += 1
            self.scopes.append({})
            if isinstance(stmt.init, c_ast.DeclList):
                for decl in stmt.init.decls:
                    self.declaration(decl)
            elif stmt.init is not None:
                self.line(f"{_c(stmt.init)};")
            cond = "" if stmt.cond is None else _c(stmt.cond)
            step = "" if stmt.next is None else _c(stmt.next)
            self.line(f"for (; {cond}; {step}) {{")
            self.nested(stmt.stmt)
            self.line("}")
            self.scopes.pop()
            self.depth -= 1
            self.line("}")
        elif isinstance(stmt, c_ast.EmptyStatement):
            return
        else:
            raise AssertionError(f"unexpected statement {type(stmt).__name__}")

    def declaration(self, decl: c_ast.Decl) -> None:
        kind = decl.type
        if isinstance(kind, c_ast.ArrayDecl):
            shape = self.structure.shapes[id(decl)]
            size = 1
            for n in shape:
                size *= n
            cname = self.fresh(f"a_{decl.name}_")
            self.arrays.append((cname, size, self.wide))
            self.scopes[-1][decl.name] = ("array", cname, shape)
            if isinstance(decl.init, c_ast.InitList):
                items = decl.init.exprs
                for k, item in enumerate(items):
                    self.line(f"mpfr_set({cname}[{k}], {self.value(item)}, MPFR_RNDN);")
                for k in range(len(items), size):
                    self.line(f"mpfr_set_zero({cname}[{k}], 1);")
            return
        if type_names(kind) == ["int"]:
            self.scopes[-1][decl.name] = ("int",)
            self.line(f"{_c(decl)};")
            return
        cname = self.scalar(self.fresh(f"v_{decl.name}_"), self.wide)
        if decl.init is not None:
            self.line(f"mpfr_set({cname}, {self.value(decl.init)}, MPFR_RNDN);")
        self.scopes[-1][decl.name] = ("double", cname)

    def inline(self, call: c_ast.FuncCall, helper: c_ast.FuncDef,
               args: Sequence[c_ast.Node]) -> str:
        result = self.scalar(self.fresh("r"), self.wide)
        params = helper_params(helper)
        bound: list[tuple[c_ast.Decl, str]] = []
        for param, arg in zip(params, args, strict=True):
            if type_names(param.type) == ["int"]:
                temp = self.fresh("n")
                self.line(f"int {temp} = {_c(arg)};")
                bound.append((param, temp))
            else:
                var = self.scalar(self.fresh(f"p_{param.name}_"), self.wide)
                self.line(f"mpfr_set({var}, {self.value(arg)}, MPFR_RNDN);")
                bound.append((param, var))
        self.line(f"{{ /* inlined {helper.decl.name} */")
        self.depth += 1
        saved_scopes, saved_path = self.scopes, self.path
        self.scopes, self.path = [{}], (*self.path, id(call))
        for param, name in bound:
            if type_names(param.type) == ["int"]:
                self.line(f"int {param.name} = {name};")
                self.scopes[-1][param.name] = ("int",)
            else:
                self.scopes[-1][param.name] = ("double", name)
        self.returns.append(result)
        self.block(helper.body.block_items or [])
        self.returns.pop()
        self.scopes, self.path = saved_scopes, saved_path
        self.depth -= 1
        self.line("}")
        return result


def _flat(param: str, shape: tuple[int, ...], element: str, const: bool) -> str:
    if len(shape) <= 1:
        return param
    return f"(({'const ' if const else ''}{element} *) {param})"


def emit_structured(kernel: Kernel, bits: Mapping[int, int], header: Sequence[str]) -> str:
    """C source of a tuned structured kernel; `header` lines go into the leading comment."""
    emitter = _Emitter(kernel, bits)
    structure: Structure = kernel.structure
    element = kernel.precision
    prologue: list[str] = []
    epilogue: list[str] = []
    by_name = {p.name: p for p in kernel.params}
    for param in helper_params(structure.function):
        info = by_name[param.name]
        prologue.append(f"    (void) {param.name};")
        if not info.shape:
            name = emitter.scalar(f"in_{param.name}", INPUT_BITS)
            prologue.append(f"    mpfr_set_d({name}, {param.name}, MPFR_RNDN);")
            emitter.scopes[0][param.name] = ("double", name)
            continue
        size = info.size
        cname = f"{'out' if info.output else 'in'}_{param.name}"
        emitter.arrays.append((cname, size, emitter.wide if info.output else INPUT_BITS))
        emitter.scopes[0][param.name] = ("array", cname, info.shape)
        flat = _flat(param.name, info.shape, element, not info.output)
        if info.output:
            epilogue.append(f"    for (int pk_ = 0; pk_ < {size}; pk_++) {flat}[pk_] = "
                            f"mpfr_get_{'flt' if element == 'float' else 'd'}"
                            f"({cname}[pk_], MPFR_RNDN);")
        else:
            prologue.append(f"    for (int pk_ = 0; pk_ < {size}; pk_++) "
                            f"mpfr_set_d({cname}[pk_], {flat}[pk_], MPFR_RNDN);")
    returns = not kernel.outputs
    if returns:
        emitter.returns.append(emitter.scalar("ret", emitter.wide))
    emitter.block(structure.function.body.block_items or [])
    lines = ["/*", *(f" * {line}".rstrip() for line in header), " */",
             "#include <mpfr.h>", "",
             "#ifndef PRECISEC_BRANCH",
             "#define PRECISEC_BRANCH(site, cond) (cond)",
             "#endif",
             *(f"#define {name} {text}" for name, text in structure.defines.items()), "",
             f"{_c(structure.function.decl)}", "{"]
    scalars = [name for name, _ in emitter.scalars]
    if scalars:
        lines.append(f"    mpfr_t {', '.join(scalars)};")
    lines += [f"    mpfr_t {name}[{size}];" for name, size, _ in emitter.arrays]
    lines += [f"    mpfr_init2({name}, {precision});" for name, precision in emitter.scalars]
    lines += [f"    for (int pk_ = 0; pk_ < {size}; pk_++) mpfr_init2({name}[pk_], {precision});"
              for name, size, precision in emitter.arrays]
    lines += prologue + emitter.init + emitter.body + epilogue
    if returns:
        get = "mpfr_get_flt" if element == "float" else "mpfr_get_d"
        lines.append(f"    {element} result = {get}(ret, MPFR_RNDN);")
    if scalars:
        lines.append(f"    mpfr_clears({', '.join(scalars)}, (mpfr_ptr) 0);")
    lines += [f"    for (int pk_ = 0; pk_ < {size}; pk_++) mpfr_clear({name}[pk_]);"
              for name, size, _ in emitter.arrays]
    if returns:
        lines.append("    return result;")
    lines += ["}", ""]
    return "\n".join(lines)
