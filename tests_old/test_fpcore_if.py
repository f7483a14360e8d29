"""FPCore `if` with comparisons and boolean operators: the IR (guards and selects), the
exact reference against mpmath, the straight-line MPFR backend bit for bit against the
emulator, the FPCore emitter, and the CLI's tune/check round."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mpmath
import numpy as np
import pytest
from helpers import run_cli

from precisec.backend.mpfr import emit_mpfr
from precisec.errors import PrecisecError
from precisec.frontend.fpcore import parse_fpcore
from precisec.ir import Const, Kernel, Op
from precisec.reference import emulate, exact, sample_inputs
from precisec.toolchain import build

PIECEWISE = "(FPCore (x) :pre (<= -2 x 2) (if (< x 0) (* x x) (sqrt x)))"
NESTED = """(FPCore nested (x y)
 :pre (and (<= -2 x 2) (<= -1 y 1))
 (let ([s (+ x y)])
   (if (and (< x 0) (not (> y 0.5)))
       (let ([q (* s s)]) (+ q 1))
       (if (or (<= -0.25 x y 0.75) (== x 1))
           (sqrt (+ x 1))
           (if (!= x y 0) (/ s (- x 3)) 2.5)))))"""
STATIC = "(FPCore (x) :pre (<= 1 x 2) (if (and TRUE (not FALSE)) (log x) (sqrt (- x))))"


def mp_piecewise(x: float) -> mpmath.mpf:
    return x * x if x < 0 else mpmath.sqrt(x)


def mp_nested(x: float, y: float) -> mpmath.mpf:
    s = mpmath.mpf(x) + y
    if x < 0 and not y > 0.5:
        return s * s + 1
    if -0.25 <= x <= y <= 0.75 or x == 1:
        return mpmath.sqrt(mpmath.mpf(x) + 1)
    if x != y and x != 0 and y != 0:
        return s / (mpmath.mpf(x) - 3)
    return mpmath.mpf("2.5")


def ops(k: Kernel, name: str) -> list[Op]:
    return [n for n in k.nodes if isinstance(n, Op) and n.op == name]


def test_if_builds_guarded_nodes_and_a_select() -> None:
    k = parse_fpcore(PIECEWISE, "p.fpcore")
    (select,) = ops(k, "select")
    assert k.output == k.nodes.index(select)
    cond, then_value, else_value = select.args
    assert k.nodes[cond].op == "lt"  # type: ignore[union-attr]
    mul, sqrt = k.nodes[then_value], k.nodes[else_value]
    assert isinstance(mul, Op) and mul.op == "mul" and mul.guard == cond
    assert isinstance(sqrt, Op) and sqrt.op == "sqrt"
    negation = k.nodes[sqrt.guard]  # type: ignore[index]
    assert isinstance(negation, Op) and negation.op == "not" and negation.args == (cond,)
    # the comparison's constant is a double (hold), not a bare constant
    (hold,) = ops(k, "hold")
    assert isinstance(k.nodes[hold.args[0]], Const)
    assert k.nodes[cond].args[1] == k.nodes.index(hold)  # type: ignore[union-attr]


def test_nested_guards_combine_with_and() -> None:
    k = parse_fpcore(NESTED, "n.fpcore")
    division = ops(k, "div")[0]
    guard = k.nodes[division.guard]  # type: ignore[index]
    assert isinstance(guard, Op) and guard.op == "and"
    # every operation built inside a branch carries a guard; `s` is shared and unguarded
    (add_s,) = [n for n in ops(k, "add") if n.loc.line == 3]
    assert add_s.guard is None
    for node in ops(k, "mul") + ops(k, "sqrt") + ops(k, "div"):
        assert node.guard is not None
    # select arms that are constants are held as doubles
    assert any(isinstance(k.nodes[h.args[0]], Const) and k.nodes[h.args[0]].text == "2.5"
               for h in ops(k, "hold"))


def test_comparison_chains_follow_fpcore() -> None:
    k = parse_fpcore("(FPCore (x y) :pre (and (<= 0 x 1) (<= 0 y 1)) "
                     "(if (< 0.25 x y 0.75) x y))", "c.fpcore")
    assert len(ops(k, "lt")) == 3 and len(ops(k, "and")) >= 2
    k = parse_fpcore("(FPCore (x y) :pre (and (<= 0 x 1) (<= 0 y 1)) "
                     "(if (!= x y 0.5) x y))", "c.fpcore")
    assert len(ops(k, "ne")) == 3  # pairwise distinct


def test_static_conditions_pick_a_side() -> None:
    k = parse_fpcore(STATIC, "s.fpcore")
    assert not ops(k, "select") and [n.op for n in k.nodes if isinstance(n, Op)] == ["log"]


@pytest.mark.parametrize("source, message", [
    ("(FPCore (x) :pre (<= 0 x 1) (if (< x 1) x))", "`if` takes a condition"),
    ("(FPCore (x) :pre (<= 0 x 1) (if x 1 2))", "is not a supported condition"),
    ("(FPCore (x) :pre (<= 0 x 1) (if (< x) 1 2))", "needs two operands"),
    ("(FPCore (x) :pre (<= 0 x 1) (+ (< x 1) 1))", "only supported in :pre and in `if`"),
])
def test_malformed_conditions_are_located_errors(source: str, message: str) -> None:
    with pytest.raises(PrecisecError, match=message.replace("(", r"\(")):
        parse_fpcore(source, "bad.fpcore")


def test_exact_reference_agrees_with_mpmath() -> None:
    with mpmath.workprec(400):
        k = parse_fpcore(PIECEWISE, "p.fpcore")
        xs = sample_inputs(k, 300, seed=3)
        xs[:4, 0] = [-2.0, 0.0, 2.0, -0.0]
        ref = exact(k, xs)  # sqrt of negative x on the untaken side must not trip it
        want = [mp_piecewise(float(x)) for x in xs[:, 0]]
        assert np.array_equal(ref.hi, [float(w) for w in want])

        k = parse_fpcore(NESTED, "n.fpcore")
        xs = sample_inputs(k, 400, seed=4)
        xs[:3] = [[1.0, 0.3], [0.5, 0.5], [0.0, 0.2]]
        ref = exact(k, xs)
        want = [mp_nested(float(x), float(y)) for x, y in xs]
        assert np.array_equal(ref.hi, [float(w) for w in want])
        lo = [float(w - float(w)) for w in want]
        assert np.allclose(ref.lo, lo, rtol=1e-10, atol=1e-300)


def test_reference_is_unchanged_at_512_bits() -> None:
    k = parse_fpcore(NESTED, "n.fpcore")
    xs = sample_inputs(k, 200, seed=5)
    a, b = exact(k, xs), exact(k, xs, bits=512)
    assert np.array_equal(a.hi, b.hi) and np.allclose(a.lo, b.lo, rtol=1e-12, atol=1e-300)


def bits_of(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype="<f8").view("<i8")


@pytest.mark.parametrize("source", [PIECEWISE, NESTED, STATIC])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_backend_is_bit_identical_to_the_emulator(
        toolchain_available: bool, tmp_path: Path, source: str, seed: int) -> None:
    k = parse_fpcore(source, "k.fpcore")
    rng = np.random.Generator(np.random.PCG64(seed))
    bits = {i: int(b) for i, b in zip(k.rounding_ops, rng.integers(2, 61, len(k.rounding_ops)),
                                      strict=True)}
    path = tmp_path / "k.c"
    path.write_text(emit_mpfr(k, bits, ["test"]))
    built = build(path, k, mpfr=True)
    try:
        inputs = sample_inputs(k, 2000, seed=seed)
        inputs[:3, 0] = [0.0, k.input(0).lo, k.input(0).hi]
        compiled = built.run(inputs)
    finally:
        built.directory.cleanup()
    emulated = emulate(k, bits, inputs)
    mismatches = np.flatnonzero(bits_of(compiled) != bits_of(emulated))
    assert mismatches.size == 0, f"first mismatch at {inputs[mismatches[0]]}"


def test_cli_tunes_and_checks_a_piecewise_kernel(toolchain_available: bool,
                                                 tmp_path: Path) -> None:
    kernel = tmp_path / "piecewise.fpcore"
    kernel.write_text(PIECEWISE + "\n")
    tuned = tmp_path / "piecewise.tuned.c"
    result = run_cli("tune", str(kernel), "-o", str(tuned), "--rmse", "1e-12",
                     "--samples", "2000", "--json")
    assert result.returncode == 0, result.stderr
    assert tuned.exists()
    result = run_cli("check", str(kernel), str(tuned), "--rmse", "1e-12", "--samples", "2000",
                     "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["within_target"] and report["measured"]["rmse"] <= 1e-12


SHARED_IN_BRANCHES = """(FPCore shared (x)
 :pre (<= -2 x 2)
 (let ([w (* x 3)])
   (if (< x 0)
       (let ([y (* x x)]) (+ y (* y w)))
       (let ([z (sqrt x)])
         (if (and (> z 0.5) (!= x 1))
             (let ([v (log z)]) (/ v (+ v 4)))
             (* z z))))))"""


@pytest.mark.parametrize("source", [PIECEWISE, NESTED, SHARED_IN_BRANCHES])
def test_emitted_fpcore_round_trips_branches(source: str) -> None:
    from test_fpcore import canonical

    from precisec.backend.fpcore_out import emit_fpcore
    from precisec.frontend.fpcore import parse_tuned_fpcore

    k = parse_fpcore(source, "k.fpcore")
    bits = {i: 10 + 7 * n % 50 for n, i in enumerate(k.rounding_ops)}
    text = emit_fpcore(k, bits)
    assert "(if " in text
    back, back_bits = parse_tuned_fpcore(text, "out.fpcore")
    table: dict[tuple[object, ...], int] = {}
    assert canonical(back, back_bits, table) == canonical(k, bits, table)
    guards = {n.op: n.guard is not None for n in back.nodes if isinstance(n, Op)}
    assert guards["sqrt"]
    inputs = sample_inputs(k, 300, seed=7)
    exact(back, inputs)  # no non-finite value escapes its branch on the way back
    assert np.array_equal(bits_of(emulate(back, back_bits, inputs)),
                          bits_of(emulate(k, bits, inputs)))


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_branch_kernel_is_valgrind_clean(toolchain_available: bool, tmp_path: Path) -> None:
    """Both sides run (one takes sqrt of a negative): no leak, no invalid access."""
    k = parse_fpcore(NESTED, "k.fpcore")
    bits = dict.fromkeys(k.rounding_ops, 30)
    path = tmp_path / "k.c"
    path.write_text(emit_mpfr(k, bits, ["test"]))
    built = build(path, k, mpfr=True)
    log = tmp_path / "valgrind.log"
    inputs = sample_inputs(k, 20, seed=1)
    try:
        outputs = built.run(inputs, wrapper=("valgrind", "--leak-check=full",
                                             "--error-exitcode=9", f"--log-file={log}"))
    finally:
        built.directory.cleanup()
    np.testing.assert_array_equal(outputs, emulate(k, bits, inputs))
    report = log.read_text()
    assert "ERROR SUMMARY: 0 errors" in report, report
    assert "definitely lost: 0 bytes" in report or "no leaks are possible" in report, report
