"""The C frontend: every kernel the project ships parses to verified IR whose exact
interpretation agrees with an independent evaluation; straight-line kernels keep the old
frontend's site order and locations (Table 1); loops stay loops; every refusal is one
located error."""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from pathlib import Path

import gmpy2
import mpmath
import pytest
from hypothesis import given
from hypothesis import strategies as st

import precisec.frontend.c as c_frontend
from precisec.errors import PrecisecError
from precisec.frontend.c import load_c, parse_c
from precisec.ir import Cond, Eqn, Kernel, Lit, Loop, walk
from precisec.ops import C_FUNCTIONS, OPS
from precisec.semantics.interpret import run

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted((ROOT / "benchmarks_fptuner").glob("*.c"))
EXAMPLES = sorted((ROOT / "examples").glob("*.c"))
EXACT_BITS = 320


def kernel(source: str, function: str | None = None) -> Kernel:
    return parse_c(source, "k.c", function)


def ranges(**bounds: tuple[float, float]) -> str:
    return "".join(f"#pragma precisec range({name}, {lo!r}, {hi!r})\n"
                   for name, (lo, hi) in bounds.items())


def exact(k: Kernel, *point: float) -> list[Fraction]:
    """The kernel's exact results at a point (320-bit interpretation), as fractions."""
    results = run(k, list(point), exact_bits=EXACT_BITS).results
    return [Fraction(int(q.numerator), int(q.denominator))
            for q in (gmpy2.mpq(v) for v in results)]


def close(got: Fraction, want: Fraction | mpmath.mpf, scale: float = 1.0) -> bool:
    """Equal up to the 320-bit interpretation's roundings (relative to `scale`)."""
    with mpmath.workprec(600):
        if isinstance(want, Fraction):
            want = mpmath.mpf(want.numerator) / want.denominator
        error = abs(mpmath.mpf(got.numerator) / got.denominator - want)
        return bool(error <= mpmath.mpf(2) ** -280 * max(1, abs(want), scale))


def eqns(k: Kernel) -> list[Eqn]:
    return [s for s in walk(k.body) if isinstance(s, Eqn)]


def refusal(source: str, function: str | None = None) -> tuple[int, int, str]:
    with pytest.raises(PrecisecError) as info:
        parse_c(source, "k.c", function)
    err = info.value
    assert err.loc.file == "k.c"
    return err.loc.line, err.loc.col, err.message


# -- the shipped kernels -----------------------------------------------------------------

# (op, line, col) of every site of the 15 FPTuner kernels, in site order, from the old
# (unrolled-IR) frontend: Table 1's allocations are indexed by these.
OLD_SITES = {
    "carbonGas": "div@9:18 mul@10:30 mul@10:25 add@10:20 mul@10:47 sub@10:42 mul@10:37 "
                 "mul@10:72 mul@10:77 sub@10:54",
    "doppler1": "mul@7:30 add@7:23 add@8:19 mul@9:17 mul@9:27 div@9:22",
    "doppler2": "mul@7:30 add@7:23 add@8:19 mul@9:17 mul@9:27 div@9:22",
    "doppler3": "mul@7:30 add@7:23 add@8:19 mul@9:17 mul@9:27 div@9:22",
    "jet": "mul@6:20 mul@7:20 mul@8:24 mul@8:37 add@8:30 sub@8:44 add@8:56 div@8:50 mul@9:25 "
           "mul@9:31 sub@9:43 mul@9:37 mul@9:65 sub@9:71 mul@9:57 add@9:51 add@10:27 "
           "mul@10:21 mul@11:30 mul@11:36 add@11:22 add@11:43 add@11:49 mul@12:28 add@12:21 "
           "add@12:15",
    "predatorPrey": "div@5:19 mul@6:18 mul@6:23 add@6:41 add@6:35 div@6:28",
    "rigidBody1": "mul@7:20 mul@7:40 mul@7:34 sub@7:27 sub@7:48 sub@7:54",
    "rigidBody2": "mul@7:20 mul@7:26 mul@8:26 mul@8:20 mul@9:20 add@9:25 mul@9:36 sub@9:30 "
                  "add@9:42 sub@9:47",
    "sine": "mul@5:19 mul@6:20 mul@7:20 mul@8:20 div@9:22 sub@9:16 div@9:36 add@9:30 "
            "div@9:52 sub@9:46",
    "sineOrder3": "mul@5:19 mul@6:20 mul@7:31 mul@7:59 sub@7:36",
    "sqroot": "mul@5:19 mul@6:20 mul@7:20 mul@8:26 add@8:19 mul@8:41 sub@8:32 mul@8:58 "
              "add@8:48 mul@8:78 sub@8:65",
    "turbine1": "mul@7:19 mul@8:20 mul@8:25 sub@8:38 div@8:31 div@9:25 add@9:18 mul@9:56 "
                "sub@9:49 mul@9:42 mul@9:63 sub@9:32 sub@9:69",
    "turbine2": "mul@7:19 mul@8:20 mul@8:25 sub@8:38 div@8:31 mul@9:18 mul@9:31 mul@9:36 "
                "sub@9:23 sub@9:42",
    "turbine3": "mul@7:19 mul@8:20 mul@8:25 sub@8:38 div@8:31 div@9:25 sub@9:18 mul@9:56 "
                "add@9:49 mul@9:42 mul@9:63 sub@9:32 sub@9:69",
    "verhulst": "mul@5:17 div@5:34 add@5:29 div@5:22",
}


def test_every_benchmark_is_here() -> None:
    assert sorted(OLD_SITES) == [p.stem for p in BENCHMARKS]


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_sites_keep_the_old_order_and_locations(path: Path) -> None:
    k = load_c(path)
    sites = " ".join(f"{s.op}@{s.loc.line}:{s.loc.col}" for s in k.sites)
    assert sites == OLD_SITES[path.stem]
    assert all(s.loc.file == str(path) for s in k.sites)
    assert not any(isinstance(s, Loop | Cond) for s in walk(k.body))
    lines = path.read_text().split("\n")
    for site in k.sites:  # each site points at its operator's symbol
        assert lines[site.loc.line - 1][site.loc.col - 1:].startswith(OPS[site.op].c_symbol)


@pytest.mark.parametrize(("name", "sites", "branches", "loops"), [
    ("euler", 12, 0, 1), ("helper", 16, 0, 0), ("horner", 2, 0, 1), ("matvec", 2, 0, 2),
    ("piecewise", 18, 3, 0), ("saxpy_float", 6, 0, 1)])
def test_examples_have_one_site_per_source_operation(name: str, sites: int, branches: int,
                                                     loops: int) -> None:
    k = load_c(ROOT / "examples" / f"{name}.c")
    assert len(k.sites) == sites
    assert k.n_branches == branches
    assert sum(isinstance(s, Loop) for s in walk(k.body)) == loops


def test_doppler1_exact_value_is_the_formula() -> None:
    k = load_c(ROOT / "benchmarks_fptuner" / "doppler1.c")
    assert k.input_labels == ("u", "v", "T")
    assert k.target_rmse == 1.82e-13
    u, v, t = 12.5, 300.25, -7.75
    t1 = Fraction("331.4") + Fraction("0.6") * Fraction(t)
    s = t1 + Fraction(u)
    want = (-t1 * Fraction(v)) / (s * s)
    assert close(exact(k, u, v, t)[0], want)


def test_jet_literals_keep_their_decimal_text() -> None:
    k = load_c(ROOT / "benchmarks_fptuner" / "carbonGas.c")
    texts = {a.text for e in eqns(k) for a in e.args if isinstance(a, Lit)}
    assert texts == {"3.5E+7", "1.3806503E-23"}
    assert {Lit.real(t).value for t in texts} == {Fraction(35 * 10**6),
                                                 Fraction(13806503, 10**30)}


def test_horner_example_evaluates_the_polynomial() -> None:
    k = load_c(ROOT / "examples" / "horner.c")
    text = (ROOT / "examples" / "horner.c").read_text()
    coefficients = [Fraction(c) for c in
                    re.search(r"= \{(.*?)\}", text, re.DOTALL).group(1).split(",")]  # type: ignore[union-attr]
    x = Fraction(0.375)
    want = coefficients[10]
    for c in reversed(coefficients[:10]):
        want = want * x + c
    assert close(exact(k, 0.375)[0], want)


def test_euler_example_carries_two_values_through_one_loop() -> None:
    k = load_c(ROOT / "examples" / "euler.c")
    [loop] = [s for s in walk(k.body) if isinstance(s, Loop)]
    assert (loop.start, loop.step, loop.trips, len(loop.carried)) == (0, 1, 12, 2)
    x, v, mu = Fraction(0.5), Fraction(-0.25), Fraction(1.25)
    h = Fraction("0.05")
    for _ in range(12):
        a = mu * (1 - x * x) * v - x
        x, v = x + h * v, v + h * a
    want = x * x + v * v
    assert close(exact(k, 0.5, -0.25, 1.25)[0], want)


def test_matvec_example_writes_its_output_array() -> None:
    k = load_c(ROOT / "examples" / "matvec.c")
    assert k.input_labels[:2] == ("A[0][0]", "A[0][1]") and k.input_labels[-1] == "x[5]"
    assert k.result_labels == tuple(f"y[{i}]" for i in range(6))
    a = [[(i + 2 * j) / 8 - 1 for j in range(6)] for i in range(6)]
    x = [(3 - j) / 2 for j in range(6)]
    got = exact(k, *[v for row in a for v in row], *x)
    assert got == [sum((Fraction(a[i][j]) * Fraction(x[j]) for j in range(6)), Fraction(0))
                   for i in range(6)]


@pytest.mark.parametrize("x", [-1.5, 0.5, 1.75, 4.0, 5.5])
def test_piecewise_example_takes_each_branch(x: float) -> None:
    k = load_c(ROOT / "examples" / "piecewise.c")
    with mpmath.workprec(400):
        m = mpmath.mpf(x)
        if x < 0:
            y = m * m * (3 + m) / 4
        elif x <= 2:
            y = mpmath.sqrt(m + 1) - 1
        else:
            t = mpmath.log(m - 1)
            y = mpmath.sqrt(3) - 1 + t / (1 + t * t)
        want = y + mpmath.mpf("0.125") * (m - 5) if x > 5 else y
        assert close(exact(k, x)[0], want)
    taken = run(k, [x], exact_bits=EXACT_BITS).trace
    assert taken[0] == int(x < 0)


def test_helper_example_inlines_each_call_with_its_own_sites() -> None:
    k = load_c(ROOT / "examples" / "helper.c")
    sins = [s for s in k.sites if s.op == "sin"]
    assert len(sins) == 2 and sins[0].loc == sins[1].loc
    lat1, lon1, lat2, lon2 = 0.25, -0.5, -0.125, 0.75
    with mpmath.workprec(400):
        def haversin(t: mpmath.mpf) -> mpmath.mpf:
            return mpmath.sin(t / 2) ** 2
        a, b, c, d = map(mpmath.mpf, (lat1, lon1, lat2, lon2))
        h = haversin(c - a) + mpmath.cos(a) * mpmath.cos(c) * haversin(d - b)
        assert close(exact(k, lat1, lon1, lat2, lon2)[0], 2 * mpmath.asin(mpmath.sqrt(h)))


def test_float_example_is_a_float_kernel() -> None:
    k = load_c(ROOT / "examples" / "saxpy_float.c")
    assert k.precision == "float" and k.baseline_bits == 24
    a, w = 1.5, [k / 8 for k in range(8)]
    want = Fraction(0)
    for wi in map(Fraction, w):
        want += (Fraction(a) * wi + 1) / (1 + wi * wi)
    assert close(exact(k, a, *w)[0], want)


# -- expressions, literals, sharing, locations ---------------------------------------------

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


def test_every_straight_line_construct() -> None:
    k = kernel(CONSTRUCTS)
    assert (k.name, k.input_labels, k.target_rmse) == ("construct", ("a", "b"), 1e-12)
    assert (k.lows, k.highs) == ((0.5, -3.0), (2.0, -1.0))
    assert Counter(s.op for s in k.sites) == Counter(mul=4, add=5, sub=3, div=3, sqrt=1)
    assert Counter(e.op for e in eqns(k) if e.site is None) == Counter(neg=2, copy=1)
    a, b = Fraction(1.25), Fraction(-2.5)
    u = a * Fraction(15, 100)
    t = (a + b) * -u + Fraction(13, 4) - 100 / a
    t = t * (u - 2) / 7
    inner = t / b
    t, u = inner + 3 + 15, -inner
    with mpmath.workprec(600):
        rest = t - u
        want = mpmath.mpf(rest.numerator) / rest.denominator + mpmath.sqrt(1.25) * 2.5
        assert close(exact(k, 1.25, -2.5)[0], want)


@pytest.mark.parametrize(("literal", "value"), [
    ("1.1", Fraction(11, 10)), ("1.1f", Fraction(11, 10)), ("1.1L", Fraction(11, 10)),
    ("331.4", Fraction(3314, 10)), ("2.5e-3", Fraction(25, 10_000)), ("2.5E+3", 2500),
    ("6.02214076e23f", Fraction(602214076) * 10**15), (".5", Fraction(1, 2)), ("5.", 5),
    ("7", 7), ("10L", 10), ("5u", 5), ("017", 15), ("0x1F", 31), ("0x1.8p1", 3),
    ("0x.8p-2", Fraction(1, 8)), ("0", 0), ("-0.1", Fraction(-1, 10))])
def test_literals_are_kept_as_exact_decimals(literal: str, value: Fraction) -> None:
    k = kernel(ranges(x=(1, 2)) + f"double f(double x) {{\n    return x * {literal};\n}}\n")
    [mul] = eqns(k)
    assert mul.op == "mul" and isinstance(mul.args[1], Lit)
    assert mul.args[1].value == value


def test_a_variable_used_twice_is_one_value() -> None:
    k = kernel(ranges(x=(1, 2), y=(1, 2)) + "double f(double x, double y) {\n"
               "    double t = x * y;\n    t = t + t;\n    t *= t;\n    return t;\n}\n")
    mul, add, square = eqns(k)
    assert add.args == (mul.out, mul.out) and square.args == (add.out, add.out)
    assert k.body.results == (square.out,)
    assert mul.args == tuple(k.body.params)


def test_inner_block_shadows_and_assigns_outer() -> None:
    k = kernel(ranges(x=(1, 2)) + "double f(double x) {\n    double t = x * 2.0;\n"
               "    {\n        double t = x * 3.0;\n        x = t;\n    }\n"
               "    return t + x;\n}\n")
    first, second, add = eqns(k)
    assert add.args == (first.out, second.out)


def test_operator_locations() -> None:
    source = (ranges(a=(1, 2), b=(1, 2))
              + "double f(double a, double b) {\n"        # line 3
              + "    double t = -a / sqrt(b);\n"          # neg 16, div 19, sqrt 21
              + "    t += a*b;\n"                         # += 7, * 11
              + "    t -= (a\n"                           # -= 7
              + "          -\n"                           # - 11
              + "          b);\n"
              + "    return t / (double) a - (-b);\n"     # / 14, - 27, neg 30
              + "}\n")
    k = kernel(source)
    places = [(e.op, e.loc.line, e.loc.col) for e in eqns(k)]
    assert places == [("neg", 4, 16), ("sqrt", 4, 21), ("div", 4, 19), ("mul", 5, 11),
                      ("add", 5, 7), ("sub", 7, 11), ("sub", 6, 7), ("div", 9, 14),
                      ("neg", 9, 30), ("sub", 9, 27)]
    assert len(k.sites) == 8


def test_macro_operations_sit_at_the_macro_use() -> None:
    k = kernel("#define TWICE_X (2.0 * x)\n" + ranges(x=(1, 2))
               + "double f(double x) {\n    return x + TWICE_X;\n}\n")
    assert [(s.op, s.loc.line, s.loc.col) for s in k.sites] == [("mul", 4, 16), ("add", 4, 14)]


@pytest.mark.parametrize("name", sorted(C_FUNCTIONS))
def test_every_libm_function(name: str) -> None:
    spec = C_FUNCTIONS[name]
    args = ", ".join("xyz"[:spec.arity])
    k = kernel(ranges(x=(0.1, 0.9), y=(0.2, 0.8), z=(0.3, 0.7))
               + f"double f(double x, double y, double z) {{\n    return {name}({args});\n}}\n")
    [call] = eqns(k)
    assert (call.op, call.loc.line, call.loc.col) == (spec.name, 5, 12)
    assert (call.site is not None) == spec.rounds


def test_float_kernels_take_the_f_spellings() -> None:
    k = kernel(ranges(x=(1, 2)) + "float f(float x) {\n    return sqrtf(x) + fabsf(x) * 1.5f;\n}\n")
    assert [e.op for e in eqns(k)] == ["sqrt", "fabs", "mul", "add"]
    assert k.precision == "float"


# -- random expressions against mpmath -----------------------------------------------------

MPMATH = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "neg": lambda a: -a, "fabs": mpmath.fabs,
    "sqrt": mpmath.sqrt, "exp": mpmath.exp, "log": mpmath.log, "sin": mpmath.sin,
    "cos": mpmath.cos, "atan": mpmath.atan, "tanh": mpmath.tanh,
    "cbrt": lambda a: mpmath.sign(a) * mpmath.cbrt(abs(a)), "hypot": mpmath.hypot,
    "fma": lambda a, b, c: a * b + c, "fmin": min, "fmax": max,
}


@st.composite
def literals(draw: st.DrawFn) -> tuple:
    whole = draw(st.integers(0, 3))
    frac = draw(st.text("0123456789", min_size=1, max_size=3))
    value = Fraction(f"{whole}.{frac}") or Fraction(1, 2)
    text = draw(st.sampled_from([f"{value.numerator}.0/{value.denominator}",
                                 f"{whole}.{frac}", f"{whole}{frac}e-{len(frac)}",
                                 f"{whole}.{frac}f", str(draw(st.integers(1, 9)))]))
    if "/" in text:
        text = f"{whole}.{frac}"
    if text.isdigit():
        value = Fraction(int(text))
    elif value == Fraction(1, 2) and Fraction(f"{whole}.{frac}") == 0:
        text = "0.5"
    return ("const", text, value)


def _op(name: str, *children: tuple) -> tuple:
    return ("op", name, children)


def _extend(children: st.SearchStrategy[tuple]) -> st.SearchStrategy[tuple]:
    half = ("const", "0.5", Fraction(1, 2))
    return st.one_of(
        st.tuples(st.sampled_from(["add", "sub", "mul"]), children, children).map(
            lambda t: _op(*t)),
        st.tuples(children, children).map(
            lambda t: _op("div", t[0], _op("add", _op("fabs", t[1]), half))),
        st.tuples(st.sampled_from(["sin", "cos", "atan", "tanh", "cbrt", "fabs", "neg"]),
                  children).map(lambda t: _op(*t)),
        children.map(lambda c: _op("sqrt", _op("fabs", c))),
        children.map(lambda c: _op("exp", _op("sin", c))),
        children.map(lambda c: _op("log", _op("add", _op("fabs", c), half))),
        st.tuples(st.sampled_from(["hypot", "fmin", "fmax"]), children, children).map(
            lambda t: _op(*t)),
        st.tuples(children, children, children).map(lambda t: _op("fma", *t)),
    )


EXPRESSIONS = st.recursive(st.one_of(st.sampled_from([("var", "x"), ("var", "y")]),
                                     literals()), _extend, max_leaves=12)


def to_c(tree: tuple) -> str:
    if tree[0] != "op":
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
        value = mpmath.mpf(tree[2].numerator) / tree[2].denominator
    else:
        value = MPMATH[tree[1]](*(evaluate(c, env, seen) for c in tree[2]))
    seen.append(value)
    return value


def integral(tree: tuple) -> bool:
    """Whether C types the tree as an int (then it computes it exactly, no site)."""
    if tree[0] != "op":
        return tree[1].isdigit()
    return tree[1] in ("add", "sub", "mul", "neg") and all(integral(c) for c in tree[2])


def rounding(tree: tuple) -> int:
    if tree[0] != "op" or integral(tree):
        return 0
    return int(OPS[tree[1]].rounds) + sum(rounding(c) for c in tree[2])


@given(tree=EXPRESSIONS, x=st.floats(0.5, 2.0), y=st.floats(-2.0, -0.5))
def test_random_expressions_agree_with_mpmath(tree: tuple, x: float, y: float) -> None:
    k = kernel(ranges(x=(0.5, 2.0), y=(-2.0, -0.5)) + "double f(double x, double y) {\n"
               + f"    return {to_c(tree)};\n}}\n")
    assert len(k.sites) == rounding(tree)
    [got] = exact(k, x, y)
    with mpmath.workprec(600):
        seen: list[mpmath.mpf] = []
        want = evaluate(tree, {"x": mpmath.mpf(x), "y": mpmath.mpf(y)}, seen)
        assert close(got, want, float(max(abs(v) for v in seen)))


# -- loops ------------------------------------------------------------------------------------

def loops(k: Kernel) -> list[Loop]:
    return [s for s in walk(k.body) if isinstance(s, Loop)]


@given(start=st.integers(-12, 12), bound=st.integers(-12, 12),
       step=st.sampled_from([1, 2, 3, -1, -2, -3]), cmp=st.sampled_from(["<", "<=", ">", ">=",
                                                                         "!="]),
       spelling=st.integers(0, 2), reverse=st.booleans())
def test_counted_loops_run_as_c_runs_them(start: int, bound: int, step: int, cmp: str,
                                          spelling: int, reverse: bool) -> None:
    values, i = [], start
    while eval(f"{i} {cmp} {bound}") and len(values) < 100:
        values.append(i)
        i += step
    ends = len(values) < 100
    if step in (1, -1) and spelling < 2:
        update = ("i++", "++i")[spelling] if step == 1 else ("i--", "--i")[spelling]
    else:
        update = f"i += {step}" if step > 0 else f"i -= {-step}"
    flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "!=": "!="}[cmp]
    test = f"{bound} {flipped} i" if reverse else f"i {cmp} {bound}"
    source = (ranges(x=(1, 2)) + "double f(double x) {\n    double s = x;\n"
              f"    for (int i = {start}; {test}; {update}) {{\n        s = s + i * x;\n"
              "    }\n    return s;\n}\n")
    if not ends:
        line, col, message = refusal(source)
        assert (line, col) == (4, 5) and "never ends" in message
        return
    k = kernel(source)
    assert [(lp.start, lp.step, lp.trips) for lp in loops(k)] == \
        ([(start, step, len(values))] if values else [])
    assert exact(k, 1.5) == [Fraction(3, 2) * (1 + sum(values))]


def test_integrator_is_one_loop_of_a_thousand_steps() -> None:
    source = ("#define STEPS 1000\n" + ranges(x0=(0.5, 1.5), y0=(0.5, 1.5))
              + "double lotka(double x0, double y0) {\n    double x = x0;\n    double y = y0;\n"
              "    for (int n = 0; n < STEPS; n++) {\n"
              "        double dx = x * (1.1 - 0.4 * y);\n"
              "        double dy = y * (0.1 * x - 0.4);\n"
              "        x = x + 0.01 * dx;\n        y = y + 0.01 * dy;\n    }\n"
              "    return x + y;\n}\n")
    k = kernel(source)
    [loop] = loops(k)
    assert (loop.trips, len(loop.carried), len(k.sites)) == (1000, 2, 11)


def test_counter_declared_before_the_loop_keeps_its_final_value() -> None:
    k = kernel(ranges(x=(1, 2)) + "double f(double x) {\n    int i;\n"
               "    for (i = 10; i > 0; i -= 3) x = x * 2.0;\n    return x + i;\n}\n")
    assert [lp.trips for lp in loops(k)] == [4]  # i = 10, 7, 4, 1; then -2
    assert exact(k, 1.5) == [Fraction(3, 2) * 16 - 2]


def test_counters_index_arrays_and_convert_to_reals() -> None:
    source = ("#define N 5\n" + ranges(h=(0.5, 1.0))
              + "void f(double h, double out[N]) {\n"
              "    const int last = N - 1;\n"
              "    for (int i = 0; i < N; i++) {\n"
              "        int j = last - i;\n"
              "        out[j] = (i + 1) * h + j / 2;\n"
              "    }\n}\n")
    k = kernel(source)
    assert {e.op for e in eqns(k)} >= {"isub", "iadd", "idiv", "itof", "store"}
    assert exact(k, 0.75) == [Fraction(3, 4) * (5 - j) + j // 2 for j in range(5)]


def test_nested_loops_with_dependent_indices() -> None:
    source = ("#define N 4\n#pragma precisec range(a[], 0, 1)\n"
              "void f(const double a[N], double out[N]) {\n"
              "    double c[N] = {1.0, 2.0};\n"
              "    for (int i = N - 1; i >= 0; i -= 1)\n"
              "        for (int k = 0; k <= i; k++)\n"
              "            out[i] += a[i - k] * c[k % 2];\n}\n")
    line, col, message = refusal(source)
    assert "compile time" in message and (line, col) == (6, 30)
    source = source.replace("k <= i", "k < N").replace("a[i - k]", "a[(i + k) % N]")
    k = kernel(source)
    assert len(loops(k)) == 2 and k.input_labels == ("a[0]", "a[1]", "a[2]", "a[3]")
    a = [0.5, 0.25, 0.125, 1.0]
    want = [sum((Fraction(a[(i + m) % 4]) * [1, 2][m % 2] for m in range(4)), Fraction(0))
            for i in range(4)]
    assert exact(k, *a) == want


def test_heat_stencil_keeps_its_loops() -> None:
    source = """#define N 64
#define T 100
#pragma precisec range(u0[], 0, 1)
#pragma precisec rmse(1e-10)
void heat(const double u0[N], double out[N]) {
    double u[N];
    double v[N];
    for (int i = 0; i < N; i++) u[i] = u0[i];
    for (int t = 0; t < T; t++) {
        v[0] = u[0];
        v[N - 1] = u[N - 1];
        for (int i = 1; i < N - 1; i++) v[i] = u[i] + 0.25 * (u[i - 1] - 2.0 * u[i] + u[i + 1]);
        for (int i = 0; i < N; i++) u[i] = v[i];
    }
    for (int i = 0; i < N; i++) out[i] = u[i];
}
"""
    k = kernel(source)
    assert len(k.sites) == 5 and len(loops(k)) == 5
    assert [e.op for e in eqns(k)][:2] == ["zeros", "zeros"]
    point = [(7 * i % 64) / 64 for i in range(64)]
    u = [Fraction(p) for p in point]
    for _ in range(3):
        u = [u[0], *(u[i] + (u[i - 1] - 2 * u[i] + u[i + 1]) / 4 for i in range(1, 63)),
             u[63]]
    small = kernel(source.replace("#define T 100", "#define T 3"))
    assert exact(small, *point) == u


def test_scale_kernels_parse() -> None:
    chain = "".join(f"    p = p * x + 0.{k % 90 + 10};\n" for k in range(2000))
    k = kernel(ranges(x=(-0.5, 0.5)) + f"double f(double x) {{\n    double p = 1.0;\n{chain}"
               "    return p;\n}\n")
    assert len(k.sites) == 4000
    temps = "".join(f"    double t{i + 1} = t{i} * x + t{i // 2};\n" for i in range(2000))
    k = kernel(ranges(x=(0, 1)) + f"double f(double x) {{\n    double t0 = x;\n{temps}"
               "    return t2000;\n}\n")
    assert len(k.sites) == 4000
    deep = "(" * 500 + "x*x+1.5" + ")*x+1.5" * 500
    k = kernel(ranges(x=(0, 1)) + f"double f(double x) {{\n    return {deep};\n}}\n")
    assert len(k.sites) == 1002
    assert k.sites[-1].loc.col == len("    return ") + len(deep) - 3


def test_nesting_beyond_the_recursion_limit_is_a_located_refusal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c_frontend, "MAX_DEPTH", 0)
    deep = "(" * 3000 + "x" + "+x)" * 3000
    line, col, message = refusal(ranges(x=(0, 1)) + f"double f(double x) {{ return {deep}; }}")
    assert (line, col) == (1, 1) and "too deeply" in message


# -- arrays ------------------------------------------------------------------------------------

def test_local_array_initialisers_flat_and_nested() -> None:
    k = kernel(ranges(x=(1, 2)) + "double f(double x) {\n"
               "    const double c[2][3] = {{1.5, 2}, {x}};\n"
               "    double d[4] = {0.25, x};\n"
               "    return c[0][1] + c[1][0] * d[1] + c[1][2] + d[3];\n}\n")
    stores = [e for e in eqns(k) if e.op == "store"]
    assert len(stores) == 5
    assert exact(k, 1.5) == [Fraction(2) + Fraction(9, 4)]


def test_element_ranges_override_the_array_range() -> None:
    k = kernel("#pragma precisec range(w[], 0, 1)\n#pragma precisec range(w[1][0], -4, 4)\n"
               "double f(const double w[2][2]) {\n    return w[1][0] * w[0][1];\n}\n")
    assert k.input_labels == ("w[0][0]", "w[0][1]", "w[1][0]", "w[1][1]")
    assert (k.lows, k.highs) == ((0, 0, -4, 0), (1, 1, 4, 1))


def test_kernel_may_return_and_write_outputs() -> None:
    k = kernel(ranges(x=(1, 2)) + "double f(double x, double y[2]) {\n"
               "    y[0] = x;\n    y[1] = y[0] * x;\n    return y[1] + 1;\n}\n")
    assert k.result_labels == ("return", "y[0]", "y[1]")
    assert exact(k, 1.5) == [Fraction(13, 4), Fraction(3, 2), Fraction(9, 4)]


# -- branches ----------------------------------------------------------------------------------

def test_if_merges_what_either_side_assigns() -> None:
    k = kernel(ranges(x=(-2, 2)) + "double f(double x) {\n"
               "    double a = x;\n    double b = 1.0;\n    double c;\n"
               "    if (x < 0.0 && !(x == -1.0) || x > 1.5) {\n"
               "        a = -x;\n        c = 2.0;\n"
               "    } else {\n        b = x * x;\n        c = 3.0;\n    }\n"
               "    return a + b * c;\n}\n")
    [cond] = [s for s in walk(k.body) if isinstance(s, Cond)]
    assert len(cond.outs) == 3
    assert {e.op for e in eqns(k)} >= {"lt", "eq", "not", "and", "gt", "or"}
    for x in (-1.5, -1.0, 0.5, 1.75):
        a, b, c = (-x, 1.0, 2.0) if (x < 0 and x != -1) or x > 1.5 else (x, x * x, 3.0)
        assert exact(k, x) == [Fraction(a) + Fraction(b) * Fraction(c)]


def test_returns_in_branches_and_early_returns() -> None:
    source = (ranges(x=(-2, 2)) + "double f(double x) {\n"
              "    if (x < -1.0) return -x;\n"
              "    double y = x * 2.0;\n"
              "    if (y > 2.0) { return y; } else if (y > 0.0) return y * y;\n"
              "    return y > -1.0 ? 1.0 : y;\n}\n")
    k = kernel(source)
    assert k.n_branches == 4
    for x, want in ((-1.5, 1.5), (1.5, 3), (0.25, 0.25), (-0.25, 1), (-0.75, -1.5)):
        assert exact(k, x) == [Fraction(want)]


def test_compile_time_conditions_are_folded() -> None:
    k = kernel("#define MODE 2\n" + ranges(x=(1, 2)) + "double f(double x) {\n"
               "    const int n = 3;\n"
               "    if (MODE == 2 && n > 1 || x < 0.0) x = x * 2.0; else x = x * 3.0;\n"
               "    return n % 2 ? x : -x;\n}\n")
    assert k.n_branches == 0 and [s.op for s in k.sites] == ["mul"]


def test_counter_dependent_branch_and_int_merge() -> None:
    k = kernel("#define N 6\n" + ranges(x=(1, 2)) + "void f(double x, double out[N]) {\n"
               "    for (int i = 0; i < N; i++) {\n"
               "        int j = i;\n"
               "        if (i % 2 == 0) j = N - 1 - i;\n"
               "        out[j] = x * i;\n    }\n}\n")
    assert exact(k, 2.0) == [0, 8, 0, 6, 0, 10]  # out[j] for i = 0..5: j = 5, 1, 3, 3, 1, 5


CONDITIONS = st.recursive(
    st.tuples(st.sampled_from(["x", "y"]), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
              st.sampled_from(["-1.0", "0.0", "0.5", "y", "1", "2.5"])).map(" ".join),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["&&", "||"]), inner).map(lambda t: f"({' '.join(t)})"),
        inner.map(lambda c: f"!({c})")),
    max_leaves=6)


@given(cond=CONDITIONS, x=st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.5]),
       y=st.sampled_from([-1.0, 0.5, 2.5]))
def test_conditions_decide_as_c_does(cond: str, x: float, y: float) -> None:
    k = kernel(ranges(x=(-2, 3), y=(-2, 3)) + "double f(double x, double y) {\n"
               "    double r = 3.0;\n"
               f"    if ({cond}) r = x; else if (x > y) r = y;\n"
               f"    return ({cond}) ? r * 2.0 : r;\n}}\n")
    python = cond.replace("&&", " and ").replace("||", " or ").replace("!=", "<>")
    python = python.replace("!", " not ").replace("<>", "!=")
    taken = eval(python, {"x": x, "y": y})
    r = x if taken else (y if x > y else 3.0)
    assert exact(k, x, y) == [Fraction(r) * (2 if taken else 1)]
    assert k.n_branches == 3


# -- helpers -----------------------------------------------------------------------------------

def test_helpers_with_int_parameters_loops_and_branches() -> None:
    source = (ranges(x=(0.5, 1.5)) + "static double power(double b, int n) {\n"
              "    double p = 1.0;\n"
              "    for (int k = 0; k < n; k++) p = p * b;\n"
              "    return p;\n}\n"
              "double clamp(double v) {\n    if (v > 1.0) return 1.0;\n    return v;\n}\n"
              "double f(double x) {\n    return clamp(power(x, 3)) + power(x, 2);\n}\n")
    k = kernel(source)
    assert k.name == "f" and len(loops(k)) == 2 and k.n_branches == 1
    assert len(k.sites) == 3
    for x in (0.75, 1.25):
        assert exact(k, x) == [min(Fraction(x) ** 3, Fraction(1)) + Fraction(x) ** 2]


def test_function_option_and_pragma_ownership() -> None:
    source = (ranges(x=(1, 2)) + "double f(double x) {\n    return x * 2.0;\n}\n"
              + ranges(y=(3, 4)) + "#pragma precisec rmse(0.5)\n"
              + "double g(double y) {\n    return y + 1.0;\n}\n")
    f, g = kernel(source, "f"), kernel(source, "g")
    assert (f.name, f.input_labels, f.target_rmse) == ("f", ("x",), None)
    assert (g.name, g.input_labels, g.target_rmse, g.lows) == ("g", ("y",), 0.5, (3.0,))
    line, col, message = refusal(source)
    assert (line, col) == (7, 8) and "several candidate kernels" in message
    assert "no function named 'h'" in refusal(source, "h")[2]


# -- the issue's tricky cases ------------------------------------------------------------------

def test_line_comment_with_backslash_swallows_the_next_statement() -> None:
    k = kernel(ranges(y=(1, 2)) + "double f(double y) {\n"
               "    y = y + 1.0; // scale \\\n    y = y * 1000.0;\n    return y;\n}\n")
    assert [s.op for s in k.sites] == ["add"]


def test_define_redefined_after_the_function_does_not_affect_it() -> None:
    k = kernel("#define C 2.0\n" + ranges(x=(1, 2))
               + "double f(double x) {\n    return x * C;\n}\n#undef C\n#define C 3.0\n")
    assert exact(k, 1.5) == [3]


def test_mpfr_macros_are_harmless_and_mpfr_names_refused() -> None:
    k = kernel("#define MPFR_RNDN MPFR_RNDZ\n" + ranges(x=(1, 2))
               + "double f(double x) {\n    return x * 2.0;\n}\n")
    assert len(k.sites) == 1
    source = "#pragma precisec range(MPFR_RNDN, 1, 2)\ndouble f(double MPFR_RNDN) {\n" \
             "    return MPFR_RNDN;\n}\n"
    line, col, message = refusal(source)
    assert (line, col) == (2, 17) and "reserved" in message


# -- refusals ----------------------------------------------------------------------------------


PIECES = ["(", ")", "{", "}", "[", "]", ";", ",", "=", "+=", "++", "*", "&", "-", "<", "&&",
          "!", "?", ":", "0", "1.5", "x", "i", "N", "int", "double", "float", "const",
          "return", "if", "else", "for", "while", "struct S { double a; };", "\\\n", "//",
          "/*", "#define Q 3\n", "#if 0\n", "'a'", '"s"', "sizeof", "sqrt", "u[0]", "MPFR_x"]


@given(which=st.integers(0, len(EXAMPLES) + len(BENCHMARKS) - 1),
       edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.booleans(),
                                st.sampled_from(PIECES)), min_size=1, max_size=4))
def test_mutated_kernels_parse_or_get_one_located_error(
        which: int, edits: list[tuple[float, bool, str]]) -> None:
    text = [*EXAMPLES, *BENCHMARKS][which].read_text()
    for where, delete, piece in edits:
        cut = int(where * len(text))
        text = text[:cut] + ("" if delete else piece) + text[cut + (1 if delete else 0):]
    try:
        parse_c(text, "k.c")
    except PrecisecError as err:
        assert err.loc.file == "k.c" and err.loc.line >= 1 and err.loc.col >= 1

HEAD = ranges(x=(1, 2), y=(1, 2)) + "#pragma precisec rmse(1e-10)\n"
F = "double f(double x, double y) {\n"
END = "    return y;\n}\n"
MARK = "@"

REFUSALS = {
    "break in while": (HEAD + F + "    while (x < y) { @break; }\n" + END, "break"),
    "continue in while": (HEAD + F + "    while (x < y) @continue;\n" + END, "continue"),
    "int in while": (HEAD + F + "    int n = 0;\n    while (x < y) { x = x * 2.0; @n = n + 1; }\n"
                     + END, "int 'n' is assigned inside a loop"),
    "return in while": (HEAD + F + "    while (x < y) @return x;\n" + END,
                        "return inside a loop"),
    "do-while": (HEAD + F + "    @do { x = x * 2.0; } while (x < y);\n" + END, "do-while"),
    "goto": (HEAD + F + "    @goto end;\nend:\n" + END, "goto"),
    "label": (HEAD + F + "    @end: x = y;\n" + END, "labels"),
    "switch": (HEAD + F + "    @switch (1) { default: x = y; }\n" + END, "switch"),
    "break": (HEAD + F + "    for (int i = 0; i < 2; i++) { @break; }\n" + END, "break"),
    "continue": (HEAD + F + "    for (int i = 0; i < 2; i++) @continue;\n" + END, "continue"),
    "pointer parameter": (HEAD + "double f(double @*x, double y) {\n" + END, "pointers"),
    "pointer local": (HEAD + F + "    double @*p;\n" + END, "pointers"),
    "dereference": (HEAD + F + "    return @*x;\n}\n", "pointers"),
    "struct local": (HEAD + F + "    struct S @s;\n" + END, "structs"),
    "struct type": ("struct @P { double a; };\n" + HEAD + F + END, "structs"),
    "global": ("double @g;\n" + HEAD + F + END, "global variable 'g'"),
    "typedef": ("typedef double @real;\n" + HEAD + F + END, "typedefs"),
    "int parameter": (HEAD + "double f(int @x, double y) {\n" + END, "int parameters"),
    "K&R parameters": (HEAD + "double @f(x, y) double x; double y; {\n" + END, "K&R"),
    "mixed signature": (HEAD + "double @f(double x, float y) {\n" + END, "mixing float"),
    "float local": (HEAD + F + "    float @t = x;\n" + END, "mixing float and double"),
    "unknown function": (HEAD + F + "    return @foo(x);\n}\n", "unknown function 'foo'"),
    "wrong arity": (HEAD + F + "    return @sqrt(x, y);\n}\n", "'sqrt' takes 1"),
    "recursion": (HEAD + F + "    return @f(x, y);\n}\n", "recursion"),
    "reserved local": (HEAD + F + "    double @pc_t = x;\n" + END, "reserved"),
    "reserved helper": (HEAD + "double @mpfr_sq(double t) { return t * t; }\n" + F
                        + "    return mpfr_sq(x);\n}\n", "reserved"),
    "reserved counter": (HEAD + F + "    for (int @gmp_i = 0; gmp_i < 2; gmp_i++) x = y;\n"
                         + END, "reserved"),
    "return in a loop": (HEAD + F + "    for (int i = 0; i < 2; i++) @return x;\n" + END,
                         "return inside a loop"),
    "data-dependent bound": (HEAD + F + "    for (int i = 0; i < @x; i++) y = y * x;\n" + END,
                             "loop bound"),
    "counter assigned": (HEAD + F + "    for (int i = 0; i < 4; i++) @i = 2;\n" + END,
                         "counter 'i'"),
    "outer int in a loop": (HEAD + F + "    int k = 0;\n    for (int i = 0; i < 4; i++) @k++;\n"
                            + END, "declared outside"),
    "never ends": (HEAD + F + "    @for (int i = 0; i < 4; i--) x = y;\n" + END, "never ends"),
    "no counter": (HEAD + F + "    @for (;;) {}\n" + END, "loop step"),
    "index out of bounds": (HEAD + F + "    double a[2];\n    @a[5] = x;\n" + END,
                            "out of bounds"),
    "loop index out of bounds": (HEAD + F + "    double a[4];\n"
                                 "    for (int i = 0; i <= 4; i++) @a[i] = x;\n" + END,
                                 "index in 0..4 is out of bounds"),
    "real index": (HEAD + F + "    double a[4] = {1.0};\n    return a[@x];\n}\n", "integer"),
    "read before write": (HEAD + F + "    double a[2];\n    a[0] = x;\n    return @a[1];\n}\n",
                          "a[1] is used before it is assigned"),
    "output read before write": (HEAD + "void f(double x, double y, double out[2]) {\n"
                                 "    out[1] = x;\n    @out[0] += y;\n}\n",
                                 "out[0] is used before"),
    "output never assigned": (HEAD + "void @f(double x, double y, double out[2]) {\n"
                              "    out[0] = x * y;\n}\n", "out[1] is never assigned"),
    "const element assigned": ("#pragma precisec range(a[], 0, 1)\n"
                               "double f(const double a[2]) {\n    @a[0] = 1.0;\n"
                               "    return a[1];\n}\n", "const array"),
    "whole array": (HEAD + F + "    double a[2] = {1.0};\n    @a = x;\n" + END, "as a whole"),
    "syntax error": (HEAD + F + "    return x +@;\n}\n", "syntax error"),
    "unclosed brace": (HEAD + F + "    return y@;\n", "end of input"),
    "extra brace": (HEAD + F + END + "@}\n", "unmatched '}'"),
    "#if": ("@#if 1\n" + HEAD + F + END + "#endif\n", "'#if' is not supported"),
    "comparison as a number": (HEAD + F + "    return x @< y;\n}\n", "comparison '<'"),
    "real condition": (HEAD + F + "    if (@x) return x;\n" + END, "must be a comparison"),
    "modulo on reals": (HEAD + F + "    return x @% y;\n}\n", "'%'"),
    "missing return": (HEAD + "double @f(double x, double y) {\n    double t = x;\n}\n",
                       "no return statement"),
    "one-sided return": (HEAD + F + "    @if (x < y) return x;\n}\n", "only one branch"),
    "undeclared": (HEAD + F + "    return x + @z;\n}\n", "undeclared identifier 'z'"),
    "use before assignment": (HEAD + F + "    double t;\n    return @t;\n}\n",
                              "'t' is used before it is assigned"),
    "statement after return": (HEAD + F + "    return y;\n    @x = y;\n}\n", "after return"),
    "call statement": (HEAD + F + "    @sqrt(x);\n" + END, "calls as statements"),
    "missing range": (ranges(x=(1, 2)) + "double f(double x, double @y) {\n" + END,
                      "'y' has no range"),
    "unused range": (HEAD + "#pragma precisec @range(z, 0, 1)\n" + F + END,
                     "'z', which is not an input"),
    "missing element range": ("#pragma precisec range(a[0], 0, 1)\n"
                              "double f(const double @a[2]) { return a[0]; }\n",
                              "element a[1] has no range"),
    "int cast": (HEAD + F + "    return @(int) x;\n}\n", "cast to 'int'"),
    "void kernel without outputs": (HEAD + "void @f(double x, double y) {\n}\n",
                                    "no output array"),
    "void kernel returning": (HEAD + "void f(double x, double y, double o[1]) {\n"
                              "    o[0] = x;\n    @return x;\n}\n", "void kernel"),
    "static local": (HEAD + F + "    static double @s = 1.0;\n" + END, "'static' locals"),
    "const assigned": (HEAD + F + "    const double c = 1.0;\n    @c = x;\n" + END,
                       "assignment to const"),
    "int division by zero": (HEAD + F + "    int n = 0;\n    return x * (@4 / n);\n}\n",
                             "division by zero"),
    "helper array parameter": (HEAD + "double g(double @a[2]) { return a[0]; }\n" + F
                               + "    return g(x);\n}\n", "array parameters of helpers"),
    "no function": ("@" + HEAD, "no function definition"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_are_located(case: str) -> None:
    marked, words = REFUSALS[case]
    before = marked[:marked.index(MARK)].split("\n")
    line, col, message = refusal(marked.replace(MARK, "", 1))
    assert (line, col) == (len(before), len(before[-1]) + 1), message
    assert words in message
