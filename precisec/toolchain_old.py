"""gcc and MPFR: find them, build a kernel with a small driver, run it on inputs.

MPFR is looked for on the system first (`-lmpfr -lgmp`); failing that, the headers and
shared libraries that ship inside the gmpy2 wheel are used, with an rpath so the built
program finds them at run time. Native-type kernels need no MPFR, only libm and, for
_Float128 math functions, libquadmath; `native_support` probes which formats exist.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from precisec.errors import PrecisecError, SourceLoc
from precisec.ir import Kernel

TUNED_FLAGS = ("-std=c11", "-O2", "-Wall", "-Wextra", "-Werror")
PLAIN_FLAGS = ("-std=c11", "-O0", "-ffp-contract=off", "-Wall", "-Wextra",
               "-Wno-unknown-pragmas", "-Werror")

NATIVE_FLAGS = ("-ffp-contract=off",)
NATIVE_LIBS = ("-lquadmath",)

_NATIVE_PROBE = ("#include <float.h>\n#include <stdio.h>\n"
                 "int main(void) { printf(\"%d\\n\", LDBL_MANT_DIG); return 0; }\n")
_QUAD_PROBE = ("#include <quadmath.h>\n"
               "int main(void) { __float128 x = 2.0Q; return (int) sqrtq(x * x) - 2; }\n")

_PROBE = ("#include <mpfr.h>\n"
          "int main(void) { mpfr_t x; mpfr_init2(x, 8); mpfr_clear(x); return 0; }\n")


@dataclass(frozen=True)
class Toolchain:
    """A C compiler and the flags that build and link a tuned (MPFR) kernel."""

    cc: str
    cflags: tuple[str, ...]
    libs: tuple[str, ...]
    origin: str


def _gmpy2_mpfr() -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    import gmpy2

    package = Path(gmpy2.__file__).parent
    libdir = package.parent / "gmpy2.libs"
    mpfr = sorted(libdir.glob("libmpfr*.so*"))
    gmp = sorted(libdir.glob("libgmp*.so*"))
    if not (package / "mpfr.h").exists() or not mpfr or not gmp:
        return None
    return (f"-I{package}",), (str(mpfr[0]), str(gmp[0]), f"-Wl,-rpath,{libdir}")


def _links(cc: str, cflags: tuple[str, ...], libs: tuple[str, ...]) -> bool:
    with tempfile.TemporaryDirectory(prefix="precisec-probe-") as tmp:
        source = Path(tmp) / "probe.c"
        source.write_text(_PROBE)
        result = subprocess.run([cc, *cflags, str(source), "-o", str(Path(tmp) / "probe"),
                                 *libs], capture_output=True, text=True, check=False)
        return result.returncode == 0


def compiler() -> str:
    """CC, else gcc, else cc."""
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("no C compiler found: install gcc or set CC")
    return cc


@cache
def find_toolchain() -> Toolchain:
    """The compiler (CC or gcc) and where MPFR comes from: system first, then gmpy2."""
    cc = compiler()
    if _links(cc, (), ("-lmpfr", "-lgmp")):
        return Toolchain(cc, (), ("-lmpfr", "-lgmp"), "system")
    bundled = _gmpy2_mpfr()
    if bundled is not None and _links(cc, *bundled):
        return Toolchain(cc, bundled[0], bundled[1], "gmpy2 wheel")
    raise RuntimeError("MPFR not found: install libmpfr-dev or the gmpy2 wheel")


@dataclass(frozen=True)
class NativeSupport:
    """Hardware formats the compiler offers beyond float and double."""

    long_double_bits: int
    float128: bool


def _probe_output(cc: str, source: str, libs: tuple[str, ...]) -> str | None:
    """stdout of a small program (None if it does not build or run cleanly)."""
    with tempfile.TemporaryDirectory(prefix="precisec-probe-") as tmp:
        path, program = Path(tmp) / "probe.c", Path(tmp) / "probe"
        path.write_text(source)
        built = subprocess.run([cc, "-std=c11", str(path), "-o", str(program), *libs],
                               capture_output=True, text=True, check=False)
        if built.returncode != 0:
            return None
        ran = subprocess.run([str(program)], capture_output=True, text=True, check=False)
        return ran.stdout if ran.returncode == 0 else None


@cache
def native_support() -> NativeSupport:
    """long double's precision (LDBL_MANT_DIG) and whether __float128 + libquadmath work."""
    cc = compiler()
    digits = _probe_output(cc, _NATIVE_PROBE, ())
    if digits is None:
        raise RuntimeError(f"{cc} cannot build a C11 program")
    return NativeSupport(int(digits), _probe_output(cc, _QUAD_PROBE, NATIVE_LIBS) is not None)


def _driver(kernel: Kernel) -> str:
    """main(): read rows of input doubles from stdin, write one output double per row.
    A kernel without parameters reads one ignored double per row (see `row_width`)."""
    n = len(kernel.inputs)
    ctype = kernel.precision
    params = ", ".join([ctype] * n) or "void"
    args = ", ".join(f"({ctype}) in[{k}]" for k in range(n))
    width = row_width(kernel)
    return (
        "#include <stdio.h>\n"
        f"{ctype} {kernel.name}({params});\n"
        "int main(void)\n{\n"
        f"    double in[{width}];\n"
        f"    while (fread(in, sizeof(double), {width}, stdin) == {width}) {{\n"
        f"        double out = {kernel.name}({args});\n"
        "        if (fwrite(&out, sizeof(double), 1, stdout) != 1) return 1;\n"
        "    }\n    return 0;\n}\n"
    )


def row_width(kernel: Kernel) -> int:
    """Doubles per input row sent to a built kernel: at least one, so rows can be counted."""
    return max(len(kernel.inputs), 1)


TRACE_HEADER = """int precisec_branch(int site, int cond);
#define PRECISEC_BRANCH(site, cond) precisec_branch((site), (cond))
"""


def _structured_driver(kernel: Kernel, trace: bool) -> str:
    """main() for a structured kernel: array parameters are filled from (and output arrays
    written after) each row of doubles; with `trace`, the branch decisions the kernel took
    follow each row's results as doubles 2·site + outcome, padded with -1 (one slot per
    dynamic decision of the exact program, reference.branch_trace)."""
    element = kernel.precision
    slots = len(kernel.branches)
    protos, decls, fills, args, writes = [], [], [], [], []
    position = 0
    for param in kernel.params:
        dims = "".join(f"[{n}]" for n in param.shape)
        if not param.shape:
            protos.append(f"{element} {param.name}")
            args.append(f"({element}) in[{position}]")
            position += 1
            continue
        protos.append(f"{'' if param.output else 'const '}{element} {param.name}{dims}")
        decls.append(f"    static {element} a_{param.name}{dims};")
        flat = f"(({element} *) a_{param.name})"
        args.append(f"a_{param.name}")
        if param.output:
            writes.append(f"        for (int k = 0; k < {param.size}; k++) "
                          f"res[nres++] = (double) {flat}[k];")
        else:
            fills.append(f"        for (int k = 0; k < {param.size}; k++) "
                         f"{flat}[k] = ({element}) in[{position} + k];")
            position += param.size
    ret = "void" if kernel.outputs else element
    call = f"{kernel.name}({', '.join(args)})"
    results = len(kernel.results)
    lines = ["#include <stdio.h>", f"{ret} {kernel.name}({', '.join(protos) or 'void'});"]
    if trace:
        lines += [f"static double trace[{max(slots, 1)}];", "static int traced;",
                  "int precisec_branch(int site, int cond)", "{",
                  f"    if (traced < {slots}) trace[traced] = 2.0 * site + (cond != 0);",
                  "    traced++;", "    return cond;", "}"]
    lines += ["int main(void)", "{", f"    static double in[{max(position, 1)}];",
              f"    static double res[{results}];", *decls,
              f"    while (fread(in, sizeof(double), {max(position, 1)}, stdin) == "
              f"{max(position, 1)}) {{",
              "        int nres = 0;", *fills]
    if trace:
        lines += [f"        for (int k = 0; k < {slots}; k++) trace[k] = -1.0;",
                  "        traced = 0;"]
    lines += [f"        {call};" if kernel.outputs else f"        res[nres++] = (double) {call};",
              *writes,
              f"        if (fwrite(res, sizeof(double), {results}, stdout) != {results}) "
              "return 1;"]
    if trace and slots:
        lines.append(f"        if (fwrite(trace, sizeof(double), {slots}, stdout) != {slots}) "
                     "return 1;")
    lines += ["    }", "    return 0;", "}", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class Built:
    """A built kernel program; removed with its directory. Each input row yields
    `results` doubles, then `trace_slots` branch-trace slots."""

    executable: Path
    directory: tempfile.TemporaryDirectory
    results: int = 1
    trace_slots: int = 0

    def run(self, inputs: np.ndarray, wrapper: tuple[str, ...] = ()) -> np.ndarray:
        """Outputs: one per row, or a row of results per row for output arrays."""
        outputs, _ = self.run_traced(inputs, wrapper)
        return outputs

    def run_traced(self, inputs: np.ndarray, wrapper: tuple[str, ...] = (),
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        rows = inputs if inputs.shape[1] else np.zeros((len(inputs), 1))
        data = np.ascontiguousarray(rows, dtype="<f8").tobytes()
        result = subprocess.run([*wrapper, str(self.executable)], input=data,
                                capture_output=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"kernel program failed ({result.returncode}): "
                               f"{result.stderr.decode(errors='replace')}")
        flat = np.frombuffer(result.stdout, dtype="<f8").copy()
        if self.results == 1 and not self.trace_slots:
            return flat, None
        rows = flat.reshape(-1, self.results + self.trace_slots)
        outputs = rows[:, : self.results] if self.results > 1 else rows[:, 0]
        trace = rows[:, self.results:].astype(np.int64) if self.trace_slots else None
        return outputs, trace


def build(source: Path, kernel: Kernel, *, mpfr: bool, flags: tuple[str, ...] | None = None,
          trace: bool = False, libs: tuple[str, ...] = ()) -> Built:
    """Compile `source` with a driver for `kernel`'s signature; with `trace` (structured
    kernels), the branch-trace hook is compiled in and the driver reports decisions;
    `libs` go before -lm."""
    chain = find_toolchain() if mpfr else None
    directory = tempfile.TemporaryDirectory(prefix="precisec-build-")
    workdir = Path(directory.name)
    driver = workdir / "driver.c"
    structured = kernel.is_structured
    trace = trace and structured and bool(kernel.branches)
    driver.write_text(_structured_driver(kernel, trace) if structured else _driver(kernel))
    executable = workdir / "kernel"
    chosen = flags if flags is not None else (TUNED_FLAGS if mpfr else PLAIN_FLAGS)
    hook: tuple[str, ...] = ()
    if trace:
        header = workdir / "precisec_trace.h"
        header.write_text(TRACE_HEADER)
        hook = ("-include", str(header))
    command = [chain.cc if chain else compiler(), *chosen, *(chain.cflags if chain else ()),
               *hook, str(source), str(driver), "-o", str(executable),
               *(chain.libs if chain else ()), *libs, "-lm"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        directory.cleanup()
        raise PrecisecError(SourceLoc(str(source), 1, 1),
                            f"gcc could not build it:\n{result.stderr.strip()}")
    return Built(executable, directory, len(kernel.results) if structured else 1,
                 len(kernel.branches) if trace else 0)


def build_native(source: Path, kernel: Kernel, flags: tuple[str, ...] = TUNED_FLAGS) -> Built:
    """Compile a native-type tuned file (no MPFR) with the warnings-as-errors flags."""
    return build(source, kernel, mpfr=False, flags=(*flags, *NATIVE_FLAGS), libs=NATIVE_LIBS)


def cflags_line(backend: str = "mpfr") -> str:
    """What to add to a gcc command line to build a tuned file of `backend`."""
    if backend == "native":
        return " ".join((*NATIVE_FLAGS, *NATIVE_LIBS, "-lm"))
    chain = find_toolchain()
    return " ".join((*chain.cflags, *chain.libs))
