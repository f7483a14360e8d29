"""The compiled evaluator against the defining interpreter (`semantics/interpret.py`):
emulation bit for bit (outputs and branch hashes) on random kernels and precisions, with
and without argument rounding; the exact reference as the interpreter's double-double;
its self-check and escalation; located domain errors."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ir_kernels import bits_of, iterated, loc, loop_branch_array, random_kernels, sample

from precisec.errors import PrecisecError
from precisec.ir.builder import Builder, integer, real
from precisec.ir.check import verify
from precisec.ir.core import INT, REAL, Input, Kernel, Var
from precisec.ops import OPS
from precisec.semantics import interpret
from precisec.semantics.compiled import Evaluator, Reference
from precisec.toolchain import trace_hash

PROPERTY = settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow,
                                                            HealthCheck.data_too_large])


def interpreted(kernel: Kernel, inputs: np.ndarray, bits: list[int],
                round_arguments: bool = False) -> tuple[np.ndarray, list[int]]:
    outputs, hashes = [], []
    for point in inputs:
        run = interpret.run(kernel, point, bits, round_arguments=round_arguments)
        outputs.append(interpret.point_outputs(kernel, point, bits, round_arguments))
        hashes.append(trace_hash(run.trace))
    return np.array(outputs), hashes


def double_double(kernel: Kernel, inputs: np.ndarray, bits: int) -> tuple[np.ndarray, ...]:
    """The interpreter's exact results rounded to hi + lo, and its decision hashes."""
    his, los, hashes = [], [], []
    wide = gmpy2.context(precision=bits + 64)
    for point in inputs:
        run = interpret.run(kernel, point, exact_bits=bits)
        his.append([float(v) for v in run.results])
        los.append([float(wide.sub(v, gmpy2.mpfr(h))) for v, h in zip(run.results, his[-1],
                                                                      strict=True)])
        hashes.append(trace_hash(run.trace))
    return np.array(his), np.array(los), np.array(hashes, dtype=np.uint64)


def check_emulation(kernel: Kernel, evaluator: Evaluator, inputs: np.ndarray,
                    bits: list[int], round_arguments: bool = False) -> None:
    got = evaluator.emulate(bits, inputs, round_arguments=round_arguments)
    want, hashes = interpreted(kernel, inputs, bits, round_arguments)
    np.testing.assert_array_equal(bits_of(got.outputs), bits_of(want))
    if kernel.n_branches:
        assert got.branches is not None
        assert [int(h) for h in got.branches] == hashes
    else:
        assert got.branches is None


def check_reference(kernel: Kernel, reference: Reference, inputs: np.ndarray) -> None:
    hi, lo, hashes = double_double(kernel, inputs, reference.bits)
    np.testing.assert_array_equal(bits_of(reference.hi), bits_of(hi))
    np.testing.assert_array_equal(bits_of(reference.lo), bits_of(lo))
    if kernel.n_branches:
        np.testing.assert_array_equal(reference.branches, hashes)


@PROPERTY
@given(data=st.data(), precision=st.sampled_from(["double", "float"]))
def test_random_kernels_agree_with_the_interpreter(data: st.DataObject, precision: str) -> None:
    kernel = data.draw(random_kernels(precision=precision))
    bits = data.draw(st.lists(st.integers(2, 120), min_size=len(kernel.sites),
                              max_size=len(kernel.sites)))
    inputs = sample(kernel, 10, seed=len(kernel.sites))
    with Evaluator(kernel) as evaluator:
        check_emulation(kernel, evaluator, inputs, bits)
        check_emulation(kernel, evaluator, inputs, bits, round_arguments=True)
        reference = evaluator.exact(inputs)
    assert reference.bits == 320
    check_reference(kernel, reference, inputs)


def every_operation() -> Kernel:
    """Every real operation of the table on arguments in its domain (x in [0.2, 0.9],
    y in [1.1, 2]), summed, with a literal operand each."""
    b = Builder()
    x, y = Var(REAL, (), "x"), Var(REAL, (), "y")
    total = b.op("mul", [x, real("0.7")], loc(2))
    for line, (name, spec) in enumerate(sorted(OPS.items()), start=3):
        if spec.kind != "arith":
            continue
        args = [x, y, real("1.3")][:spec.arity] if spec.arity > 1 else [x]
        value = b.op(name, args, loc(line))
        total = b.op("add", [total, value], loc(line, 40))
    params = [Input("x", (), (0.2,), (0.9,), loc(1)), Input("y", (), (1.1,), (2.0,), loc(1))]
    return verify(b.kernel("every", loc(1), params, [x, y], True, [total]))


@pytest.mark.parametrize("seed", [1, 2])
def test_every_operation_agrees_with_the_interpreter(seed: int) -> None:
    kernel = every_operation()
    rng = np.random.default_rng(seed)
    bits = [int(b) for b in rng.integers(2, 120, len(kernel.sites))]
    inputs = sample(kernel, 50, seed)
    with Evaluator(kernel) as evaluator:
        check_emulation(kernel, evaluator, inputs, bits)
        check_reference(kernel, evaluator.exact(inputs), inputs)


def integer_code() -> Kernel:
    """A loop counting down through negative numbers (3, 1, -1, -3): C's truncating
    division and remainder, integers made real, a swap of two carried values."""
    b = Builder()
    x = Var(REAL, (), "x")
    b.push()
    i, s, t = Var(INT, (), "i"), Var(REAL, (), "s"), Var(REAL, (), "t")
    q = b.op("idiv", [i, integer(2)], loc(3))
    m = b.op("imod", [i, integer(2)], loc(4))
    k = b.op("iadd", [b.op("imul", [q, integer(3)], loc(5)), b.op("ineg", [m], loc(5))], loc(5))
    value = b.op("mul", [b.op("itof", [k], loc(6)), s], loc(6, 9))
    body = b.pop([i, s, t], [t, b.op("add", [value, x], loc(7))])
    s_final, t_final = b.loop(3, -2, 4, [x, real("0.5")], body, loc(2))
    result = b.op("sub", [s_final, t_final], loc(8))
    params = [Input("x", (), (0.5,), (1.5,), loc(1))]
    return verify(b.kernel("ints", loc(1), params, [x], True, [result]))


def test_integer_code_and_swapped_carries() -> None:
    kernel = integer_code()
    inputs = sample(kernel, 20, seed=3)
    with Evaluator(kernel) as evaluator:
        check_emulation(kernel, evaluator, inputs, [11, 30, 19])
        check_reference(kernel, evaluator.exact(inputs), inputs)


def test_hand_built_kernel_with_every_construct() -> None:
    kernel = loop_branch_array()
    inputs = sample(kernel, 200, seed=4)
    with Evaluator(kernel) as evaluator:
        check_emulation(kernel, evaluator, inputs, [20, 30, 40, 50, 24, 60])
        reference = evaluator.exact(inputs)
    check_reference(kernel, reference, inputs)
    assert reference.hi.shape == reference.lo.shape == (200, 4)
    assert len(set(reference.branches)) > 1  # the samples take different paths


def test_reference_escalates_until_two_precisions_agree() -> None:
    """600 chaotic steps lose ~430 bits: 320 and 480 bits disagree, higher ones agree."""
    kernel = iterated(600)
    inputs = sample(kernel, 6, seed=5)
    with Evaluator(kernel) as evaluator:
        reference = evaluator.exact(inputs)
    assert reference.bits > 480
    hi, lo, _ = double_double(kernel, inputs, 3000)
    np.testing.assert_array_equal(reference.hi, hi)
    np.testing.assert_array_equal(reference.lo, lo)


def test_an_unstable_reference_is_refused() -> None:
    kernel = iterated(8000)
    with Evaluator(kernel) as evaluator, pytest.raises(PrecisecError) as caught:
        evaluator.exact(sample(kernel, 2, seed=6))
    assert "the exact reference is unstable" in caught.value.message
    assert caught.value.loc == kernel.loc


def reciprocal_of_shift() -> Kernel:
    """1 / (x − 0.5): infinite at x = 0.5."""
    b = Builder()
    x = Var(REAL, (), "x")
    shifted = b.op("sub", [x, real("0.5")], loc(2, 12))
    result = b.op("div", [real("1"), shifted], loc(2, 8))
    params = [Input("x", (), (0.0,), (1.0,), loc(1))]
    return verify(b.kernel("recip", loc(1), params, [x], True, [result]))


def test_a_non_finite_result_is_located() -> None:
    kernel = reciprocal_of_shift()
    inputs = np.array([[0.25], [0.75], [0.5], [0.9]])
    with Evaluator(kernel) as evaluator:
        with pytest.raises(PrecisecError) as caught:
            evaluator.exact(inputs)
        # emulation is not checked: infinity is a value like any other
        outputs = evaluator.emulate([20, 20], inputs).outputs
    assert caught.value.loc == loc(2, 8)
    assert caught.value.message == ("'div' has a non-finite result (inf) on the input "
                                    "domain, at x=0.5")
    assert np.isinf(outputs[2, 0])


@pytest.mark.parametrize("workers", [1, 2])
def test_the_first_failing_sample_is_reported(workers: int) -> None:
    """x = 0.5 fails at the division, x = inf already at the subtraction; with two
    workers each half of the samples has a failure, and the earlier sample is reported."""
    kernel = reciprocal_of_shift()
    for first, second, where, point in ((0.5, np.inf, loc(2, 8), "x=0.5"),
                                        (np.inf, 0.5, loc(2, 12), "x=inf")):
        inputs = np.full((10, 1), 0.25)
        inputs[3], inputs[7] = first, second
        with Evaluator(kernel, workers=workers) as evaluator, \
                pytest.raises(PrecisecError) as caught:
            evaluator.exact(inputs)
        assert caught.value.loc == where
        assert caught.value.message.endswith(f"on the input domain, at {point}")


def test_workers_split_the_samples_deterministically() -> None:
    kernel = loop_branch_array()
    inputs = sample(kernel, 101, seed=7)
    bits = [25, 35, 45, 55, 24, 40]
    results = []
    for workers in (1, 2, 3):
        with Evaluator(kernel, workers=workers) as evaluator:
            results.append((evaluator.emulate(bits, inputs), evaluator.exact(inputs)))
    for emulation, reference in results[1:]:
        np.testing.assert_array_equal(emulation.outputs, results[0][0].outputs)
        np.testing.assert_array_equal(emulation.branches, results[0][0].branches)
        np.testing.assert_array_equal(reference.hi, results[0][1].hi)
        np.testing.assert_array_equal(reference.lo, results[0][1].lo)


def test_float_kernels_return_floats() -> None:
    kernel = loop_branch_array(precision="float")
    inputs = sample(kernel, 100, seed=8)
    with Evaluator(kernel) as evaluator:
        outputs = evaluator.emulate([40] * len(kernel.sites), inputs).outputs
        check_emulation(kernel, evaluator, inputs, [40] * len(kernel.sites))
    np.testing.assert_array_equal(outputs.astype(np.float32).astype(np.float64), outputs)


def test_reference_errors_are_outputs_minus_exact() -> None:
    kernel = iterated(3)
    inputs = sample(kernel, 50, seed=9)
    with Evaluator(kernel) as evaluator:
        reference = evaluator.exact(inputs)
        outputs = evaluator.emulate([10, 10, 10], inputs).outputs
    errors = reference.errors(outputs)
    np.testing.assert_array_equal(errors, (outputs - reference.hi) - reference.lo)
    assert np.all(np.abs(reference.errors(reference.hi)) <= np.spacing(reference.hi) / 2)
    assert reference.branches is None


def test_a_kernel_without_inputs() -> None:
    b = Builder()
    result = b.op("mul", [real("1.5"), real("0.1")], loc(2))
    kernel = verify(b.kernel("constant", loc(1), [], [], True, [result]))
    with Evaluator(kernel) as evaluator:
        outputs = evaluator.emulate([53], np.zeros((3, 0))).outputs
        reference = evaluator.exact(np.zeros((2, 0)))
    np.testing.assert_array_equal(outputs, [[1.5 * 0.1]] * 3)
    assert reference.hi[0, 0] == 0.15 and reference.lo[0, 0] != 0.0


def test_bad_arguments_and_cleanup() -> None:
    kernel = iterated(2)
    evaluator = Evaluator(kernel)
    build = evaluator.build_dir
    with evaluator:
        with pytest.raises(ValueError, match="inputs of shape"):
            evaluator.exact(np.zeros((3, 2)))
        with pytest.raises(ValueError, match="3 sites"):
            evaluator.emulate([20], np.zeros((3, 1)))
        assert evaluator.emulate([20, 20, 20], np.zeros((0, 1))).outputs.shape == (0, 1)
    assert not build.exists()


@PROPERTY
@given(data=st.data(), precision=st.sampled_from(["double", "float"]))
def test_double_fast_path_agrees_with_the_interpreter(data: st.DataObject,
                                                      precision: str) -> None:
    """Every site at 2..53 bits: the evaluator runs its double kernel (MPFR for functions
    other than + − × ÷ √), bit for bit the interpreter's results."""
    kernel = data.draw(random_kernels(precision=precision))
    bits = data.draw(st.lists(st.integers(2, 53), min_size=len(kernel.sites),
                              max_size=len(kernel.sites)))
    inputs = sample(kernel, 10, seed=len(kernel.sites) + 1)
    with Evaluator(kernel) as evaluator:
        check_emulation(kernel, evaluator, inputs, bits)
        check_emulation(kernel, evaluator, inputs, bits, round_arguments=True)


def test_values_beyond_the_double_range_fall_back_to_mpfr() -> None:
    """x·1e300·1e300 and its square root leave the range where doubles are exact (and
    the first overflows a double): those samples are recomputed with MPFR."""
    b = Builder()
    x = Var(REAL, (), "x")
    huge = b.op("mul", [b.op("mul", [x, real("1e300")], loc(2)), real("1e300")], loc(3))
    small = b.op("div", [real("1"), huge], loc(4))
    result = b.op("add", [b.op("sqrt", [huge], loc(5)), b.op("mul", [small, huge], loc(6))],
                  loc(7))
    params = [Input("x", (), (0.5,), (1.5,), loc(1))]
    kernel = verify(b.kernel("huge", loc(1), params, [x], True, [result]))
    inputs = np.array([[0.5], [0.75], [1.5], [0.0], [1e-300]])
    with Evaluator(kernel) as evaluator:
        check_emulation(kernel, evaluator, inputs, [30, 40, 20, 35, 25, 45])
        check_emulation(kernel, evaluator, inputs, [53] * 6)
