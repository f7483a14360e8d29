"""Bad input through the installed CLI: exit code 2 and exactly one `file:line:col: error:`
line with the right position, never a traceback, and nothing the user owns touched (no file
written, none overwritten, no temporary left behind).

Every case is a subprocess; they all run concurrently in one module fixture (the CLI's start
up dominates) and each test then inspects its own result.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import EXAMPLES, benchmark_path, error_location, run_cli

RX = "#pragma precisec range(x, 1, 2)\n"
RY = "#pragma precisec range(y, 1, 2)\n"
RMSE = "#pragma precisec rmse(1e-10)\n"
H = RX + RY + RMSE                             # lines 1-3
F = "double f(double x, double y) {\n"         # line 4 (body from line 5)
BODY_END = "    return y;\n}\n"


@dataclass(frozen=True)
class Case:
    """A kernel file (or none), the CLI arguments ({file} is its path), and the expected
    error: line, acceptable columns, and a pattern the message must match."""

    source: str | None
    line: int | None
    cols: tuple[int, ...]
    message: str
    args: tuple[str, ...] = ("analyze", "{file}", "--samples", "200")
    error_file: str = "{file}"
    suffix: str = ".c"


def c(source: str, line: int, cols: int | Iterable[int], message: str, **kw) -> Case:
    cols = (cols,) if isinstance(cols, int) else tuple(cols)
    return Case(source, line, cols, message, **kw)


CASES: dict[str, Case] = {
    # unsupported statements
    "if on a non-comparison": c(H + F + "    if (x) return x;\n" + BODY_END, 5, 9,
                                r"condition must be a comparison"),
    "for without a counter": c(H + F + "    for (;;) {}\n" + BODY_END, 5, 5,
                               r"loop step must update an int counter"),
    "break in a while loop": c(H + F + "    while (x < y) { break; }\n" + BODY_END, 5, 21,
                               r"break is not supported"),
    "do-while": c(H + F + "    do { } while (x);\n" + BODY_END, 5, 5, r"do-while|\bdo\b"),
    "switch": c(H + F + "    switch (1) { default: break; }\n" + BODY_END, 5, 5, r"switch"),
    "goto": c(H + F + "    goto end;\n" + BODY_END, 5, 5, r"goto"),
    "statement after return": c(H + F + "    return y;\n    x = y;\n}\n", 6, 5,
                                r"after return"),
    # unsupported types and declarations
    "pointer parameter": c(H + "double f(double *x, double y) {\n" + BODY_END, 4,
                           (10, 17, 18), r"pointer"),
    "pointer local": c(H + F + "    double *p;\n" + BODY_END, 5, (5, 12, 13), r"pointer"),
    "pointer dereference": c(H + F + "    return *x;\n}\n", 5, (12, 13), r"'\*'|pointer"),
    "array index out of bounds": c(H + F + "    double a[2];\n    a[5] = x;\n" + BODY_END, 6, 5,
                                   r"out of bounds"),
    "recursion": c(H + F + "    return f(x, y);\n}\n", 5, 12, r"recursion"),
    "int in a while loop": c(H + F + "    int n = 0;\n    while (x < y) { n = n + 1; }\n"
                             + BODY_END, 6, 21, r"int 'n' is assigned inside a loop"),
    "array indexing": c(H + F + "    return x[0];\n}\n", 5, (12, 13), r"array"),
    "struct local": c(H + F + "    struct S s;\n" + BODY_END, 5, (5, 12, 14), r"struct"),
    "int parameter": c(H + "double f(int x, double y) {\n" + BODY_END, 4, 14,
                       r"int parameters are not supported"),
    "float and double parameters": c(H + "double f(double x, float y) {\n" + BODY_END, 4, 8,
                                     r"mixing float and double"),
    "float return type": c(H + "float f(double x, double y) {\n" + BODY_END, 4, 7,
                           r"mixing float and double"),
    # unsupported expressions
    "unknown function": c(H + F + "    return foo(x);\n}\n", 5, 12, r"unknown function 'foo'"),
    "wrong arity": c(H + F + "    return sqrt(x, y);\n}\n", 5, 12, r"'sqrt' takes 1"),
    "ternary on a non-comparison": c(H + F + "    return x ? x : y;\n}\n", 5, 12,
                                     r"condition must be a comparison"),
    "comparison": c(H + F + "    return x < y;\n}\n", 5, (12, 14), r"comparison '<'"),
    "modulo": c(H + F + "    return x % y;\n}\n", 5, (12, 14), r"'%'"),
    "missing return": c(H + F + "    double t = x;\n}\n", 4, (1, 8, 30),
                        r"no return statement"),
    "undeclared identifier": c(H + F + "    return x + z;\n}\n", 5, 16,
                               r"undeclared identifier 'z'"),
    "use before assignment": c(H + F + "    double t;\n    return t;\n}\n", 6, 12,
                               r"'t' is used before it is assigned"),
    "syntax error": c(H + F + "    return x +;\n}\n", 5, 15, r"syntax error"),
    "#if": c("#if 1\n" + H + F + BODY_END + "#endif\n", 1, 1, r"'#if' is not supported"),
    "several functions": c(H + F + BODY_END + "double g(double x) {\n    return x;\n}\n", 7,
                           (1, 8), r"--function"),
    # pragmas
    "pragma bad syntax": c("#pragma precisec range x, 1, 2\n" + RY + RMSE + F + BODY_END, 1,
                           (1, 18), r"malformed"),
    "range with 2 args": c("#pragma precisec range(x, 1)\n" + RY + RMSE + F + BODY_END, 1,
                           (1, 18), r"3 arguments"),
    "inverted range": c("#pragma precisec range(x, 2, 1)\n" + RY + RMSE + F + BODY_END, 1,
                        (1, 18), r"empty range|inverted"),
    "non-finite bound 1e999": c("#pragma precisec range(x, 1, 1e999)\n" + RY + RMSE + F
                                + BODY_END, 1, (1, 18), r"finite"),
    "unbounded input under rmse": c("#pragma precisec range(x, -inf, 1)\n" + RY + RMSE + F
                                    + BODY_END, 4, (17,), r"no finite range.*relative target"),
    "nan bound": c("#pragma precisec range(x, nan, 1)\n" + RY + RMSE + F + BODY_END, 1,
                   (1, 18), r"finite|number"),
    "unknown pragma kind": c("#pragma precisec domain(x, 1, 2)\n" + RY + RMSE + F + BODY_END,
                             1, (1, 18), r"unknown precisec pragma 'domain'"),
    "rmse zero": c(RX + RY + "#pragma precisec rmse(0)\n" + F + BODY_END, 3, (1, 18),
                   r"positive"),
    "rmse negative": c(RX + RY + "#pragma precisec rmse(-1e-3)\n" + F + BODY_END, 3, (1, 18),
                       r"positive"),
    "rmse not a number": c(RX + RY + "#pragma precisec rmse(small)\n" + F + BODY_END, 3,
                           (1, 18), r"number"),
    "range for a non-parameter": c(H + "#pragma precisec range(z, 0, 1)\n"
                                   + F + BODY_END, 4, (1, 18), r"'z'.*not an input parameter"),
    "duplicate range": c(H + "#pragma precisec range(x, 0, 1)\n" + F + BODY_END, 4,
                         (1, 18), r"second range|duplicate"),
    "parameter without range": c("#pragma precisec range(x, 1, 2)\n"
                                 "#pragma precisec rmse(1e-10)\n" + F + BODY_END, 3, (20, 27),
                                 r"'y' has no range"),
    # the domain
    "log of negative": c("#pragma precisec range(x, -1, 1)\n#pragma precisec rmse(1e-10)\n"
                         "double f(double x) {\n    return 1.0 + log(x);\n}\n", 4, 18,
                         r"'log'.*non-finite"),
    "sqrt of negative": c("#pragma precisec range(x, 1, 2)\n#pragma precisec rmse(1e-10)\n"
                          "double f(double x) {\n    double t = x - 2.5;\n"
                          "    return sqrt(t) * 2.0;\n}\n", 5, 12, r"'sqrt'.*non-finite"),
    # The domain includes its bounds: log(0) = -inf and 1/0 = inf are on it.
    "log at the lower bound": c("#pragma precisec range(x, 0, 1)\n"
                                "#pragma precisec rmse(1e-10)\n"
                                "double f(double x) {\n    return 1.0 + log(x);\n}\n", 4, 18,
                                r"'log'.*non-finite"),
    "division by the bound": c("#pragma precisec range(x, 0, 1)\n"
                               "#pragma precisec rmse(1e-10)\n"
                               "double f(double x) {\n    return 2.0 / x;\n}\n", 4, 16,
                               r"('div'|'/').*non-finite"),
    # a result beyond the kernel's type: the real value exists, the program cannot return it
    "exp overflows double": c("#pragma precisec range(x, 0, 1000)\n#pragma precisec rmse(1e-10)\n"
                              "double f(double x) {\n    return exp(x);\n}\n", 3, 8,
                              r"overflows double .*at x=1000\.0$"),
    "expf overflows float": c("#pragma precisec range(x, 0, 100)\n#pragma precisec rmse(1e-5)\n"
                              "float f(float x) {\n    return expf(x);\n}\n", 3, 7,
                              r"overflows float .*at x=100\.0$"),
    # names the generated code reserves
    "reserved prefix pc_": c(H + F + "    double pc_t = x;\n" + BODY_END, 5, 12,
                             r"'pc_t' starts with 'pc_', which is reserved"),
    "reserved prefix mpfr_": c(H + F + "    double mpfr_t = x;\n" + BODY_END, 5, 12,
                               r"'mpfr_t' starts with 'mpfr_', which is reserved"),
    "reserved parameter name": c(H.replace("(y,", "(gmp_y,") + "double f(double x, double gmp_y)"
                                 " {\n    return x;\n}\n", 4, (27, 20),
                                 r"'gmp_y' starts with 'gmp_'"),
    # the kernel chosen on the command line
    "no such function": c(H + F + BODY_END, 1, 1, r"no function named 'g' \(found: f\)",
                          args=("analyze", "{file}", "--function", "g")),
    # FPCore input
    "FPCore while": c("(FPCore (x)\n :pre (<= 1 x 2)\n (while (< x 3) ([x x]) x))\n",
                      3, 18, r"malformed `while` binding",
                      args=("analyze", "{file}", "--rmse", "1e-10"), suffix=".fpcore"),
    "FPCore unclosed": c("(FPCore (x)\n :pre (<= 1 x 2)\n (+ x 1)\n", 1, 1,
                         r"'\(' is never closed", args=("analyze", "{file}", "--rmse", "1e-10"),
                         suffix=".fpcore"),
    "list: unreadable file": c(None, 1, 1, r"cannot read", args=("list", "{dir}/none.fpcore"),
                               error_file="{dir}/none.fpcore"),
    # an output format the kernel cannot take is refused before any tuning
    "tune: FPCore of a loop": c(EXAMPLES.joinpath("horner.c").read_text(), 7, 18,
                                r"cannot write this kernel as FPCore",
                                args=("tune", "{file}", "--emit", "fpcore", "--samples", "500",
                                      "-o", "{dir}/out.fpcore")),
    # targets and files
    "no target": c(RX + RY + F + BODY_END, 3, (1, 8), r"no error target",
                   args=("tune", "{file}", "--samples", "200", "-o", "{dir}/out.c")),
    "unreadable file": c(None, 1, 1, r"cannot read",
                         args=("analyze", "{dir}/does-not-exist.c"),
                         error_file="{dir}/does-not-exist.c"),
    "directory as file": c(None, 1, 1, r"cannot read", args=("analyze", "{dir}"),
                           error_file="{dir}"),
    "not UTF-8": c("\xff\xfe", 1, 1, r"UTF-8"),
    "check: missing tuned file": c(None, 1, 1, r"no such file",
                                   args=("check", str(benchmark_path("verhulst")),
                                         "{dir}/missing.tuned.c"),
                                   error_file="{dir}/missing.tuned.c"),
    "tune: output directory missing": c(H + F + BODY_END, 1, 1, r"directory",
                                        args=("tune", "{file}", "-o",
                                              "{dir}/nowhere/out.c"),
                                        error_file="{dir}/nowhere/out.c"),
}

# kernel source written byte for byte (the not-UTF-8 case)
RAW = {"not UTF-8": b"\xff\xfe double f(double x) { return x; }\n"}

BAD_FLAGS = {
    "--samples 0": ("analyze", "{file}", "--samples", "0"),
    "--samples -5": ("analyze", "{file}", "--samples", "-5"),
    "--samples abc": ("analyze", "{file}", "--samples", "abc"),
    "--rmse -1": ("analyze", "{file}", "--rmse", "-1"),
    "--rmse 0": ("analyze", "{file}", "--rmse", "0"),
    "--rmse nan": ("analyze", "{file}", "--rmse", "nan"),
    "--rmse inf": ("analyze", "{file}", "--rmse", "inf"),
    "--seed -1": ("analyze", "{file}", "--seed", "-1"),
    "unknown command": ("optimise", "{file}"),
    "no command": (),
}

UNREACHABLE = ("tune", "{file}", "--rmse", "1e-200", "--samples", "500", "-o", "{dir}/u.c")
USERS_FILE = "/* the user's own file, which a failed tune must leave alone */\n"


@dataclass
class Run:
    path: Path
    result: subprocess.CompletedProcess[str]

    def expand(self, template: str) -> str:
        return template.format(file=self.path, dir=self.path.parent)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every case of this module, run concurrently."""
    base = tmp_path_factory.mktemp("cli-errors")
    jobs: dict[str, tuple[Path, tuple[str, ...]]] = {}

    def prepare(name: str, source: str | bytes | None, args: tuple[str, ...],
                suffix: str = ".c") -> None:
        directory = base / re.sub(r"\W+", "_", name)
        directory.mkdir()
        path = directory / f"kernel{suffix}"
        if isinstance(source, bytes):
            path.write_bytes(source)
        elif source is not None:
            path.write_text(source)
        jobs[name] = (path, tuple(a.format(file=path, dir=directory) for a in args))

    verhulst = benchmark_path("verhulst").read_text()
    prepare("unreachable", verhulst, UNREACHABLE)  # the slowest: first
    (base / "unreachable" / "u.c").write_text(USERS_FILE)
    prepare("overwrite input", verhulst, ("tune", "{file}", "-o", "{file}"))
    prepare("overwrite input (relative path)", verhulst,
            ("tune", "{file}", "-o", "{dir}/./kernel.c"))
    for name, case in CASES.items():
        prepare(name, RAW.get(name, case.source), case.args, case.suffix)
    for name, args in BAD_FLAGS.items():
        prepare(name, verhulst, args)
    before = snapshot(base)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_cli, *args) for name, (_, args) in jobs.items()}
        results = {name: Run(jobs[name][0], f.result()) for name, f in futures.items()}
    assert snapshot(base) == before, "a refused command wrote, changed or left a file"
    return results


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under `directory`, by relative path, with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_located_error_line(runs: dict[str, Run], name: str) -> None:
    case = CASES[name]
    run = runs[name]
    assert run.result.returncode == 2, (run.result.stdout, run.result.stderr)
    file, line, col, message = error_location(run.result.stderr)
    assert file == run.expand(case.error_file)
    assert line == case.line, run.result.stderr
    assert col in case.cols, run.result.stderr
    assert re.search(case.message, message), message


def test_domain_error_prints_the_point_as_plain_numbers(runs: dict[str, Run]) -> None:
    # `x=np.float64(-0.71...)` is numpy's repr leaking into a user-facing message
    _, _, _, message = error_location(runs["log of negative"].result.stderr)
    point = re.search(r"at (x=\S+)", message)
    assert point is not None, message
    assert "np." not in message, message
    assert float(point.group(1).removeprefix("x=")) < 0


@pytest.mark.parametrize("name", list(BAD_FLAGS))
def test_bad_flags_are_usage_errors(runs: dict[str, Run], name: str) -> None:
    result = runs[name].result
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "usage:" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["overwrite input", "overwrite input (relative path)"])
def test_tune_refuses_to_overwrite_its_input(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    assert run.result.returncode == 2
    _, line, col, message = error_location(run.result.stderr)
    assert (line, col) == (1, 1)
    assert "overwrite" in message
    assert run.path.read_text() == benchmark_path("verhulst").read_text()
    assert sorted(p.name for p in run.path.parent.iterdir()) == ["kernel.c"]


def test_unreachable_target_is_a_located_error(runs: dict[str, Run]) -> None:
    run = runs["unreachable"]
    assert run.result.returncode == 2, (run.result.stdout, run.result.stderr)
    file, line, col, message = error_location(run.result.stderr)
    assert file == str(run.path)
    assert (line, col) == (4, 8)  # the kernel's name in `double verhulst(double x) {`
    assert "unreachable" in message
    assert sorted(p.name for p in run.path.parent.iterdir()) == ["kernel.c", "u.c"]
    assert (run.path.parent / "u.c").read_text() == USERS_FILE


def test_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("tune", "analyze", "check", "table", "list", "cflags"):
        assert re.search(rf"\b{command}\b", result.stdout), command
