"""C in, C out: kernels parsed by the C frontend, evaluated by the compiled evaluator, the
interpreter, the tuned MPFR file and the native file; all four agree bit for bit where the
semantics says they must (docs/method.md §1, §5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ir_kernels import bits_of

from precisec.backend.formats import FORMATS
from precisec.backend.mpfr import emit_mpfr
from precisec.backend.native import emit_native
from precisec.frontend.c import parse_c
from precisec.ir.core import Kernel
from precisec.semantics import interpret
from precisec.semantics.compiled import Evaluator
from precisec.toolchain import run_tuned, trace_hash

HEAT = """\
#define N 12
#pragma precisec range(u0[], 0, 1)
#pragma precisec range(k, 0.1, 0.3)
void heat(const double u0[N], double k, double out[N]) {
    double u[N];
    for (int i = 0; i < N; i++) u[i] = u0[i];
    for (int t = 0; t < 15; t++) {
        double v[N] = {0.0};
        v[0] = u[0];
        v[N - 1] = u[N - 1];
        for (int i = 1; i < N - 1; i++) {
            double lap = u[i - 1] - 2.0 * u[i] + u[i + 1];
            v[i] = u[i] + k * lap;
            if (v[i] > 0.75) v[i] = 0.75 - 0.5 * (v[i] - 0.75);
        }
        for (int i = 0; i < N; i++) u[i] = v[i];
    }
    for (int i = 0; i < N; i++) out[i] = u[i];
}
"""

HELPERS = """\
#include <math.h>
#pragma precisec range(x, 0.5, 2.0)
#pragma precisec range(y, -1.0, 1.0)
static double poly(double t, int n) {
    double p = 1.0;
    for (int j = n; j > 0; j--) p = p * t + 1.0 / j;
    return p;
}
double mix(double x, double y) {
    double a = poly(x, 4);
    double b = y < 0.0 ? -y : sqrt(y + x);
    double m = fmax(a, b) - fmin(a, 0.3);
    for (int i = 0; i < 3; i++) {
        if (m > 2.0 && x < 1.5) m = m / 2.0;
        else m = fma(m, 0.9, -0.05 * i);
    }
    return m + poly(b, 2);
}
"""

FLOATS = """\
#pragma precisec range(x, 0.25, 4.0)
#pragma precisec range(w[], -1.0, 1.0)
float dot(float x, const float w[3]) {
    float s = 0.0f;
    for (int i = 2; i >= 0; i--) s = s * x + w[i] / 3.0f;
    return s;
}
"""


def kernels() -> list[Kernel]:
    return [parse_c(HEAT, "heat.c"), parse_c(HELPERS, "mix.c"), parse_c(FLOATS, "dot.c")]


def inputs_of(kernel: Kernel, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lows, highs = np.array(kernel.lows), np.array(kernel.highs)
    points = lows + (highs - lows) * rng.random((count, len(lows)))
    return points.astype(np.float32).astype(np.float64) if kernel.precision == "float" \
        else points


@pytest.mark.parametrize("kernel", kernels(), ids=lambda k: k.name)
def test_every_layer_agrees(kernel: Kernel, tmp_path: Path) -> None:
    rng = np.random.default_rng(len(kernel.sites))
    bits = [int(b) for b in rng.integers(12, 70, len(kernel.sites))]
    inputs = inputs_of(kernel, 300, seed=1)
    with Evaluator(kernel) as evaluator:
        emulated = evaluator.emulate(bits, inputs)
        reference = evaluator.exact(inputs)
        formats = [FORMATS[int(k)] for k in rng.integers(0, len(FORMATS), len(kernel.sites))]
        cast = evaluator.emulate([f.bits for f in formats], inputs, round_arguments=True)
    # the interpreter, on a few points
    for row in range(0, 300, 37):
        run = interpret.run(kernel, inputs[row], bits)
        assert interpret.point_outputs(kernel, inputs[row], bits) == list(emulated.outputs[row])
        if kernel.n_branches:
            assert trace_hash(run.trace) == emulated.branches[row]
    # the tuned MPFR file
    mpfr_file = tmp_path / f"{kernel.name}.c"
    mpfr_file.write_text(emit_mpfr(kernel, bits, ["pipeline"]))
    tuned = run_tuned(mpfr_file, kernel, inputs)
    np.testing.assert_array_equal(bits_of(tuned.outputs), bits_of(emulated.outputs))
    # the native file (+ − × ÷, sqrt, fma and exact operations only in these kernels)
    native_file = tmp_path / f"{kernel.name}_native.c"
    native_file.write_text(emit_native(kernel, formats, ["pipeline"]))
    native = run_tuned(native_file, kernel, inputs, native=True)
    np.testing.assert_array_equal(bits_of(native.outputs), bits_of(cast.outputs))
    if kernel.n_branches:
        np.testing.assert_array_equal(tuned.branches, emulated.branches)
        np.testing.assert_array_equal(native.branches, cast.branches)
    # the tuned file is accurate to about its precision
    error = np.abs(reference.errors(tuned.outputs))
    assert np.all(np.isfinite(error)) and np.max(error) < 1e-1
