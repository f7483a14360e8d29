"""The native backend: exact hexadecimal literals, explicit casts, and compiled results
equal to the emulation with argument rounding (`interpret`'s round_arguments at each
format's precision) for the correctly rounded operations, in every format."""

from __future__ import annotations

import re
from pathlib import Path

import gmpy2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ir_kernels import NATIVE_OPS, bits_of, chain, loop_branch_array, random_kernels, sample

from precisec.backend.formats import (
    DOUBLE,
    FLOAT,
    FLOAT128,
    FORMATS,
    LONG_DOUBLE,
    available_formats,
    covering,
    hex_literal,
)
from precisec.backend.native import emit_native
from precisec.ir.core import Kernel
from precisec.semantics.compiled import Evaluator
from precisec.toolchain import run_tuned

SETTINGS = settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow,
                                                            HealthCheck.data_too_large])


def _value(literal: str) -> gmpy2.mpfr:
    body = literal.strip("()")
    sign = -1 if body.startswith("-") else 1
    mantissa, exponent = body.lstrip("-")[2:].rstrip("fLQ").split("p")
    with gmpy2.context(precision=300):
        return sign * gmpy2.mpfr(int(mantissa, 16)) * gmpy2.mpfr(2) ** int(exponent)


@pytest.mark.parametrize("text", ["0.1", "1.11", "-331.4", "5040.0", "1e-300", "3", "0.0",
                                  "-0.0"])
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_literals_are_the_correctly_rounded_value(text: str, fmt) -> None:
    literal = hex_literal(text, fmt.bits, fmt)
    assert literal.rstrip(")").endswith(fmt.literal_suffix)
    assert _value(literal) == gmpy2.mpfr(text, fmt.bits)
    assert literal.startswith("(-") == text.startswith("-")


def test_a_literal_can_be_rounded_narrower_than_its_type() -> None:
    """A double literal outside a site takes the kernel's precision in a wider format."""
    literal = hex_literal("0.1", 53, LONG_DOUBLE)
    assert literal.endswith("L") and _value(literal) == gmpy2.mpfr("0.1", 53)


def test_covering_formats() -> None:
    assert [covering(b) for b in (2, 24, 25, 53, 54, 64, 65, 113)] == [
        FLOAT, FLOAT, DOUBLE, DOUBLE, LONG_DOUBLE, LONG_DOUBLE, FLOAT128, FLOAT128]
    with pytest.raises(ValueError, match="114 bits"):
        covering(114)
    assert available_formats() == FORMATS  # x86_64 with gcc and libquadmath


def compiled_and_emulated(kernel: Kernel, formats: list, inputs: np.ndarray,
                          directory: Path) -> tuple:
    path = directory / "native.c"
    path.write_text(emit_native(kernel, formats, ["test"]))
    native = run_tuned(path, kernel, inputs, native=True)
    with Evaluator(kernel) as evaluator:
        emulated = evaluator.emulate([f.bits for f in formats], inputs, round_arguments=True)
    return native, emulated


def test_file_shape_and_casts(tmp_path: Path) -> None:
    kernel = loop_branch_array()
    formats = [LONG_DOUBLE, FLOAT, LONG_DOUBLE, FLOAT128, DOUBLE, FLOAT128]
    text = emit_native(kernel, formats, ["head"])
    assert text.startswith("/*\n * head\n */\n#include <math.h>\n#include <quadmath.h>\n")
    assert "\ndouble f(double x, double y, const double a[3], double out[3])\n{" in text
    assert "mpfr" not in text
    sites = re.findall(r"/\* \d+:\d+ (\w+), (\d+) bits \*/", text)
    assert [int(b) for _, b in sites] == [f.bits for f in formats]
    assert "0x8ccccccccccccccdp-63L /* 1.1 */" in text  # 1.1 rounded to 64 bits
    assert "(float) " in text and "(__float128) " in text
    assert "sqrtq(" in text and "fabsq(" in text and "fma(" in text
    assert "#include <quadmath.h>" not in emit_native(kernel, [DOUBLE] * 6, [])
    inputs = sample(kernel, 500, seed=1)
    native, emulated = compiled_and_emulated(kernel, formats, inputs, tmp_path)
    np.testing.assert_array_equal(bits_of(native.outputs), bits_of(emulated.outputs))
    np.testing.assert_array_equal(native.branches, emulated.branches)


@SETTINGS
@given(data=st.data(), precision=st.sampled_from(["double", "float"]),
       palette=st.sampled_from([(FLOAT, DOUBLE), FORMATS]))
def test_native_file_computes_the_emulation_with_casts(
        tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, precision: str,
        palette: tuple) -> None:
    """+ − × ÷, sqrt, fma and the exact operations, in random formats: the compiled file
    equals the emulation with argument rounding bit for bit, decisions included."""
    kernel = data.draw(random_kernels(ops=NATIVE_OPS, precision=precision))
    formats = data.draw(st.lists(st.sampled_from(palette), min_size=len(kernel.sites),
                                 max_size=len(kernel.sites)))
    inputs = sample(kernel, 300, seed=2)
    native, emulated = compiled_and_emulated(kernel, formats, inputs,
                                             tmp_path_factory.mktemp("native"))
    np.testing.assert_array_equal(bits_of(native.outputs), bits_of(emulated.outputs))
    if kernel.n_branches:
        np.testing.assert_array_equal(native.branches, emulated.branches)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_libm_functions_are_close_but_not_exact(fmt, tmp_path: Path) -> None:
    """sin is not correctly rounded in libm: the emulation only approximates it."""
    kernel = chain("s", "sin", "0", 0.1, 2.0)
    inputs = sample(kernel, 2000, seed=3)
    native, emulated = compiled_and_emulated(kernel, [fmt], inputs, tmp_path)
    ulp = np.spacing(np.abs(emulated.outputs)) * 2.0 ** (53 - min(fmt.bits, 53))
    assert np.all(np.abs(native.outputs - emulated.outputs) <= ulp)
