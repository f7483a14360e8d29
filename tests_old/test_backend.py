"""The MPFR backend: emitted C compiles warning-free and computes bit for bit what the
emulator computes, for every benchmark and every operation of the table; no leaks."""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from helpers import KERNEL_NAMES, benchmark, kernel, ranges

from precisec.backend.mpfr import emit_mpfr
from precisec.ir import Kernel, Op
from precisec.ops import C_FUNCTIONS
from precisec.reference import emulate, sample_inputs
from precisec.toolchain import TUNED_FLAGS, Built, build

ALLOCATIONS = ("random", "double")


def bits_of(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype="<f8").view("<i8")


def allocation(k: Kernel, kind: str, seed: int) -> dict[int, int]:
    if kind == "double":
        return dict.fromkeys(k.rounding_ops, 53)
    rng = np.random.Generator(np.random.PCG64(seed))
    return {i: int(b) for i, b in zip(k.rounding_ops, rng.integers(20, 61, len(k.rounding_ops)),
                                      strict=True)}


def emit_and_build(k: Kernel, bits: dict[int, int], directory: Path, stem: str) -> Built:
    source = directory / f"{stem}.c"
    source.write_text(emit_mpfr(k, bits, [f"test build of {k.name}"]))
    return build(source, k, mpfr=True)


def test_tuned_builds_use_the_strict_flags() -> None:
    for flag in ("-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"):
        assert flag in TUNED_FLAGS


@pytest.fixture(scope="module")
def tuned_builds(toolchain_available: bool, tmp_path_factory: pytest.TempPathFactory):
    """Every benchmark emitted with each allocation kind, compiled in parallel."""
    directory = tmp_path_factory.mktemp("backend")
    jobs = [(name, kind) for name in KERNEL_NAMES for kind in ALLOCATIONS]

    def job(item: tuple[str, str]) -> tuple[dict[int, int], Built]:
        name, kind = item
        k = benchmark(name)
        bits = allocation(k, kind, seed=KERNEL_NAMES.index(name))
        return bits, emit_and_build(k, bits, directory, f"{name}_{kind}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        built = dict(zip(jobs, pool.map(job, jobs), strict=True))
    yield built
    for _, b in built.values():
        b.directory.cleanup()


@pytest.mark.parametrize("kind", ALLOCATIONS)
@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_mpfr_code_is_bit_identical_to_the_emulator(tuned_builds, name: str, kind: str) -> None:
    k = benchmark(name)
    bits, built = tuned_builds[(name, kind)]
    inputs = sample_inputs(k, 1000, seed=31)
    compiled = built.run(inputs)
    emulated = emulate(k, bits, inputs)
    mismatches = np.flatnonzero(bits_of(compiled) != bits_of(emulated))
    assert mismatches.size == 0, (
        f"{mismatches.size} mismatches; first at {inputs[mismatches[0]]}: "
        f"MPFR {compiled[mismatches[0]]!r}, emulator {emulated[mismatches[0]]!r}")


EVERY_FUNCTION_ARGS = {1: "(x)", 2: "(x, y)", 3: "(x, y, z)"}


def every_function_kernel() -> Kernel:
    """One kernel calling every C function of the table on arguments in its domain, with
    constants and operators between them."""
    terms = []
    for name, spec in sorted(C_FUNCTIONS.items()):
        terms.append(f"{name}{EVERY_FUNCTION_ARGS[spec.arity]}")
    body = "    double s = 0.1;\n" + "".join(
        f"    s {'+' if i % 2 == 0 else '-'}= {term} * {1 + i}.3;\n" for i, term in
        enumerate(terms))
    source = (ranges(x=(0.1, 0.9), y=(0.2, 0.8), z=(0.3, 0.7))
              + "double every(double x, double y, double z) {\n" + body
              + "    return -s / 3.0;\n}\n")
    return kernel(source, "every.c")


@pytest.mark.parametrize("seed", [1, 2])
def test_every_table_operation_emits_its_mpfr_function(
        toolchain_available: bool, tmp_path: Path, seed: int) -> None:
    k = every_function_kernel()
    used = {n.op for n in k.nodes if isinstance(n, Op)}
    assert {s.name for s in C_FUNCTIONS.values()} <= used
    bits = allocation(k, "random", seed)
    text = emit_mpfr(k, bits, [])
    for op in used:
        spec = next(n for n in k.nodes if isinstance(n, Op) and n.op == op).spec
        assert f"{spec.mpfr_function}(" in text
    built = emit_and_build(k, bits, tmp_path, "every")
    try:
        inputs = sample_inputs(k, 500, seed=seed)
        np.testing.assert_array_equal(bits_of(built.run(inputs)),
                                      bits_of(emulate(k, bits, inputs)))
    finally:
        built.directory.cleanup()


def test_emitted_code_structure() -> None:
    k = benchmark("verhulst")
    bits = {i: 30 + n for n, i in enumerate(k.rounding_ops)}
    text = emit_mpfr(k, bits, ["first header line", "second"])
    assert text.startswith("/*\n * first header line\n * second\n */\n")
    assert "#include <mpfr.h>" in text
    assert re.search(r"^double verhulst\(double x\)$", text, re.M)
    declared = re.search(r"mpfr_t ([^;]+);", text).group(1).split(", ")
    inits = re.findall(r"mpfr_init2\((\w+), (\d+)\);", text)
    assert sorted(name for name, _ in inits) == sorted(declared)
    cleared = re.search(r"mpfr_clears\(([^;]+), \(mpfr_ptr\) 0\);", text).group(1).split(", ")
    assert sorted(cleared) == sorted(declared)
    assert "mpfr_set_d(pc_in_x, x, MPFR_RNDN);" in text
    assert ("pc_in_x", "53") in inits
    # one comment per operation with its source position and bits
    comments = re.findall(r"/\* (\d+):(\d+) (\w+), (\d+) bits \*/", text)
    assert [(int(line), int(col), op, int(b)) for line, col, op, b in comments] == [
        (k.nodes[i].loc.line, k.nodes[i].loc.col, k.nodes[i].op, bits[i])
        for i in k.rounding_ops]
    # constants are set from their exact decimal text at the consumer's precision
    div = next(i for i in k.rounding_ops if k.nodes[i].op == "div"
               and any(k.nodes[a].__class__.__name__ == "Const" for a in k.nodes[i].args))
    const_name = f"pc_c{div}_1"
    assert f'mpfr_set_str({const_name}, "1.11", 10, MPFR_RNDN);' in text
    assert (const_name, str(bits[div])) in inits
    assert "mpfr_get_d(" in text and "MPFR_RNDN" in text


@pytest.mark.parametrize("source", [
    # parameters spelled like the backend's own names
    ranges(result=(1, 2)) + "double f(double result) {\n    return result * 1.1;\n}\n",
    ranges(t2=(1, 2), x=(1, 2)) + "double f(double t2, double x) {\n"
    "    return (t2 * x) + 0.3;\n}\n",
    ranges(x=(1, 2), in_x=(1, 2)) + "double f(double x, double in_x) {\n"
    "    return x - in_x;\n}\n",
    # a kernel whose result is an input, or a constant
    ranges(x=(1, 2), y=(1, 2)) + "double f(double x, double y) {\n    return y;\n}\n",
    ranges(x=(1, 2)) + "double f(double x) {\n    return 2.5;\n}\n",
], ids=["param-result", "param-t2", "param-in_x", "returns-input", "returns-constant"])
def test_unusual_kernels_build_and_match(toolchain_available: bool, tmp_path: Path,
                                         source: str) -> None:
    k = kernel(source)
    bits = dict.fromkeys(k.rounding_ops, 24)
    built = emit_and_build(k, bits, tmp_path, "unusual")
    try:
        inputs = sample_inputs(k, 200, seed=0)
        np.testing.assert_array_equal(bits_of(built.run(inputs)),
                                      bits_of(emulate(k, bits, inputs)))
    finally:
        built.directory.cleanup()


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
@pytest.mark.parametrize("name", ["doppler1", "jet"])
def test_tuned_kernel_is_valgrind_clean(tuned_builds, name: str, tmp_path: Path) -> None:
    k = benchmark(name)
    bits, built = tuned_builds[(name, "random")]
    log = tmp_path / "valgrind.log"
    inputs = sample_inputs(k, 20, seed=1)
    outputs = built.run(inputs, wrapper=("valgrind", "--leak-check=full", "--error-exitcode=9",
                                         f"--log-file={log}"))
    np.testing.assert_array_equal(outputs, emulate(k, bits, inputs))
    report = log.read_text()
    assert "ERROR SUMMARY: 0 errors" in report, report
    assert "definitely lost: 0 bytes" in report or "no leaks are possible" in report, report
    assert "indirectly lost: 0 bytes" in report or "no leaks are possible" in report, report


def test_kernel_without_parameters_runs_once_per_row(toolchain_available: bool,
                                                     tmp_path: Path) -> None:
    """The driver reads rows of inputs until end of input; with no parameters a row is
    empty, and the program must still stop (it used to loop forever, writing output)."""
    k = kernel("double f(void) {\n    return 1.5 * 2.0;\n}\n")
    bits = dict.fromkeys(k.rounding_ops, 24)
    built = emit_and_build(k, bits, tmp_path, "noparams")
    try:
        try:
            finished = subprocess.run([str(built.executable)], input=b"", capture_output=True,
                                      timeout=5, check=False)
        except subprocess.TimeoutExpired:
            pytest.fail("the program for a kernel without parameters does not stop at the "
                        "end of its input")
        assert finished.returncode == 0
        outputs = built.run(np.zeros((3, 0)))
        np.testing.assert_array_equal(outputs, [3.0, 3.0, 3.0])
    finally:
        built.directory.cleanup()
