"""The batched entry point and the header form of fast and native files: the header
builds strictly, included twice, its `static inline` kernel and `NAME_batch` give the
separately compiled file's results bit for bit, also where some inputs of a batch leave
the safe range, for native files in float and in mixed formats (the batch vectorised, at
-O2 and without -march, which jet's also is); kernels with arrays keep only the plain
function; `--emit h` needs a backend that has it."""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import EXAMPLES, benchmark

from precisec import flow
from precisec.backend.entry import batchable, header_text, with_batch
from precisec.backend.fast import emit_fast
from precisec.backend.formats import DOUBLE, FLOAT, available_formats
from precisec.backend.native import emit_native
from precisec.errors import PrecisecError
from precisec.frontend.c import load_c
from precisec.ir import Kernel
from precisec.toolchain import NATIVE_LIBS, find_toolchain
from precisec.tune.samples import sample_inputs

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "kernel.h"
#include "kernel.h"
double {name}_file({params});
void {name}_file_batch(size_t n, {arrays}, double *out);
int main(void)
{{
    enum {{ N = {count} }};
    static double in[{arity}][N], a[N], b[N], c[N];
    if (fread(in, sizeof(double), {arity} * N, stdin) != {arity} * N) return 1;
    {name}_batch(N, {columns}, a);
    {name}_file_batch(N, {columns}, b);
    for (int i = 0; i < N; i++) c[i] = {name}_file({elements});
    for (int i = 0; i < N; i++) {{
        const double d = {name}({elements});
        if (memcmp(&a[i], &b[i], 8) || memcmp(&b[i], &c[i], 8) || memcmp(&a[i], &d, 8)) {{
            printf("differ %d\n", i);
            return 1;
        }}
    }}
    printf("ok\n");
    return 0;
}}
"""


def emit(kernel: Kernel, backend: str) -> str:
    """The tuned file of `backend`: fast at 40 bits, native all float, native with each
    site in float or double (seeded), native with each site in any available format."""
    rng = np.random.default_rng(5)
    formats = {"native": [FLOAT], "mixed": [FLOAT, DOUBLE], "wide": list(available_formats())}
    if backend == "fast":
        return emit_fast(kernel, [40] * len(kernel.sites), ["fast"])
    choices = formats[backend]
    return emit_native(kernel, [choices[int(rng.integers(len(choices)))] for _ in kernel.sites],
                       [f"native {backend}"])


@pytest.mark.parametrize("backend", ["fast", "native", "mixed", "wide"])
@pytest.mark.parametrize("name", ["sine", "turbine1", "jet"])
def test_header_and_batch_agree_with_the_file(backend: str, name: str, tmp_path: Path) -> None:
    check_entry_points(name, backend, tmp_path)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_native_batch_is_valgrind_clean(tmp_path: Path) -> None:
    """Under valgrind, which reports a CPU without AVX-512, so another clone runs."""
    check_entry_points("jet", "native", tmp_path, ("valgrind", "-q", "--error-exitcode=9"))


def check_entry_points(name: str, backend: str, tmp_path: Path,
                       runner: tuple[str, ...] = ()) -> None:
    """Header and batch equal the file's kernel bit for bit (the driver runs under
    `runner`)."""
    kernel = benchmark(name)
    assert batchable(kernel)
    text = emit(kernel, backend)
    (tmp_path / "kernel.h").write_text(header_text(kernel, text))
    (tmp_path / "file.c").write_text(with_batch(kernel, text))
    arity = len(kernel.params)
    names = [p.name for p in kernel.params]
    (tmp_path / "driver.c").write_text("#include <string.h>\n" + DRIVER.format(
        name=kernel.name, params=", ".join(["double"] * arity), count=1000, arity=arity,
        arrays=", ".join(f"const double *{n}" for n in names),
        columns=", ".join(f"in[{k}]" for k in range(arity)),
        elements=", ".join(f"in[{k}][i]" for k in range(arity))))
    chain = find_toolchain()
    strict = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off",
              *chain.cflags]
    gcc = Path(chain.cc).name == "gcc"
    built = subprocess.run([chain.cc, *strict, f"-D{kernel.name}={kernel.name}_file",
                            f"-D{kernel.name}_batch={kernel.name}_file_batch",
                            *(["-fopt-info-vec"] if gcc else []), "-c", str(tmp_path / "file.c"),
                            "-o", str(tmp_path / "file.o")],
                           check=True, capture_output=True, text=True)
    if backend in ("native", "mixed") and gcc:  # in float and double, the batch vectorises
        assert "loop vectorized" in built.stderr, built.stderr
        if platform.machine() == "x86_64":  # built without -march: its AVX2 clone too
            assert "using 32 byte vectors" in built.stderr, built.stderr
    subprocess.run([chain.cc, *strict, "-I", str(tmp_path), str(tmp_path / "driver.c"),
                    str(tmp_path / "file.o"), "-o", str(tmp_path / "driver"), *chain.libs,
                    *NATIVE_LIBS, "-lm"], check=True)
    inputs = sample_inputs(kernel, 1000, seed=4)
    inputs[::7] *= 2.0**950  # calls the fast kernel reruns in MPFR, inside a batch too
    inputs = np.ascontiguousarray(inputs.T, dtype="<f8")
    out = subprocess.run([*runner, str(tmp_path / "driver")], input=inputs.tobytes(),
                         capture_output=True, check=True)
    assert out.stdout.decode().strip() == "ok"


def test_kernels_with_arrays_keep_the_plain_function() -> None:
    kernel = load_c(EXAMPLES / "matvec.c")
    text = emit_fast(kernel, [30] * len(kernel.sites), ["fast"])
    assert not batchable(kernel)
    assert with_batch(kernel, text) == text
    assert "_batch" not in header_text(kernel, text)


def test_emit_h_needs_the_fast_or_native_backend() -> None:
    kernel = benchmark("sine")
    with pytest.raises(PrecisecError, match="--emit h needs"):
        flow.check_options(kernel, flow.Options(emit="h"))
    flow.check_options(kernel, flow.Options(emit="h", backend="fast"))
