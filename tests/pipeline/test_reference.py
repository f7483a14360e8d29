"""The exact reference and precision emulation on C kernels, against outside oracles
(docs/method.md §1, §5); the agreement with the defining interpreter is
tests/unit/test_compiled.py's.

* On the 15 FPTuner benchmarks the reference does not move when its working precision
  goes from the default to 512 bits, and emulation with every site at 53 bits is
  bit-identical to the benchmark compiled as plain C by gcc (-O0 -ffp-contract=off).
* Every correctly rounded IEEE operation the C frontend accepts agrees with gcc at 53 bits.
* Literals round at their consumer's precision, inputs enter exactly, exact operations keep
  their widest argument (gmpy2 as the oracle).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import gmpy2
import numpy as np
import pytest
from helpers import KERNEL_NAMES, benchmark, benchmark_path, kernel, ranges

from precisec.ir import Kernel
from precisec.semantics.compiled import REFERENCE_BITS, Evaluator
from precisec.toolchain import compile_c
from precisec.tune.samples import sample_inputs

PLAIN_FLAGS = ("-std=c11", "-O0", "-ffp-contract=off", "-w")


def bits_of(values: np.ndarray) -> np.ndarray:
    """IEEE bit patterns, so comparisons are bit-exact (and -0.0 differs from 0.0)."""
    return np.ascontiguousarray(values, dtype="<f8").view("<i8")


def uniform(k: Kernel, bits: int) -> list[int]:
    return [bits] * len(k.sites)


def plain_c(source: Path, k: Kernel, inputs: np.ndarray, workdir: Path) -> np.ndarray:
    """The kernel file compiled as it is, with a driver of our own (rows of doubles in on
    stdin, one double out per row on stdout), run on `inputs`."""
    count = len(k.input_labels)
    driver = workdir / "driver.c"
    arguments = ", ".join(f"row[{j}]" for j in range(count))
    driver.write_text(
        "#include <stdio.h>\n"
        f"double {k.name}({', '.join(['double'] * count)});\n"
        f"int main(void) {{\n    double row[{count}];\n"
        f"    while (fread(row, sizeof(double), {count}, stdin) == {count}) {{\n"
        f"        double r = {k.name}({arguments});\n"
        "        fwrite(&r, sizeof r, 1, stdout);\n    }\n    return 0;\n}\n")
    program = workdir / "plain"
    compile_c([source, driver], program, flags=PLAIN_FLAGS, mpfr=False)
    ran = subprocess.run([str(program)], input=np.ascontiguousarray(inputs, "<f8").tobytes(),
                         capture_output=True, check=True)
    return np.frombuffer(ran.stdout, dtype="<f8")


@pytest.fixture(scope="module", params=KERNEL_NAMES)
def bench(request: pytest.FixtureRequest) -> Iterator[tuple[str, Evaluator]]:
    with Evaluator(benchmark(request.param)) as evaluator:
        yield request.param, evaluator


def test_the_fifteen_benchmarks() -> None:
    assert len(KERNEL_NAMES) == 15
    assert REFERENCE_BITS >= 256


def test_reference_unchanged_at_512_bits(bench: tuple[str, Evaluator]) -> None:
    name, evaluator = bench
    inputs = sample_inputs(evaluator.kernel, 200, seed=2024)
    default = evaluator.exact(inputs)
    wide = evaluator.exact(inputs, bits=512)
    assert default.bits == REFERENCE_BITS and wide.bits == 512
    np.testing.assert_array_equal(bits_of(default.hi), bits_of(wide.hi))
    tolerance = 1e-30 * np.abs(wide.hi) + 1e-300
    assert np.all(np.abs(default.lo - wide.lo) <= tolerance), name


def test_emulation_at_53_bits_is_gcc_doubles(bench: tuple[str, Evaluator],
                                             toolchain_available: bool,
                                             tmp_path: Path) -> None:
    name, evaluator = bench
    k = evaluator.kernel
    inputs = sample_inputs(k, 2000, seed=99)
    compiled = plain_c(benchmark_path(name), k, inputs, tmp_path)
    emulated = evaluator.emulate(uniform(k, 53), inputs).outputs
    assert emulated.shape == (2000, 1) and compiled.shape == (2000,)
    mismatches = np.flatnonzero(bits_of(compiled) != bits_of(emulated[:, 0]))
    assert mismatches.size == 0, (
        f"{mismatches.size} mismatches, first at {inputs[mismatches[0]]}: "
        f"gcc {compiled[mismatches[0]]!r}, emulator {emulated[mismatches[0], 0]!r}")


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


def test_every_correctly_rounded_ieee_operation_is_gcc_at_53_bits(
        toolchain_available: bool, tmp_path: Path) -> None:
    source = tmp_path / "every.c"
    source.write_text(EVERY_IEEE_OP)
    k = kernel(EVERY_IEEE_OP, str(source))
    inputs = sample_inputs(k, 2000, seed=3)
    with Evaluator(k) as evaluator:
        emulated = evaluator.emulate(uniform(k, 53), inputs).outputs[:, 0]
    np.testing.assert_array_equal(bits_of(plain_c(source, k, inputs, tmp_path)),
                                  bits_of(emulated))


def test_emulation_at_high_precision_rounds_the_exact_value() -> None:
    k = benchmark("jet")
    inputs = sample_inputs(k, 300, seed=8)
    with Evaluator(k) as evaluator:
        np.testing.assert_array_equal(evaluator.emulate(uniform(k, 300), inputs).outputs,
                                      evaluator.exact(inputs).hi)


def test_lower_precision_means_larger_error() -> None:
    k = benchmark("doppler1")
    inputs = sample_inputs(k, 1000, seed=6)
    with Evaluator(k) as evaluator:
        ref = evaluator.exact(inputs)
        rmse = [float(np.sqrt(np.mean(ref.errors(evaluator.emulate(uniform(k, p),
                                                                   inputs).outputs) ** 2)))
                for p in (20, 30, 40, 50)]
    assert rmse == sorted(rmse, reverse=True)
    # each 10 bits buy roughly a factor 2^10
    ratios = np.array(rmse[:-1]) / np.array(rmse[1:])
    assert np.all((ratios > 2**8) & (ratios < 2**12)), ratios


# -- emulation semantics against gmpy2 ------------------------------------------------------

@pytest.mark.parametrize("bits", [8, 11, 24, 37])
def test_a_literal_is_rounded_at_its_consumers_precision(bits: int) -> None:
    k = kernel(ranges(x=(1, 2)) + "double f(double x) {\n    return (x * 1.1) + 0.3;\n}\n")
    assert [s.op for s in k.sites] == ["mul", "add"]
    inputs = sample_inputs(k, 100, seed=bits)
    with Evaluator(k) as evaluator:
        got = evaluator.emulate([bits, bits + 5], inputs).outputs[:, 0]
    at, wider = gmpy2.context(precision=bits), gmpy2.context(precision=bits + 5)
    want = [float(wider.add(at.mul(gmpy2.mpfr(float(x)), gmpy2.mpfr("1.1", bits)),
                            gmpy2.mpfr("0.3", bits + 5))) for x in inputs[:, 0]]
    np.testing.assert_array_equal(got, want)


def test_inputs_enter_exactly() -> None:
    # a 53-bit input multiplied by an exact 1.0 at 53 bits comes back unchanged
    k = kernel(ranges(x=(-1e300, 1e300)) + "double f(double x) {\n    return x * 1.0;\n}\n")
    inputs = sample_inputs(k, 500, seed=1)
    with Evaluator(k) as evaluator:
        np.testing.assert_array_equal(evaluator.emulate([53], inputs).outputs[:, 0],
                                      inputs[:, 0])


def test_exact_operations_keep_their_widest_argument() -> None:
    """Negation, fabs, fmax and fmin round nothing: -(x·y) at 70 bits loses nothing, so
    the result is rounded once, by the 20-bit addition."""
    k = kernel(ranges(x=(1, 2), y=(1, 2)) + "double f(double x, double y) {\n"
               "    double p = x * y;\n"
               "    double n = -p;\n"
               "    double m = fmax(n, fabs(x));\n"
               "    return fmin(m, 2.5) + n;\n}\n")
    assert [s.op for s in k.sites] == ["mul", "add"]
    inputs = sample_inputs(k, 200, seed=4)
    with Evaluator(k) as evaluator:
        got = evaluator.emulate([70, 20], inputs).outputs[:, 0]
    ctx70, ctx20 = gmpy2.context(precision=70), gmpy2.context(precision=20)
    for (x, y), value in zip(inputs, got, strict=True):
        p = ctx70.mul(gmpy2.mpfr(float(x)), gmpy2.mpfr(float(y)))
        m = max(-p, abs(gmpy2.mpfr(float(x))))
        assert value == float(ctx20.add(min(m, gmpy2.mpfr("2.5")), -p))
