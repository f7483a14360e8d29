"""The toolchain: MPFR found, tuned files built strictly against the kernel's signature,
and a tuned program that hangs, crashes or writes the wrong number of results is stopped
(with everything it started) and reported in the tuned file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from ir_kernels import chain

from precisec.errors import PrecisecError
from precisec.toolchain import (
    HASH_PRIME,
    HASH_START,
    build_check,
    cflags_line,
    find_toolchain,
    native_support,
    run_tuned,
    signature,
    trace_hash,
)

KERNEL = chain("f", "mul", "1.5", 0.0, 1.0)  # double f(double x) { return x * 1.5; }
INPUTS = np.array([[0.25], [0.5]])


def tuned(tmp_path: Path, body: str, prelude: str = "") -> Path:
    path = tmp_path / "fake.c"
    path.write_text(f"{prelude}double f(double x)\n{{\n{body}\n}}\n")
    return path


def test_toolchain_and_flags() -> None:
    chain_ = find_toolchain()
    assert chain_.origin in ("system", "gmpy2 wheel")
    assert cflags_line() == " ".join((*chain_.cflags, *chain_.libs))
    assert cflags_line("native").split() == ["-ffp-contract=off", "-lquadmath", "-lm"]
    assert native_support().long_double_bits >= 53


def test_signature_is_the_kernels() -> None:
    assert signature(KERNEL) == "double f(double x)"


def test_a_plain_c_file_runs(tmp_path: Path) -> None:
    run = run_tuned(tuned(tmp_path, "    return x * 1.5;"), KERNEL, INPUTS, native=True)
    np.testing.assert_array_equal(run.outputs, [[0.375], [0.75]])
    assert run.branches is None


def test_trace_hash_is_the_c_hash() -> None:
    assert trace_hash([]) == HASH_START
    assert trace_hash([3]) == ((HASH_START ^ 3) * HASH_PRIME) % 2**64
    assert trace_hash([0, 1]) != trace_hash([1, 0])


def test_compile_errors_are_located_in_the_tuned_file(tmp_path: Path) -> None:
    path = tuned(tmp_path, "    return x *;")
    with pytest.raises(PrecisecError) as caught:
        build_check(path, KERNEL)
    assert caught.value.loc.file == str(path)
    assert caught.value.loc.line == 3
    assert "gcc could not build it: expected expression" in caught.value.message
    assert "\n" not in caught.value.message  # one line, as every exit-2 message


def test_warnings_are_errors(tmp_path: Path) -> None:
    path = tuned(tmp_path, "    int unused = 1;\n    return x;")
    with pytest.raises(PrecisecError, match="unused"):
        build_check(path, KERNEL)


def test_another_signature_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fake.c"
    path.write_text("float f(float x)\n{\n    return x;\n}\n")
    with pytest.raises(PrecisecError, match="conflicting types"):
        build_check(path, KERNEL)


def test_a_hanging_program_is_killed_with_its_children(tmp_path: Path) -> None:
    """The program forks a child that sleeps forever, writes its pid, and hangs itself;
    after the timeout neither survives."""
    pids = tmp_path / "pids"
    # POSIX declared by hand: the verification header comes before any feature macro
    prelude = "#include <stdio.h>\nint fork(void);\nint getpid(void);\nint pause(void);\n"
    body = (f'    FILE *out = fopen("{pids}", "w");\n'
            "    int child = fork();\n"
            "    if (child == 0) { for (;;) pause(); }\n"
            '    fprintf(out, "%d %d\\n", getpid(), child);\n'
            "    fclose(out);\n"
            "    for (;;) pause();\n"
            "    return x;")
    started = time.monotonic()
    with pytest.raises(PrecisecError) as caught:
        run_tuned(tuned(tmp_path, body, prelude), KERNEL, INPUTS, native=True, timeout=2)
    assert time.monotonic() - started < 30
    assert caught.value.loc.file == str(tmp_path / "fake.c")
    assert "did not finish within 2 s" in caught.value.message
    for pid in map(int, pids.read_text().split()):
        assert not _running(pid), pid


def _running(pid: int) -> bool:
    """Alive and not a zombie, within a second."""
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status")
        try:
            state = next(line for line in status.read_text().splitlines()
                         if line.startswith("State:"))
        except (FileNotFoundError, ProcessLookupError):
            return False
        if "zombie" in state or " Z" in state:
            return False
        time.sleep(0.05)
    return os.path.exists(f"/proc/{pid}")


def test_a_crash_is_reported(tmp_path: Path) -> None:
    prelude = "#include <signal.h>\n"
    path = tuned(tmp_path, "    raise(SIGSEGV);\n    return x;", prelude)
    with pytest.raises(PrecisecError, match=r"crashed \(SIGSEGV\)") as caught:
        run_tuned(path, KERNEL, INPUTS, native=True)
    assert caught.value.loc.file == str(path)


def test_a_wrong_result_count_is_reported(tmp_path: Path) -> None:
    """A kernel that ends the program early leaves fewer results than samples."""
    prelude = "#include <stdlib.h>\n"
    path = tuned(tmp_path, "    if (x > 0.3) exit(0);\n    return x;", prelude)
    with pytest.raises(PrecisecError, match="1 result rows for 2 samples") as caught:
        run_tuned(path, KERNEL, INPUTS, native=True)
    assert caught.value.loc.file == str(path)


def test_a_printing_kernel_does_not_corrupt_results(tmp_path: Path) -> None:
    prelude = "#include <stdio.h>\n"
    path = tuned(tmp_path, '    printf("hello %f\\n", x);\n    return x + 1.0;', prelude)
    np.testing.assert_array_equal(run_tuned(path, KERNEL, INPUTS, native=True).outputs,
                                  [[1.25], [1.5]])
