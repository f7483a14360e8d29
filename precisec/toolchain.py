"""gcc and MPFR: find them, compile generated C, run it safely, and verify a tuned file.

MPFR is looked for on the system first (`-lmpfr -lgmp`); failing that, the headers and
shared libraries inside the gmpy2 wheel are used, with an rpath so the program finds them
at run time. Native kernels need only libm and, for _Float128 functions, libquadmath;
`native_support` probes which hardware formats exist.

Every program runs in its own process group with a time limit and is killed (the whole
group) on timeout or when the caller is interrupted. Programs read their inputs from a
file and write their results to another file, never stdout, so a kernel that prints
cannot corrupt them. The branch decisions a program takes are folded into one 64-bit
hash per sample (`trace_hash`, and `BRANCH_HASH_C` for C), the same in the compiled
evaluator (`precisec.semantics.compiled`) and in the verification driver of a tuned file
(docs/real-kernels.md, branch decisions); so are the trip counts of its while loops (each
loop's number, then its trips, in exit order: `TRIPS_HASH_C`), into a second hash.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from precisec.errors import PrecisecError, SourceLoc
from precisec.ir.core import Kernel, executions

TUNED_FLAGS = ("-std=c11", "-O2", "-Wall", "-Wextra", "-Werror")
NATIVE_FLAGS = ("-ffp-contract=off",)
NATIVE_LIBS = ("-lquadmath",)

# FNV-1a's constants, one step per decision (2·branch + taken).
HASH_START = 14695981039346656037
HASH_PRIME = 1099511628211
_MASK = (1 << 64) - 1

BRANCH_HASH_C = f"""\
#include <stdint.h>
extern uint64_t pc_branch_hash;
static inline int pc_branch(long pc_b, int pc_c)
{{
    pc_branch_hash = (pc_branch_hash ^ (uint64_t) (2 * pc_b + (pc_c != 0)))
        * UINT64_C({HASH_PRIME});
    return pc_c;
}}
#define PC_HASH_START UINT64_C({HASH_START})
#define PRECISEC_BRANCH(b, c) pc_branch((b), (c))
"""


TRIPS_HASH_C = f"""\
#include <stdint.h>
extern uint64_t pc_trip_hash;
#define PRECISEC_TRIPS(w, n) (pc_trip_hash = ((((pc_trip_hash ^ (uint64_t) (w)) \\
    * UINT64_C({HASH_PRIME})) ^ (uint64_t) (n)) * UINT64_C({HASH_PRIME})))
"""


def trace_hash(trace: Sequence[int]) -> int:
    """The hash of a decision sequence (`interpret.Run.trace`), as the C programs compute
    it; of a trip sequence (`interpret.Run.trips`) likewise."""
    value = HASH_START
    for decision in trace:
        value = ((value ^ decision) * HASH_PRIME) & _MASK
    return value


@dataclass(frozen=True)
class Emulation:
    """Outputs (n, len(result_labels)) as the kernel's type returns them, and per sample
    the hash of the branch decisions taken (None for a kernel without branches) and of
    the trip counts (None for a kernel without while loops)."""

    outputs: np.ndarray
    branches: np.ndarray | None
    trips: np.ndarray | None = None


# -- finding the tools ------------------------------------------------------------------

_MPFR_PROBE = ("#include <mpfr.h>\n"
               "int main(void) { mpfr_t x; mpfr_init2(x, 8); mpfr_clear(x); return 0; }\n")
_LDBL_PROBE = ("#include <float.h>\n#include <stdio.h>\n"
               "int main(void) { printf(\"%d\\n\", LDBL_MANT_DIG); return 0; }\n")
_QUAD_PROBE = ("#include <quadmath.h>\n"
               "int main(void) { __float128 x = 2.0Q; return (int) sqrtq(x * x) - 2; }\n")


@dataclass(frozen=True)
class Toolchain:
    """A C compiler and the flags that build and link against MPFR."""

    cc: str
    cflags: tuple[str, ...]
    libs: tuple[str, ...]
    origin: str


def compiler() -> str:
    """CC, else gcc, else cc."""
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("no C compiler found: install gcc or set CC")
    return cc


def _gmpy2_mpfr() -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    import gmpy2

    package = Path(gmpy2.__file__).parent
    libdir = package.parent / "gmpy2.libs"
    mpfr = sorted(libdir.glob("libmpfr*.so*"))
    gmp = sorted(libdir.glob("libgmp*.so*"))
    if not (package / "mpfr.h").exists() or not mpfr or not gmp:
        return None
    return (f"-I{package}",), (str(mpfr[0]), str(gmp[0]), f"-Wl,-rpath,{libdir}")


def _probe(cc: str, source: str, cflags: Sequence[str] = (), libs: Sequence[str] = (),
           run: bool = False) -> str | None:
    """Build (and with `run`, run) a small program: its stdout, or None if it fails."""
    with tempfile.TemporaryDirectory(prefix="precisec-probe-") as tmp:
        path, program = Path(tmp) / "probe.c", Path(tmp) / "probe"
        path.write_text(source)
        built = subprocess.run([cc, "-std=c11", *cflags, str(path), "-o", str(program), *libs],
                               capture_output=True, text=True, check=False)
        if built.returncode != 0:
            return None
        if not run:
            return ""
        ran = subprocess.run([str(program)], capture_output=True, text=True, check=False,
                             timeout=30)
        return ran.stdout if ran.returncode == 0 else None


@cache
def find_toolchain() -> Toolchain:
    """The compiler (CC or gcc) and where MPFR comes from: system first, then gmpy2."""
    cc = compiler()
    if _probe(cc, _MPFR_PROBE, libs=("-lmpfr", "-lgmp")) is not None:
        return Toolchain(cc, (), ("-lmpfr", "-lgmp"), "system")
    bundled = _gmpy2_mpfr()
    if bundled is not None and _probe(cc, _MPFR_PROBE, *bundled) is not None:
        return Toolchain(cc, bundled[0], bundled[1], "gmpy2 wheel")
    raise RuntimeError("MPFR not found: install libmpfr-dev or the gmpy2 wheel")


@dataclass(frozen=True)
class NativeSupport:
    """Hardware formats the compiler offers beyond float and double."""

    long_double_bits: int
    float128: bool


@cache
def native_support() -> NativeSupport:
    """long double's precision (LDBL_MANT_DIG) and whether __float128 + libquadmath work."""
    cc = compiler()
    digits = _probe(cc, _LDBL_PROBE, run=True)
    if digits is None:
        raise RuntimeError(f"{cc} cannot build a C11 program")
    quad = _probe(cc, _QUAD_PROBE, libs=NATIVE_LIBS, run=True) is not None
    return NativeSupport(int(digits), quad)


def cflags_line(backend: str = "mpfr") -> str:
    """What to add to a gcc command line to build a tuned file of `backend`."""
    if backend == "native":
        return " ".join((*NATIVE_FLAGS, *NATIVE_LIBS, "-lm"))
    chain = find_toolchain()
    return " ".join((*chain.cflags, *chain.libs, *(("-lm",) if backend == "fast" else ())))


# -- compiling and running ----------------------------------------------------------------

_GCC_ERROR = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?:fatal )?error: "
                        r"(?P<message>.*)$", re.M)


def compile_c(sources: Sequence[Path], program: Path, *, flags: Sequence[str], mpfr: bool,
              native: bool = False, includes: Sequence[Path] = (),
              blame: Path | None = None) -> None:
    """Build `program`; a compiler error is a PrecisecError at the first error's position
    in `blame` (the tuned file), else at the top of the first source."""
    chain = find_toolchain() if mpfr else None
    command = [chain.cc if chain else compiler(), *flags,
               *(NATIVE_FLAGS if native else ()), *(chain.cflags if chain else ()),
               *(arg for header in includes for arg in ("-include", str(header))),
               *map(str, sources), "-o", str(program),
               *(chain.libs if chain else ()), *(NATIVE_LIBS if native else ()), "-lm"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return
    blamed = blame or sources[0]
    loc = SourceLoc(str(blamed), 1, 1)
    errors = list(_GCC_ERROR.finditer(result.stderr))
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    first = lines[0] if lines else f"exit status {result.returncode}"
    for match in errors:
        if Path(match["file"]).name == blamed.name:
            loc = SourceLoc(str(blamed), int(match["line"]), int(match["col"]))
            first = match["message"]
            break
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    # One line, as every exit-2 message: gcc's first error in the file, and a count.
    raise PrecisecError(loc, f"gcc could not build it: {first}{more}")


class ProgramFailed(Exception):
    """A program crashed, exited non-zero or ran out of time; `stderr` is what it said."""

    def __init__(self, message: str, stderr: str, returncode: int | None) -> None:
        super().__init__(message)
        self.stderr = stderr
        self.returncode = returncode


def run_programs(commands: Sequence[Sequence[str]], timeout: float | None) -> None:
    """Run the commands in parallel, each in its own process group; kill every group on
    timeout, on failure of one, or if the caller is interrupted."""
    procs: list[subprocess.Popen[bytes]] = []
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for command in commands:
            procs.append(subprocess.Popen(list(command), stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          start_new_session=True))
        for proc in procs:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            try:
                _, stderr = proc.communicate(timeout=left)
            except subprocess.TimeoutExpired:
                raise ProgramFailed(f"did not finish within {timeout:.0f} s", "", None) from None
            if proc.returncode != 0:
                raise ProgramFailed(_exit_text(proc.returncode), stderr.decode(errors="replace"),
                                    proc.returncode)
    finally:
        for proc in procs:
            if proc.poll() is None:
                _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _exit_text(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"crashed ({signal.Signals(-returncode).name})"
        except ValueError:
            return f"crashed (signal {-returncode})"
    return f"exited with status {returncode}"


def read_rows(path: Path, count: int, doubles: int, hashed: bool,
              tripped: bool = False) -> np.ndarray:
    """A results file: per sample `doubles` float64 then (if `hashed`) a uint64 branch
    hash, then (if `tripped`) a uint64 trip hash."""
    fields = [("values", "<f8", (doubles,))] + ([("hash", "<u8")] if hashed else []) + \
        ([("trips", "<u8")] if tripped else [])
    data = np.fromfile(path, dtype=np.dtype(fields))
    if len(data) != count:
        raise ValueError(f"{len(data)} result rows for {count} samples")
    return data


# -- tuned files: signature, verification driver, build check, run ------------------------

def signature(kernel: Kernel) -> str:
    """The tuned function's C declarator: the kernel's own signature."""
    ctype = kernel.precision
    params = []
    for param, var in zip(kernel.params, kernel.body.params, strict=True):
        dims = "".join(f"[{n}]" for n in var.shape)
        const = "const " if dims and param in kernel.inputs else ""
        params.append(f"{const}{ctype} {param.name}{dims}")
    result = ctype if kernel.returns else "void"
    return f"{result} {kernel.name}({', '.join(params) or 'void'})"


def _driver(kernel: Kernel) -> str:
    """main(inputs, results, count): each sample's row of doubles in, its results (and
    branch hash) out, for the tuned function compiled beside it. Its names all start with
    pc_, so the kernel's own names cannot clash with them."""
    ctype = kernel.precision
    width = len(kernel.input_labels)
    results = len(kernel.result_labels)
    decls, fills, args, writes = [], [], [], []
    position = 0
    for param, var in zip(kernel.params, kernel.body.params, strict=True):
        if not var.shape:
            args.append(f"({ctype}) pc_row[{position}]")
            position += 1
            continue
        dims = "".join(f"[{n}]" for n in var.shape)
        decls.append(f"static {ctype} pc_{param.name}{dims};")
        flat = f"(({ctype} *) pc_{param.name})"
        args.append(f"pc_{param.name}")
        if param in kernel.inputs:
            fills.append(f"for (int pc_k = 0; pc_k < {var.size}; pc_k++) "
                         f"{flat}[pc_k] = ({ctype}) pc_row[{position} + pc_k];")
            position += var.size
        else:
            fills.append(f"for (int pc_k = 0; pc_k < {var.size}; pc_k++) {flat}[pc_k] = 0;")
            writes.append(f"for (int pc_k = 0; pc_k < {var.size}; pc_k++) "
                          f"pc_res[pc_n++] = (double) {flat}[pc_k];")
    call = f"{kernel.name}({', '.join(args)})"
    call = f"pc_res[pc_n++] = (double) {call};" if kernel.returns else f"{call};"
    hashed = kernel.n_branches > 0
    tripped = kernel.n_whiles > 0
    body = "\n".join(f"        {line}" for line in (
        f"if (fread(pc_row, sizeof(double), {width}, pc_inputs) != {width}) return 3;",
        "int pc_n = 0;", *fills, "pc_branch_hash = PC_HASH_START;",
        "pc_trip_hash = PC_HASH_START;", call, *writes,
        f"if (fwrite(pc_res, sizeof(double), {results}, pc_results) != {results}) return 4;",
        *(["if (fwrite(&pc_branch_hash, sizeof pc_branch_hash, 1, pc_results) != 1) "
           "return 4;"] if hashed else []),
        *(["if (fwrite(&pc_trip_hash, sizeof pc_trip_hash, 1, pc_results) != 1) "
           "return 4;"] if tripped else [])))
    return "\n".join([
        "#include <stdio.h>", "#include <stdlib.h>", "uint64_t pc_branch_hash;",
        "uint64_t pc_trip_hash;",
        f"static double pc_row[{max(width, 1)}];", f"static double pc_res[{max(results, 1)}];",
        *decls, "int main(int pc_argc, char **pc_argv)", "{",
        "    if (pc_argc != 4) return 2;",
        "    FILE *pc_inputs = fopen(pc_argv[1], \"rb\");",
        "    FILE *pc_results = fopen(pc_argv[2], \"wb\");",
        "    if (pc_inputs == NULL || pc_results == NULL) return 2;",
        "    long pc_count = atol(pc_argv[3]);",
        "    for (long pc_s = 0; pc_s < pc_count; pc_s++) {", body, "    }",
        "    fclose(pc_inputs);", "    return fclose(pc_results) == 0 ? 0 : 4;", "}", ""])


def _check_header(kernel: Kernel) -> str:
    """Force-included before the tuned file: the hashing PRECISEC_BRANCH and
    PRECISEC_TRIPS, and the expected prototype, so a tuned file with another signature is
    a compile error."""
    return f"{BRANCH_HASH_C}{TRIPS_HASH_C}{signature(kernel)};\n"


def _build_tuned(path: Path, kernel: Kernel, workdir: Path, native: bool,
                 with_driver: bool) -> Path:
    header = workdir / "pc_check.h"
    header.write_text(_check_header(kernel))
    sources = [path]
    flags: tuple[str, ...] = TUNED_FLAGS
    if with_driver:
        driver = workdir / "pc_driver.c"
        driver.write_text(_driver(kernel))
        sources.append(driver)
    else:
        flags = (*flags, "-c")
    program = workdir / ("pc_tuned" if with_driver else "pc_tuned.o")
    compile_c(sources, program, flags=flags, mpfr=not native, native=native,
              includes=(header,), blame=path)
    return program


def build_check(path: Path, kernel: Kernel) -> None:
    """Compile a tuned file (MPFR or native, told by its #include) with the strict flags
    against the kernel's signature; compile errors become a PrecisecError in the file."""
    native = "#include <mpfr.h>" not in path.read_text(errors="replace")
    with tempfile.TemporaryDirectory(prefix="precisec-check-") as tmp:
        _build_tuned(path, kernel, Path(tmp), native, with_driver=False)


def default_timeout(kernel: Kernel, count: int) -> float:
    """60 s, plus 2 µs per dynamic rounding operation of the whole run."""
    return 60.0 + 2e-6 * count * max(sum(executions(kernel)), 1)


def run_tuned(path: Path, kernel: Kernel, inputs: np.ndarray, native: bool = False,
              timeout: float | None = None, wrapper: Sequence[str] = ()) -> Emulation:
    """Build the tuned file with a verification driver and run it on `inputs` (under
    `wrapper`, e.g. valgrind, if given).

    A crash, a timeout (`default_timeout` unless given) or a wrong number of results is
    a PrecisecError located in the tuned file."""
    inputs = np.ascontiguousarray(inputs, dtype="<f8")
    count = len(inputs)
    loc = SourceLoc(str(path), 1, 1)
    with tempfile.TemporaryDirectory(prefix="precisec-run-") as tmp:
        workdir = Path(tmp)
        program = _build_tuned(path, kernel, workdir, native, with_driver=True)
        source, sink = workdir / "inputs.bin", workdir / "results.bin"
        inputs.tofile(source)
        limit = default_timeout(kernel, count) if timeout is None else timeout
        try:
            run_programs([[*wrapper, str(program), str(source), str(sink), str(count)]], limit)
        except ProgramFailed as failed:
            detail = f": {failed.stderr.strip()}" if failed.stderr.strip() else ""
            raise PrecisecError(loc, f"the tuned kernel {failed}{detail}") from None
        hashed, tripped = kernel.n_branches > 0, kernel.n_whiles > 0
        try:
            rows = read_rows(sink, count, len(kernel.result_labels), hashed, tripped)
        except ValueError as err:
            raise PrecisecError(loc, f"the tuned kernel wrote {err}") from None
    return Emulation(np.array(rows["values"]).reshape(count, -1),
                     np.array(rows["hash"]) if hashed else None,
                     np.array(rows["trips"]) if tripped else None)
