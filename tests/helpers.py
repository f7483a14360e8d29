"""Plain helpers shared by the test modules (imported as `helpers`; tests/conftest.py puts
tests/ on the path). Parsed benchmark kernels are computed once per session."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

from precisec.frontend.c import load_c, parse_c
from precisec.ir import Kernel

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks_fptuner"
EXAMPLES = ROOT / "examples"
KERNEL_NAMES = tuple(sorted(p.stem for p in BENCHMARKS.glob("*.c")))

# `file:line:col: error: message`, the one-line error format of the CLI.
ERROR_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.+)$")


def benchmark_path(name: str) -> Path:
    return BENCHMARKS / f"{name}.c"


@cache
def benchmark(name: str) -> Kernel:
    """A benchmark kernel of benchmarks_fptuner/, parsed once per session."""
    return load_c(benchmark_path(name))


def kernel(source: str, file: str = "k.c", function: str | None = None) -> Kernel:
    """Parse C kernel source text."""
    return parse_c(source, file, function)


def ranges(**bounds: tuple[float, float]) -> str:
    """Range pragmas, one line each, in keyword order."""
    return "".join(f"#pragma precisec range({name}, {lo!r}, {hi!r})\n"
                   for name, (lo, hi) in bounds.items())


def precisec_command() -> list[str]:
    """The installed `precisec` script next to this interpreter (.venv/bin/precisec), else
    `python -m precisec.cli`."""
    script = Path(sys.executable).parent / "precisec"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "precisec.cli"]


def run_cli(*args: str, cwd: Path = ROOT, timeout: float = 600.0,
            ) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess."""
    return subprocess.run([*precisec_command(), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


def error_location(stderr: str) -> tuple[str, int, int, str]:
    """(file, line, col, message) of the single error line; fails the test otherwise."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    match = ERROR_LINE.match(lines[0])
    assert match is not None, f"not a `file:line:col: error:` line: {lines[0]!r}"
    return match["file"], int(match["line"]), int(match["col"]), match["message"]


RARE_BRANCH = """\
#pragma precisec range(x, 0, 10)
#pragma precisec rmse(1e-12)
double rare(double x) {
    double y;
    if (x < 1e-5) {
        y = (x + 1.0) * (x - 3.0);
    } else {
        y = x * 2.0 + 1.0;
    }
    return y;
}
"""
"""A kernel whose `then` branch (line 6) a uniform sample on [0, 10] practically never
takes (probability 10^-6)."""


def small_benchmarks(directory: Path, names: tuple[str, ...]) -> Path:
    """A benchmarks directory holding some kernels of benchmarks_fptuner/ and their rows
    of the paper's table."""
    import json
    import shutil

    from precisec.table import PAPER_FILE

    directory.mkdir()
    paper = json.loads((BENCHMARKS / PAPER_FILE).read_text())
    paper["rows"] = [row for row in paper["rows"] if row["benchmark"] in names]
    assert len(paper["rows"]) == len(names)
    (directory / PAPER_FILE).write_text(json.dumps(paper))
    for name in names:
        shutil.copy(BENCHMARKS / f"{name}.c", directory)
    return directory
