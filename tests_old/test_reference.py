"""The exact reference and the precision emulator.

* The reference does not move when its working precision goes from the default to 512 bits.
* With every operation at 53 bits the emulator is bit-identical to the original kernel
  compiled as plain C by gcc (IEEE double, no contraction).
* Constants are rounded to the precision of the operation consuming them; exact operations
  stay exact.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import gmpy2
import numpy as np
import pytest
from helpers import KERNEL_NAMES, benchmark, benchmark_path, kernel, ranges
from hypothesis import given, settings
from hypothesis import strategies as st

from precisec.ir import Const, Op
from precisec.reference import (
    REFERENCE_BITS,
    emulate,
    exact,
    operation_bits,
    sample_inputs,
)
from precisec.toolchain import build


def bits_of(values: np.ndarray) -> np.ndarray:
    """IEEE bit patterns, so comparisons are bit-exact (and -0.0 differs from 0.0)."""
    return np.ascontiguousarray(values, dtype="<f8").view("<i8")


def uniform(k, bits: int) -> dict[int, int]:
    return dict.fromkeys(k.rounding_ops, bits)


# -- reference ----------------------------------------------------------------------------

def test_reference_works_at_least_at_256_bits() -> None:
    assert REFERENCE_BITS >= 256


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_reference_unchanged_at_512_bits(name: str) -> None:
    k = benchmark(name)
    inputs = sample_inputs(k, 200, seed=2024)
    default = exact(k, inputs)
    wide = exact(k, inputs, bits=512)
    np.testing.assert_array_equal(bits_of(default.hi), bits_of(wide.hi))
    tolerance = 1e-30 * np.abs(wide.hi) + 1e-300
    assert np.all(np.abs(default.lo - wide.lo) <= tolerance)


def test_reference_is_double_double_of_the_real_value() -> None:
    # 1/3 + x for x = 1: hi + lo is 4/3 to ~106 bits, not the double nearest 4/3 alone
    k = kernel(ranges(x=(1, 1)) + "double f(double x) {\n    return x + 1.0 / 3.0;\n}\n")
    ref = exact(k, np.array([[1.0]]))
    assert ref.hi[0] == 4 / 3
    with gmpy2.context(precision=300):
        residual = gmpy2.mpfr(4) / 3 - gmpy2.mpfr(float(ref.hi[0]))
    assert ref.lo[0] == float(residual)
    assert ref.lo[0] != 0.0


def test_reference_of_a_constant_result_is_the_exact_constant() -> None:
    # `return 1.1;`: the exact result is 11/10, whose double-double has a non-zero lo part
    k = kernel(ranges(x=(0, 1)) + "double f(double x) {\n    return 1.1;\n}\n")
    ref = exact(k, sample_inputs(k, 4, seed=0))
    with gmpy2.context(precision=300):
        residual = float(gmpy2.mpfr("1.1") - gmpy2.mpfr(1.1))
    assert np.all(ref.hi == 1.1)
    assert np.all(ref.lo == residual), ref.lo


def test_reference_errors_of_the_exact_double_rounding() -> None:
    k = benchmark("verhulst")
    inputs = sample_inputs(k, 300, seed=5)
    ref = exact(k, inputs)
    # the double nearest the exact value is off by at most half an ulp of it
    errors = ref.errors(ref.hi)
    assert np.all(np.abs(errors) <= np.spacing(np.abs(ref.hi)) / 2)


@settings(max_examples=30, deadline=None)
@given(lo=st.floats(-1e6, 1e6), width=st.floats(0, 1e6), seed=st.integers(0, 2**31))
def test_samples_are_in_the_box_and_reproducible(lo: float, width: float, seed: int) -> None:
    hi = lo + width
    k = kernel(f"#pragma precisec range(x, {lo!r}, {hi!r})\n"
               "#pragma precisec range(y, -1, 1)\n"
               "double f(double x, double y) {\n    return x + y;\n}\n")
    sample = sample_inputs(k, 50, seed)
    assert sample.shape == (50, 2)
    assert np.all((sample[:, 0] >= k.input(0).lo) & (sample[:, 0] <= k.input(0).hi))
    assert np.all((sample[:, 1] >= -1) & (sample[:, 1] <= 1))
    np.testing.assert_array_equal(sample, sample_inputs(k, 50, seed))


# -- emulator against gcc -----------------------------------------------------------------

@pytest.fixture(scope="module")
def plain_builds(toolchain_available: bool):
    """Every benchmark compiled as plain C (gcc -O0 -ffp-contract=off), built in parallel."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        built = dict(zip(KERNEL_NAMES, pool.map(
            lambda n: build(benchmark_path(n), benchmark(n), mpfr=False), KERNEL_NAMES),
            strict=True))
    yield built
    for b in built.values():
        b.directory.cleanup()


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_emulator_at_53_bits_is_bit_identical_to_gcc(plain_builds, name: str) -> None:
    k = benchmark(name)
    inputs = sample_inputs(k, 2000, seed=99)
    compiled = plain_builds[name].run(inputs)
    emulated = emulate(k, uniform(k, 53), inputs)
    assert compiled.shape == emulated.shape == (2000,)
    mismatches = np.flatnonzero(bits_of(compiled) != bits_of(emulated))
    assert mismatches.size == 0, (
        f"{mismatches.size} mismatches, first at {inputs[mismatches[0]]}: "
        f"gcc {compiled[mismatches[0]]!r}, emulator {emulated[mismatches[0]]!r}")


EVERY_IEEE_OP = ("#include <math.h>\n" + ranges(a=(-3, 3), b=(0.25, 4), c=(-1e3, 1e3)) + """\
double f(double a, double b, double c) {
    double t = fma(a, b, c) * 0.1;
    double u = sqrt(b) - fabs(a) / 3;
    t += fmin(u, a) - fmax(-t, 1e-3);
    t /= b;
    t *= -u;
    t -= 331.4 * c;
    return t + u * u;
}
""")


def test_emulator_matches_gcc_on_every_correctly_rounded_ieee_operation(
        toolchain_available: bool, tmp_path) -> None:
    source = tmp_path / "every.c"
    source.write_text(EVERY_IEEE_OP)
    k = kernel(EVERY_IEEE_OP, str(source))
    inputs = sample_inputs(k, 2000, seed=3)
    built = build(source, k, mpfr=False)
    try:
        compiled = built.run(inputs)
    finally:
        built.directory.cleanup()
    np.testing.assert_array_equal(bits_of(compiled), bits_of(emulate(k, uniform(k, 53),
                                                                     inputs)))


# -- emulator semantics -------------------------------------------------------------------

def test_emulator_at_high_precision_rounds_the_exact_value() -> None:
    k = benchmark("jet")
    inputs = sample_inputs(k, 300, seed=8)
    np.testing.assert_array_equal(emulate(k, uniform(k, 300), inputs), exact(k, inputs).hi)


@pytest.mark.parametrize("bits", [8, 11, 24, 37])
def test_constant_is_rounded_at_its_consumers_precision(bits: int) -> None:
    k = kernel(ranges(x=(1, 2)) + "double f(double x) {\n    return (x * 1.1) + 0.3;\n}\n")
    mul, add = (i for i, n in enumerate(k.nodes) if isinstance(n, Op))
    inputs = sample_inputs(k, 100, seed=bits)
    allocation = {mul: bits, add: bits + 5}
    got = emulate(k, allocation, inputs)
    at = gmpy2.context(precision=bits)
    wider = gmpy2.context(precision=bits + 5)
    want = [float(wider.add(at.mul(gmpy2.mpfr(float(x)), gmpy2.mpfr("1.1", bits)),
                            gmpy2.mpfr("0.3", bits + 5))) for x in inputs[:, 0]]
    np.testing.assert_array_equal(got, want)


def test_inputs_enter_exactly() -> None:
    # a 53-bit input multiplied by an exact 1.0 at 53 bits comes back unchanged
    k = kernel(ranges(x=(-1e300, 1e300)) + "double f(double x) {\n    return x * 1.0;\n}\n")
    inputs = sample_inputs(k, 500, seed=1)
    np.testing.assert_array_equal(emulate(k, uniform(k, 53), inputs), inputs[:, 0])


def test_exact_operations_take_their_widest_argument() -> None:
    k = kernel(ranges(x=(1, 2), y=(1, 2)) + "double f(double x, double y) {\n"
               "    double p = x * y;\n"
               "    double n = -p;\n"
               "    double m = fmax(n, fabs(x));\n"
               "    return fmin(m, 2.5) + n;\n}\n")
    ops = {n.op: i for i, n in enumerate(k.nodes) if isinstance(n, Op)}
    assert set(k.rounding_ops) == {ops["mul"], ops["add"]}
    widths = operation_bits(k, {ops["mul"]: 70, ops["add"]: 20})
    assert widths[ops["neg"]] == 70
    assert widths[ops["fabs"]] == 53
    assert widths[ops["fmax"]] == 70
    assert widths[ops["fmin"]] == 70
    # negating a 70-bit product loses nothing: the result is -(x*y) rounded once at 20 bits
    inputs = sample_inputs(k, 200, seed=4)
    got = emulate(k, {ops["mul"]: 70, ops["add"]: 20}, inputs)
    ctx70, ctx20 = gmpy2.context(precision=70), gmpy2.context(precision=20)
    for (x, y), value in zip(inputs, got, strict=True):
        p = ctx70.mul(gmpy2.mpfr(float(x)), gmpy2.mpfr(float(y)))
        m = max(-p, abs(gmpy2.mpfr(float(x))))
        assert value == float(ctx20.add(min(m, gmpy2.mpfr("2.5")), -p))


def test_emulator_requires_every_rounding_operation() -> None:
    k = benchmark("verhulst")
    bits = uniform(k, 30)
    bits.pop(k.rounding_ops[0])
    with pytest.raises(ValueError, match="no precision"):
        emulate(k, bits, sample_inputs(k, 3, seed=0))


def test_lower_precision_means_larger_error() -> None:
    k = benchmark("doppler1")
    inputs = sample_inputs(k, 1000, seed=6)
    ref = exact(k, inputs)
    rmse = [float(np.sqrt(np.mean(ref.errors(emulate(k, uniform(k, p), inputs)) ** 2)))
            for p in (20, 30, 40, 50)]
    assert rmse == sorted(rmse, reverse=True)
    # each 10 bits buy roughly a factor 2^10
    ratios = np.array(rmse[:-1]) / np.array(rmse[1:])
    assert np.all((ratios > 2**8) & (ratios < 2**12)), ratios


def test_constants_of_the_benchmarks_are_exact_decimal_text() -> None:
    k = benchmark("carbonGas")
    values = {n.value for n in k.nodes if isinstance(n, Const)}
    assert values == {Fraction(35_000_000), Fraction(13806503, 10**30)}
