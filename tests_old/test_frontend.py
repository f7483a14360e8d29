"""C frontend: every supported construct parses to IR whose exact evaluation agrees with an
independent mpmath evaluation of the same expression; shared subexpressions stay shared;
operations carry their source line:col."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from helpers import kernel, ranges
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precisec.errors import PrecisecError
from precisec.ir import Const, Input, Kernel, Op
from precisec.ops import BINARY_OPERATORS, C_FUNCTIONS, OPS
from precisec.reference import exact, sample_inputs

WORKING_BITS = 500  # mpmath's working precision for the oracle
RELATIVE = 1e-30


# An oracle independent of precisec: what each operation of the table means, in mpmath.
MPMATH = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "fabs": mpmath.fabs,
    "sqrt": mpmath.sqrt,
    "cbrt": lambda a: mpmath.sign(a) * mpmath.cbrt(abs(a)),
    "exp": mpmath.exp,
    "expm1": mpmath.expm1,
    "exp2": lambda a: mpmath.power(2, a),
    "log": mpmath.log,
    "log1p": mpmath.log1p,
    "log2": lambda a: mpmath.log(a, 2),
    "log10": mpmath.log10,
    "pow": mpmath.power,
    "sin": mpmath.sin,
    "cos": mpmath.cos,
    "tan": mpmath.tan,
    "asin": mpmath.asin,
    "acos": mpmath.acos,
    "atan": mpmath.atan,
    "atan2": mpmath.atan2,
    "sinh": mpmath.sinh,
    "cosh": mpmath.cosh,
    "tanh": mpmath.tanh,
    "hypot": mpmath.hypot,
    "fma": lambda a, b, c: a * b + c,
    "fmin": min,
    "fmax": max,
    "lt": lambda a, b: int(a < b),
    "le": lambda a, b: int(a <= b),
    "gt": lambda a, b: int(a > b),
    "ge": lambda a, b: int(a >= b),
    "eq": lambda a, b: int(a == b),
    "ne": lambda a, b: int(a != b),
    "and": lambda a, b: int(bool(a) and bool(b)),
    "or": lambda a, b: int(bool(a) or bool(b)),
    "not": lambda a: int(not a),
    "select": lambda c, a, b: a if c else b,
    "hold": lambda a: a,
}


def test_oracle_covers_the_operation_table() -> None:
    # A new operation in precisec.ops must get an oracle here (and so a test).
    assert set(MPMATH) == set(OPS)


def mp_value(value: float | Fraction | str) -> mpmath.mpf:
    if isinstance(value, Fraction):
        return mpmath.mpf(value.numerator) / value.denominator
    return mpmath.mpf(value)


def exact_values(k: Kernel, inputs: np.ndarray) -> list[mpmath.mpf]:
    """precisec's exact reference as mpmath numbers (hi + lo)."""
    ref = exact(k, inputs)
    return [mpmath.mpf(float(h)) + mpmath.mpf(float(lo)) for h, lo in zip(ref.hi, ref.lo,
                                                                          strict=True)]


def assert_close(got: mpmath.mpf, want: mpmath.mpf, slack: mpmath.mpf = 0) -> None:
    error = abs(got - want)
    assert error <= RELATIVE * abs(want) + slack, (
        f"exact reference {mpmath.nstr(got, 40)} vs mpmath {mpmath.nstr(want, 40)}")


def ir_mirror(k: Kernel, row: np.ndarray) -> mpmath.mpf:
    """Evaluate the IR itself with the mpmath oracle (checks the table's reference)."""
    values: list[mpmath.mpf] = []
    position = {node: j for j, node in enumerate(k.inputs)}
    for index, node in enumerate(k.nodes):
        if isinstance(node, Input):
            values.append(mpmath.mpf(float(row[position[index]])))
        elif isinstance(node, Const):
            values.append(mp_value(node.value))
        else:
            values.append(MPMATH[node.op](*(values[a] for a in node.args)))
    return values[k.output]


# -- every supported construct ------------------------------------------------------------

CONSTRUCTS = """\
#include <math.h>
/* a block comment,
   over two lines */
#pragma precisec range(a, 0.5, 2.0)
#pragma precisec range(b, -3, -1)
#pragma precisec rmse(1e-12)
double construct(double a, double b) {
    double t;                 // declared, assigned later
    double u = a * 1.5e-1;    // exponent
    double w = 2;             // integer literal initialiser
    t = (a + b) * -u;
    t += 3.25f;
    t -= 1e2L / a;
    t *= (u - w);
    t /= 7;
    {
        double inner = t / b;
        t = inner + 0x1.8p1 + 017;
        {
            u = -(inner);
        }
    }
    return t - u + sqrt(a) * 2.5E+0;
}
"""


def constructs_mirror(a: mpmath.mpf, b: mpmath.mpf) -> mpmath.mpf:
    u = a * mpmath.mpf(15) / 100
    w = mpmath.mpf(2)
    t = (a + b) * -u
    t += mpmath.mpf(13) / 4
    t -= 100 / a
    t *= u - w
    t /= 7
    inner = t / b
    t = inner + 3 + 15
    u = -inner
    return t - u + mpmath.sqrt(a) * mpmath.mpf(5) / 2


def test_every_construct_parses_and_evaluates_exactly() -> None:
    k = kernel(CONSTRUCTS)
    assert k.name == "construct"
    assert k.input_names == ("a", "b")
    assert k.target_rmse == 1e-12
    assert (k.input(0).lo, k.input(0).hi, k.input(1).lo, k.input(1).hi) == (0.5, 2.0, -3, -1)
    ops = Counter(n.op for n in k.nodes if isinstance(n, Op))
    assert ops == Counter(mul=4, add=5, sub=3, div=3, neg=2, sqrt=1)
    constants = sorted(n.value for n in k.nodes if isinstance(n, Const))
    assert constants == sorted(Fraction(v) for v in ("3/20", "2", "13/4", "100", "7", "3",
                                                     "15", "5/2"))
    inputs = sample_inputs(k, 25, seed=7)
    with mpmath.workprec(WORKING_BITS):
        for row, got in zip(inputs, exact_values(k, inputs), strict=True):
            want = constructs_mirror(mpmath.mpf(float(row[0])), mpmath.mpf(float(row[1])))
            assert_close(got, want)


@pytest.mark.parametrize(("literal", "value"), [
    ("1.1", Fraction(11, 10)),
    ("1.1f", Fraction(11, 10)),
    ("1.1F", Fraction(11, 10)),
    ("1.1L", Fraction(11, 10)),
    ("331.4", Fraction(3314, 10)),
    ("2.5e-3", Fraction(25, 10_000)),
    ("2.5E+3", Fraction(2500)),
    ("1e-3L", Fraction(1, 1000)),
    ("6.02214076e23f", Fraction(602214076) * 10**15),
    ("1.3806503e-23", Fraction(13806503, 10**30)),
    (".5", Fraction(1, 2)),
    ("5.", Fraction(5)),
    ("0.1", Fraction(1, 10)),
    ("7", Fraction(7)),
    ("10L", Fraction(10)),
    ("5u", Fraction(5)),
    ("017", Fraction(15)),
    ("0x1F", Fraction(31)),
    ("0x1.8p1", Fraction(3)),
    ("0", Fraction(0)),
])
def test_literals_are_kept_as_exact_decimals(literal: str, value: Fraction) -> None:
    k = kernel(ranges(x=(1, 2)) + f"double f(double x) {{\n    return x * {literal};\n}}\n")
    [const] = [n for n in k.nodes if isinstance(n, Const)]
    assert const.value == value
    # the text is an exact decimal that anything reading decimals (MPFR, gmpy2) agrees on
    assert Fraction(const.text) == value


def test_negative_literal_is_one_exact_constant() -> None:
    k = kernel(ranges(x=(1, 2)) + "double f(double x) {\n    return x * -0.1;\n}\n")
    assert [n.value for n in k.nodes if isinstance(n, Const)] == [Fraction(-1, 10)]
    assert [n.op for n in k.nodes if isinstance(n, Op)] == ["mul"]


FUNCTION_ARGS = {1: "x", 2: "x, y", 3: "x, y, z"}


@pytest.mark.parametrize("name", sorted(C_FUNCTIONS))
def test_every_c_function_matches_mpmath(name: str) -> None:
    spec = C_FUNCTIONS[name]
    source = (ranges(x=(0.1, 0.9), y=(0.2, 0.8), z=(0.3, 0.7))
              + "double f(double x, double y, double z) {\n"
              + f"    return {name}({FUNCTION_ARGS[spec.arity]});\n}}\n")
    k = kernel(source)
    [op] = [n for n in k.nodes if isinstance(n, Op)]
    assert op.op == spec.name
    assert (op.loc.line, op.loc.col) == (5, 12)
    inputs = sample_inputs(k, 20, seed=3)
    with mpmath.workprec(WORKING_BITS):
        for row, got in zip(inputs, exact_values(k, inputs), strict=True):
            args = [mpmath.mpf(float(v)) for v in row[: spec.arity]]
            assert_close(got, MPMATH[name](*args))


@pytest.mark.parametrize("benchmark_name", ["doppler1", "jet", "carbonGas", "sine"])
def test_benchmark_reference_matches_mpmath_mirror_of_ir(benchmark_name: str) -> None:
    from helpers import benchmark

    k = benchmark(benchmark_name)
    inputs = sample_inputs(k, 30, seed=11)
    with mpmath.workprec(WORKING_BITS):
        for row, got in zip(inputs, exact_values(k, inputs), strict=True):
            assert_close(got, ir_mirror(k, row))


# -- random expressions -------------------------------------------------------------------
# A tree is ("var", name) | ("const", text, value) | ("op", name, children). Only operations
# that are total on the reals are applied to arbitrary subtrees; sqrt, log, exp and division
# get guarded arguments so no sample can leave their domain.

VARIABLES = {"x": (0.5, 2.0), "y": (-2.0, -0.5)}


@st.composite
def literals(draw: st.DrawFn) -> tuple:
    whole = draw(st.integers(0, 3))
    frac = draw(st.text("0123456789", min_size=1, max_size=3))
    if whole == 0 and set(frac) == {"0"}:
        frac = "5"
    value = Fraction(f"{whole}.{frac}")
    style = draw(st.sampled_from(["plain", "exponent", "suffix_f", "suffix_L"]))
    text = {"plain": f"{whole}.{frac}",
            "exponent": f"{whole}{frac}e-{len(frac)}",
            "suffix_f": f"{whole}.{frac}f",
            "suffix_L": f"{whole}.{frac}e0L"}[style]
    return ("const", text, value)


LEAVES = st.one_of(st.sampled_from([("var", "x"), ("var", "y")]), literals())


def _op(name: str, *children: tuple) -> tuple:
    return ("op", name, tuple(children))


def _extend(children: st.SearchStrategy[tuple]) -> st.SearchStrategy[tuple]:
    binary = st.tuples(st.sampled_from(sorted(s.name for s in BINARY_OPERATORS.values()
                                              if s.name != "div")), children, children)
    total_unary = ["sin", "cos", "atan", "tanh", "cbrt", "fabs", "neg"]
    return st.one_of(
        binary.map(lambda t: _op(t[0], t[1], t[2])),
        st.tuples(children, children).map(
            lambda t: _op("div", t[0], _op("add", _op("fabs", t[1]), ("const", "0.5",
                                                                      Fraction(1, 2))))),
        st.tuples(st.sampled_from(total_unary), children).map(lambda t: _op(t[0], t[1])),
        children.map(lambda c: _op("sqrt", _op("fabs", c))),
        children.map(lambda c: _op("exp", _op("sin", c))),
        children.map(lambda c: _op("log", _op("add", _op("fabs", c),
                                              ("const", "1.0", Fraction(1))))),
        st.tuples(children, children).map(lambda t: _op("hypot", t[0], t[1])),
        st.tuples(children, children, children).map(lambda t: _op("fma", *t)),
    )


EXPRESSIONS = st.recursive(LEAVES, _extend, max_leaves=12)


def to_c(tree: tuple) -> str:
    """C text of a tree, spelled through the operation table."""
    if tree[0] == "var":
        return tree[1]
    if tree[0] == "const":
        return tree[1]
    spec = OPS[tree[1]]
    args = [to_c(c) for c in tree[2]]
    if spec.c_symbol is not None and spec.arity == 2:
        return f"({args[0]} {spec.c_symbol} {args[1]})"
    if spec.c_symbol is not None:
        return f"({spec.c_symbol}{args[0]})"
    return f"{spec.c_function}({', '.join(args)})"


def evaluate(tree: tuple, env: dict[str, mpmath.mpf], seen: list[mpmath.mpf]) -> mpmath.mpf:
    if tree[0] == "var":
        value = env[tree[1]]
    elif tree[0] == "const":
        value = mp_value(tree[2])
    else:
        value = MPMATH[tree[1]](*(evaluate(c, env, seen) for c in tree[2]))
    seen.append(value)
    return value


def count_ops(tree: tuple) -> int:
    if tree[0] != "op":
        return 0
    if tree[1] == "neg" and tree[2][0][0] == "const":
        return 0  # `-1.5` is one negative constant
    return 1 + sum(count_ops(c) for c in tree[2])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=EXPRESSIONS, seed=st.integers(0, 2**32 - 1))
def test_random_expressions_agree_with_mpmath(tree: tuple, seed: int) -> None:
    source = (ranges(**VARIABLES) + "double f(double x, double y) {\n"
              + f"    return {to_c(tree)};\n}}\n")
    k = kernel(source)
    assert sum(isinstance(n, Op) for n in k.nodes) == count_ops(tree)
    inputs = sample_inputs(k, 6, seed)
    with mpmath.workprec(WORKING_BITS):
        for row, got in zip(inputs, exact_values(k, inputs), strict=True):
            seen: list[mpmath.mpf] = []
            env = {"x": mpmath.mpf(float(row[0])), "y": mpmath.mpf(float(row[1]))}
            want = evaluate(tree, env, seen)
            # cancellation can only lose the reference's own 2^-256-relative roundings
            slack = mpmath.mpf(2) ** -250 * max(abs(v) for v in seen)
            assert_close(got, want, slack)


# -- sharing and locations ----------------------------------------------------------------

def ops_of(k: Kernel) -> list[tuple[int, Op]]:
    return [(i, n) for i, n in enumerate(k.nodes) if isinstance(n, Op)]


def test_local_used_twice_is_one_node_used_twice() -> None:
    k = kernel(ranges(x=(1, 2), y=(1, 2)) + "double f(double x, double y) {\n"
               "    double t = x * y;\n    return t + t;\n}\n")
    ops = ops_of(k)
    assert [n.op for _, n in ops] == ["mul", "add"]
    (mul_index, _), (_, add) = ops
    assert add.args == (mul_index, mul_index)
    assert k.output == ops[-1][0]


def test_parameter_used_twice_is_one_input_node() -> None:
    k = kernel(ranges(x=(1, 2)) + "double f(double x) {\n    return x * x;\n}\n")
    [(_, mul)] = ops_of(k)
    assert mul.args == (k.inputs[0], k.inputs[0])
    assert sum(isinstance(n, Input) for n in k.nodes) == 1


def test_reassignment_refers_to_the_previous_value() -> None:
    k = kernel(ranges(x=(1, 2)) + "double f(double x) {\n"
               "    double t = x + 1.0;\n    t = t * t;\n    t *= t;\n    return t;\n}\n")
    (add_i, _), (mul1_i, mul1), (mul2_i, mul2) = ops_of(k)
    assert mul1.args == (add_i, add_i)
    assert mul2.args == (mul1_i, mul1_i)
    assert k.output == mul2_i


def test_inner_block_shadows_and_assigns_outer() -> None:
    k = kernel(ranges(x=(1, 2)) + "double f(double x) {\n"
               "    double t = x * 2.0;\n"
               "    {\n        double t = x * 3.0;\n        x = t;\n    }\n"
               "    return t + x;\n}\n")
    ops = ops_of(k)
    assert [n.op for _, n in ops] == ["mul", "mul", "add"]
    assert ops[2][1].args == (ops[0][0], ops[1][0])


def loc_of(k: Kernel, op: str) -> list[tuple[int, int]]:
    return [(n.loc.line, n.loc.col) for n in k.nodes if isinstance(n, Op) and n.op == op]


def test_operator_locations_are_exact() -> None:
    #        123456789012345678901234567890
    body = ("    return (a * b) + c;\n")
    k = kernel(ranges(a=(1, 2), b=(1, 2), c=(1, 2))
               + "double f(double a, double b, double c) {\n" + body + "}\n")
    assert loc_of(k, "mul") == [(5, 15)]
    assert loc_of(k, "add") == [(5, 20)]
    assert all(n.loc.file == "k.c" for n in k.nodes if isinstance(n, Op))


def test_more_operator_locations() -> None:
    source = (ranges(a=(1, 2), b=(1, 2))
              + "double f(double a, double b) {\n"        # line 3
              + "    double t = -a / sqrt(b);\n"          # line 4: neg 16, div 19, sqrt 21
              + "    t += a*b;\n"                         # line 5: += 7, * 11
              + "    t -= (a\n"                           # line 6: -= 7
              + "          -\n"                           # line 7: - 11
              + "          b);\n"
              + "    return t / (double) a - (-b);\n"     # line 9: / 14, - 27, neg 30
              + "}\n")
    k = kernel(source)
    assert loc_of(k, "neg") == [(4, 16), (9, 30)]
    assert loc_of(k, "div") == [(4, 19), (9, 14)]
    assert loc_of(k, "sqrt") == [(4, 21)]
    assert loc_of(k, "mul") == [(5, 11)]
    assert loc_of(k, "add") == [(5, 7)]
    assert loc_of(k, "sub") == [(7, 11), (6, 7), (9, 27)]


def test_benchmark_locations_point_at_operators() -> None:
    from helpers import benchmark_path

    for name in ("verhulst", "doppler1", "jet", "turbine1"):
        k = kernel(benchmark_path(name).read_text(), name)
        lines = benchmark_path(name).read_text().split("\n")
        for _, op in ops_of(k):
            text = lines[op.loc.line - 1][op.loc.col - 1:]
            spec = op.spec
            spelled = spec.c_symbol if spec.c_function is None else spec.c_function
            assert text.startswith(spelled), (name, op, text)


# -- function selection and pragmas -------------------------------------------------------

TWO_FUNCTIONS = (ranges(x=(1, 2)) + "double f(double x) {\n    return x * 2.0;\n}\n"
                 + ranges(y=(3, 4)) + "#pragma precisec rmse(0.5)\n"
                 + "double g(double y) {\n    return y + 1.0;\n}\n")


def test_function_option_picks_the_kernel_and_its_pragmas() -> None:
    f = kernel(TWO_FUNCTIONS, function="f")
    g = kernel(TWO_FUNCTIONS, function="g")
    assert (f.name, f.input_names, f.target_rmse) == ("f", ("x",), None)
    assert (g.name, g.input_names, g.target_rmse) == ("g", ("y",), 0.5)
    assert (g.input(0).lo, g.input(0).hi) == (3, 4)
    with pytest.raises(PrecisecError, match=r"several (functions|candidate kernels)"):
        kernel(TWO_FUNCTIONS)
    with pytest.raises(PrecisecError, match="no function named 'h'"):
        kernel(TWO_FUNCTIONS, function="h")


def test_void_parameter_list_and_cast_to_double() -> None:
    k = kernel("double f(void) {\n    return (double) 1.5 * 2.0;\n}\n")
    assert k.inputs == ()
    assert [n.op for _, n in ops_of(k)] == ["mul"]
    assert float(exact(k, np.zeros((3, 0))).hi[0]) == 3.0
