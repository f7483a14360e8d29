"""The FPCore emitter (precisec.backend.fpcore): annotated FPCore that reads back
(precisec.frontend.fpcore.parse_tuned_fpcore) to the same kernel and the same precisions."""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from precisec.backend.fpcore import emit_fpcore, fpcore_argument_names, fpcore_precision
from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend.c import load_c
from precisec.frontend.fpcore import (
    load_fpcore,
    parse_fpcore,
    parse_tuned_fpcore,
    read_fpcores,
)
from precisec.ir.builder import Builder, integer
from precisec.ir.core import (
    REAL,
    Atom,
    Cond,
    Eqn,
    Input,
    Kernel,
    Lit,
    Output,
    Region,
    Var,
    While,
    walk,
)
from precisec.ops import OPS
from precisec.semantics import interpret

SAMPLES = Path(__file__).resolve().parent / "fpcore_samples"
FPBENCH = Path(__file__).resolve().parents[3] / "shared" / "fpbench"
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks_fptuner"
LOC = SourceLoc("k", 1, 1)
# `copy` has no FPCore form (it is written as its argument), so it cannot round-trip.
ARITH = sorted(name for name, spec in OPS.items() if spec.kind == "arith" and name != "copy")
NEWTON_FPCORE = """(FPCore newton (a) :pre (<= 1 a 1000)
 (while (> (fabs (- (* g g) a)) (* 1e-12 a)) ([g a (* 0.5 (+ g (/ a g)))]) g))"""


def whiles(kernel: Kernel) -> list[While]:
    return [s for s in walk(kernel.body) if isinstance(s, While)]


def structure(kernel: Kernel) -> object:
    """The kernel without locations and value names: each value is the expression that
    computes it (sites and branch numbers included); a region is the multiset of its
    statements and its results, so sharing counts and the order of exact statements does
    not."""
    keys: dict[int, object] = {id(v): ("param", k) for k, v in enumerate(kernel.body.params)}

    def key(atom: Atom) -> object:
        if isinstance(atom, Lit):
            return ("lit", atom.type, str(Decimal(atom.text)))
        return keys[id(atom)]

    def region(body: Region) -> object:
        statements: Counter[object] = Counter()
        for stmt in body.stmts:
            if isinstance(stmt, Eqn):
                keys[id(stmt.out)] = ("eqn", stmt.op, stmt.site, tuple(map(key, stmt.args)))
                statements[keys[id(stmt.out)]] += 1
            else:
                assert isinstance(stmt, Cond)
                shape = ("cond", stmt.branch, key(stmt.pred), region(stmt.then),
                         region(stmt.other))
                statements[shape] += 1
                for k, out in enumerate(stmt.outs):
                    keys[id(out)] = ("merge", k, shape)
        return frozenset(statements.items()), tuple(map(key, body.results))

    return (region(kernel.body), tuple(s.op for s in kernel.sites), kernel.n_branches,
            kernel.precision, kernel.name, kernel.target_rmse,
            tuple((p.name, p.lo, p.hi) for p in kernel.inputs), fpcore_argument_names(kernel))


def round_trip(kernel: Kernel, bits: list[int], again: bool = True) -> str:
    """Emit, read back: the same kernel, the same precisions, and (`again`: for kernels
    in the statement order the reader makes) the same text again; all binary64 is a
    plain FPCore kernel too."""
    text = emit_fpcore(kernel, bits)
    back, back_bits = parse_tuned_fpcore(text, "out.fpcore")
    assert structure(back) == structure(kernel), text
    assert back_bits == bits
    if again:
        assert emit_fpcore(back, back_bits) == text
    if kernel.precision == "double" and set(bits) <= {53}:
        assert structure(parse_fpcore(text, "out.fpcore")) == structure(kernel)
    return text


def mixed_bits(kernel: Kernel) -> list[int]:
    return [10 + 7 * k % 80 for k in range(len(kernel.sites))]


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.fpcore")), ids=lambda p: p.stem)
def test_samples_round_trip(path: Path) -> None:
    for entry in read_fpcores(path.read_text(), str(path)):
        assert entry.kernel is not None, entry.reason
        round_trip(entry.kernel, mixed_bits(entry.kernel))
        round_trip(entry.kernel, [entry.kernel.baseline_bits] * len(entry.kernel.sites))


@pytest.mark.skipif(not FPBENCH.is_dir(), reason="FPBench corpus not present")
def test_supported_corpus_cores_round_trip() -> None:
    count = 0
    for path in sorted(FPBENCH.glob("*.fpcore")):
        for entry in read_fpcores(path.read_text(), path.name):
            if entry.kernel is not None and not entry.kernel.n_whiles:
                round_trip(entry.kernel, mixed_bits(entry.kernel))
                count += 1
    assert count == 63


def loop_round_trip(kernel: Kernel, bits: list[int], points: list[list[float]]) -> str:
    """Emit a kernel with while loops, read it back: the same sites in the same order and
    precisions, the same results and trip counts at every point (the loop's extra
    bindings hold no site, so the IR differs only in what it carries)."""
    text = emit_fpcore(kernel, bits)
    back, back_bits = parse_tuned_fpcore(text, "out.fpcore")
    assert back_bits == bits and [s.op for s in back.sites] == [s.op for s in kernel.sites]
    assert [w.cap for w in whiles(back)] == [w.cap for w in whiles(kernel)]
    for point in points:
        ours, theirs = interpret.run(kernel, point, bits), interpret.run(back, point, bits)
        assert (ours.results, ours.trips, ours.trace) == \
            (theirs.results, theirs.trips, theirs.trace), text
    return text


WHILE_FPCORE = """(FPCore (a b) :pre (and (<= 1 a 2) (<= 0 b 1))
 (let ([c (* a 3)])
  (+ (while (< i 7)
      ([x a (if (< x y) (* y 1.5) (- x b))] [y b x] [i 0 (+ i 1)]) (* (- x) y))
     c)))"""


def test_while_loops_round_trip() -> None:
    """`while` with values that swap (copies), a branch in the body and work after the
    loop; Newton's `while` whose test holds sites; a C loop under a stated cap."""
    kernel = parse_fpcore(WHILE_FPCORE, "w.fpcore")
    for bits in (mixed_bits(kernel), [200] * len(kernel.sites), [12] * len(kernel.sites)):
        text = loop_round_trip(kernel, bits, [[1.5, 0.25], [1.0, 1.0], [2.0, 0.0]])
    assert "(while* (< i 7)" in text and "[x_old 0 x]" in text
    newton = parse_fpcore(NEWTON_FPCORE, "n.fpcore")
    loop_round_trip(newton, [20, 30, 40, 24, 25, 26], [[2.0], [999.0], [17.5]])


def test_a_c_loop_under_a_stated_cap_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "grow.c"
    path.write_text("#pragma precisec cap(9)\n#pragma precisec range(x, 1, 2)\n"
                    "double grow(double x)\n{\n    double s = x * 0.5;\n"
                    "    while (s < 100.0) {\n        s = s * x + 1.0;\n    }\n"
                    "    return s;\n}\n")
    kernel = load_c(path)
    text = loop_round_trip(kernel, [30, 40, 35], [[1.0], [1.5], [2.0]])
    assert " :precisec-cap 9\n" in text
    assert all(w.stated for w in whiles(parse_tuned_fpcore(text, "o")[0]))


@pytest.mark.skipif(not FPBENCH.is_dir(), reason="FPBench corpus not present")
def test_corpus_loops_round_trip() -> None:
    """PID, Lead-lag, Trapeze and Odometry (while* loops of 100 to 1000 rounds, branches
    on counters, sequential updates) at mixed precisions."""
    text = (FPBENCH / "salsa.fpcore").read_text()
    for index in (0, 1, 3, 4):
        kernel = parse_fpcore(text, "salsa.fpcore", index=index)
        point = [(lo + hi) / 2 if math.isfinite(hi - lo) else 0.5
                 for lo, hi in zip(kernel.lows, kernel.highs, strict=True)]
        loop_round_trip(kernel, [24 + 5 * k % 40 for k in range(len(kernel.sites))], [point])


def test_a_loop_test_that_uses_a_value_twice_binds_it() -> None:
    """x·x computed once and compared twice: the test is a `let*` around the condition
    (which the FPCore frontend reads as a condition too)."""
    b = Builder()
    a = Var(REAL, (), "a")
    x, body_x = Var(REAL, (), "x"), Var(REAL, (), "x")
    b.push()
    square = b.op("mul", [x, x], LOC)
    test = b.op("and", [b.op("gt", [square, Lit.real("1")], LOC),
                        b.op("lt", [square, Lit.real("9")], LOC)], LOC)
    cond = b.pop([x], [test])
    b.push()
    body = b.pop([body_x], [b.op("add", [body_x, Lit.real("1")], LOC)])
    (out,) = b.while_loop([a], cond, body, SourceLoc("k", 3, 5))
    kernel = b.kernel("k", LOC, [Input("a", (), (1.0,), (2.0,), LOC)], [a], True, (out,))
    text = loop_round_trip(kernel, [20, 30], [[1.0], [1.5], [2.0]])
    assert "(while* (let* ([t" in text


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.c")), ids=lambda p: p.stem)
def test_c_benchmarks_round_trip(path: Path) -> None:
    from precisec.frontend.c import load_c

    kernel = load_c(path)
    round_trip(kernel, mixed_bits(kernel))


def test_emitted_text_is_annotated_and_shares_values() -> None:
    kernel = load_fpcore(SAMPLES / "doppler1.fpcore")
    bits = [24] * len(kernel.sites)
    bits[-1] = 53
    text = emit_fpcore(kernel, bits)
    assert text.startswith("(FPCore doppler1 (u v T)\n :name \"doppler1\"\n"
                           " :precision binary64\n")
    assert ":pre (and (<= -100.0000001 u 100.0000001) (<= 19.999999999 v " in text
    assert ":precisec-rmse 1.82e-13" in text
    assert "[t1 (! :precision (float 11 35) (+ 331.4 (! :precision (float 11 35) (* 0.6 T))))]" \
        in text
    assert "(! :precision (float 11 35) (- t1))" in text  # negation at its argument's width
    assert text.count("[") == 2  # t1 and s are shared, nothing else is bound
    assert "(! :precision binary64 (/ " in text
    assert fpcore_precision(53) == "binary64" and fpcore_precision(113) == "(float 11 124)"
    with pytest.raises(ValueError, match="0 precisions for 6 sites"):
        emit_fpcore(kernel, [])


def test_branches_bind_values_on_their_side() -> None:
    kernel = parse_fpcore((SAMPLES / "branches.fpcore").read_text(), "b", function="shared")
    text = round_trip(kernel, mixed_bits(kernel))
    assert "(let* ([w " in text and "(let* ([y " in text and "(let* ([z " in text
    assert "(if (and (> z 0.5) (!= x 1))" in text
    assert text.index("[y ") > text.index("(if (< x 0)")


def test_float_kernels_stay_binary32() -> None:
    kernel = parse_fpcore((SAMPLES / "branches.fpcore").read_text(), "b", index=5)
    assert kernel.precision == "float"
    text = round_trip(kernel, [20] * len(kernel.sites))
    assert " :precision binary32\n" in text and "(float 11 31)" in text


def test_fpcore_names_and_properties_are_kept() -> None:
    source = ('(FPCore (x-y a.b) :name "odd names" :cite (someone-2020) :precision binary64\n'
              ' :pre (and (<= 1 x-y 2) (<= 0 a.b 1) (!= a.b 0.5)) :precisec-rmse 1e-10\n'
              ' (let ([s (* x-y a.b)]) (/ s (+ s x-y))))')
    kernel = parse_fpcore(source, "names.fpcore")
    assert kernel.input_labels == ("x_y", "a_b")
    text = round_trip(kernel, mixed_bits(kernel))
    assert text.startswith("(FPCore odd_names (x-y a.b)\n :name \"odd names\"\n")
    assert " :pre (and (<= 1 x-y 2) (<= 0 a.b 1) (!= a.b 0.5))\n" in text
    assert " :cite (someone-2020)\n" in text and "(* x-y a.b)" in text


def test_literals_outside_rounding_operations_keep_the_type_precision() -> None:
    b = Builder()
    x = Var(REAL, (), "x")
    wide = b.op("mul", (x, Lit.real("0.1")), LOC)
    biggest = b.op("fmax", (Lit.real("0.3"), wide), LOC)
    negated = b.op("neg", (Lit.real("2.5"),), LOC)
    total = b.op("add", (biggest, negated), LOC)
    kernel = b.kernel("lits", LOC, [Input("x", (), (0.0,), (1.0,), LOC)], [x], True, (total,))
    text = round_trip(kernel, [100, 30])
    assert "(! :precision (float 11 111) (* x 0.1))" in text
    assert "(fmax (! :precision binary64 0.3) (! :precision (float 11 111) (* x 0.1)))" in text
    assert "(! :precision binary64 (- (! :precision binary64 2.5)))" in text


def test_bound_names_avoid_arguments_and_constants_and_unused_values_stay() -> None:
    b = Builder()
    t2, t3 = Var(REAL, (), "t2"), Var(REAL, (), "PI")
    product = b.op("mul", (t2, t3), LOC, hint="t2")
    b.op("sqrt", (t2,), LOC)  # unused: still a site, so it is written (bound)
    shared = b.op("add", (product, product), LOC, hint="PI")
    neg = b.op("neg", (Lit.real("3.5E+7"),), LOC)
    result = b.op("sub", (shared, neg), LOC)
    inputs = [Input("t2", (), (0.0,), (1.0,), LOC), Input("PI", (), (1.0,), (2.0,), LOC)]
    kernel = b.kernel("k", LOC, inputs, [t2, t3], True, (result,))
    text = round_trip(kernel, [30, 40, 50, 60])
    assert "[t2_2 (! :precision (float 11 41) (* t2 PI))]" in text
    assert "[t3 (! :precision (float 11 51) (sqrt t2))]" in text
    assert "(! :precision binary64 (- (! :precision binary64 3.5e+7)))" in text
    assert "PI_2" not in text  # the sum is used once: inline


def test_values_bound_to_keep_the_order_of_sites() -> None:
    """`(+ (/ a c) (* b 3))` with b computed before a/c: b is bound, a/c stays inline."""
    b = Builder()
    x = Var(REAL, (), "x")
    first = b.op("mul", (x, x), LOC, hint="a")
    second = b.op("sub", (first, x), LOC, hint="b")
    third = b.op("div", (first, Lit.real("3")), LOC)
    fourth = b.op("mul", (second, Lit.real("3")), LOC)
    total = b.op("add", (third, fourth), LOC)
    kernel = b.kernel("order", LOC, [Input("x", (), (1.0,), (2.0,), LOC)], [x], True,
                      (total,))
    text = round_trip(kernel, [11, 12, 13, 14, 15])
    assert "[b " in text and "(/ a 3)" in text


def test_deep_kernels_emit() -> None:
    depth = 500
    source = ("(FPCore (x) :pre (<= 0 x 1) " + "(if (< x 0.5) (* x x) " * depth + "1"
              + ")" * depth + ")")
    kernel = parse_fpcore(source, "deep")
    text = emit_fpcore(kernel, [30] * depth)
    assert len(text) < 200 * depth  # the indentation stops growing
    assert parse_tuned_fpcore(text, "back")[1] == [30] * depth


def _one_input_kernel(build: object) -> Kernel:
    b = Builder()
    x = Var(REAL, (), "x")
    result = build(b, x)  # type: ignore[operator]
    return b.kernel("bad", LOC, [Input("x", (), (0.0,), (1.0,), LOC)], [x], True, (result,))


def _loop(b: Builder, x: Var) -> Atom:
    counter, carried = Var("int"), Var(REAL, (), "s")
    b.push()
    step = b.op("add", (carried, x), LOC)
    body = b.pop((counter, carried), (step,))
    return b.loop(0, 1, 3, (x,), body, LOC)[0]


def _two_outs(b: Builder, x: Var) -> Atom:
    pred = b.op("lt", (x, Lit.real("0.5")), LOC)
    b.push()
    then = b.pop((), (x, x))
    b.push()
    other = b.pop((), (x, Lit.real("1")))
    return b.cond(pred, then, other, LOC)[0]


def _shared_condition(b: Builder, x: Var) -> Atom:
    pred = b.op("lt", (x, Lit.real("0.5")), LOC)
    outs = []
    for _ in range(2):
        b.push()
        then = b.pop((), (x,))
        b.push()
        other = b.pop((), (Lit.real("1"),))
        outs.append(b.cond(pred, then, other, LOC)[0])
    return b.op("add", outs, LOC)


def _integer(b: Builder, x: Var) -> Atom:
    return b.op("itof", (b.op("iadd", (integer(1), integer(2)), LOC),), LOC)


@pytest.mark.parametrize(("build", "message"), [
    (_loop, "counted loops and loops inside loops are not supported"),
    (_two_outs, "a branch must merge exactly one real value"),
    (_shared_condition, "a condition must be used once"),
    (_integer, "`iadd` has no FPCore form"),
])
def test_kernels_outside_fpcore_are_located_refusals(build: object, message: str) -> None:
    kernel = _one_input_kernel(build)
    with pytest.raises(PrecisecError) as info:
        emit_fpcore(kernel, [53] * len(kernel.sites))
    assert info.value.message.startswith("cannot write this kernel as FPCore: ")
    assert message in info.value.message and info.value.loc == LOC


def test_array_kernels_are_refused() -> None:
    b = Builder()
    out = Var(REAL, (2,), "y")
    kernel = b.kernel("arr", LOC, [Output("y", (2,), LOC)], [out], False, (out,))
    with pytest.raises(PrecisecError, match="one scalar from scalar arguments"):
        emit_fpcore(kernel, [])


# -- random kernels -----------------------------------------------------------------------


@st.composite
def kernels(draw: st.DrawFn) -> tuple[Kernel, list[int]]:
    """Random kernels over every arithmetic operation, with literals, shared and unused
    values, nested branches with compound conditions, and a precision per site."""
    b = Builder()
    count = draw(st.integers(1, 3))
    params = [Var(REAL, (), f"x{k}") for k in range(count)]

    def atom(scope: list[Atom]) -> Atom:
        if draw(st.integers(0, 3)) == 0:
            return Lit.real(str(draw(st.decimals(-1000, 1000, places=3))))
        return draw(st.sampled_from(scope))

    def operand(scope: list[Atom]) -> Atom:
        if draw(st.integers(0, 2)) == 0:  # computed inside the condition
            return b.op(draw(st.sampled_from(["add", "mul", "fmax"])),
                        (atom(scope), atom(scope)), LOC)
        return atom(scope)

    def condition(scope: list[Atom]) -> Atom:
        terms = [b.op(draw(st.sampled_from(["lt", "le", "gt", "ge", "eq", "ne"])),
                      (operand(scope), operand(scope)), LOC)
                 for _ in range(draw(st.integers(1, 3)))]
        result = terms[0]
        for term in terms[1:]:
            if draw(st.booleans()):
                term = b.op("not", (term,), LOC)
            result = b.op(draw(st.sampled_from(["and", "or"])), (result, term), LOC)
        return result

    def region(outer: list[Atom], depth: int) -> Atom:
        scope = list(outer)
        for _ in range(draw(st.integers(0, 5))):
            if depth < 2 and draw(st.integers(0, 4)) == 0:
                pred = condition(scope)
                for _ in range(draw(st.integers(0, 2))):  # values between test and branch
                    scope.append(b.op("mul", (atom(scope), atom(scope)), LOC))
                number = b.new_branch()
                sides = []
                for _side in range(2):
                    b.push()
                    sides.append(b.pop((), (region(scope, depth + 1),)))
                scope.extend(b.cond(pred, sides[0], sides[1], LOC, branch=number))
            else:
                spec = OPS[draw(st.sampled_from(ARITH))]
                args = [atom(scope) for _ in range(spec.arity)]
                scope.append(b.op(spec.name, args, LOC, hint=draw(st.sampled_from(
                    ["", "", "x0", "t1", "s", "PI"]))))
        return atom(scope)

    result = region(list(params), 0)
    inputs = [Input(f"x{k}", (), (-1.0,), (2.0,), LOC) for k in range(count)]
    target = draw(st.none() | st.floats(1e-30, 1.0))
    kernel = b.kernel("random_kernel", LOC, inputs, params, True, (result,),
                      precision=draw(st.sampled_from(["double", "float"])),
                      target_rmse=target)
    return kernel, [draw(st.integers(2, 300)) for _ in kernel.sites]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(kernels())
def test_random_kernels_round_trip(generated: tuple[Kernel, list[int]]) -> None:
    kernel, bits = generated
    round_trip(kernel, bits, again=False)
