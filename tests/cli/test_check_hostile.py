"""`precisec check` against tuned files that are not what they claim: binary data, a
program that ends the process, prints to stdout, crashes, never returns, or has another
signature. Each is exit 2 with one `file:line:col: error:` line in the tuned file, and a
program's own output never reaches the report."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import benchmark_path, error_location, run_cli

KERNEL = benchmark_path("verhulst")
SIGNATURE = "double verhulst(double x)\n{\n"
FILES: dict[str, tuple[bytes, str, tuple[str, ...]]] = {
    # name: (tuned file bytes, expected message pattern, extra arguments)
    "binary": (bytes(range(256)) * 8, r"not a C source file", ()),
    "NUL byte": (b"/* \0 */\n" + SIGNATURE.encode() + b"    return x;\n}\n",
                 r"NUL bytes", ()),
    "exit(0)": (("#include <stdlib.h>\n" + SIGNATURE
                 + "    if (x > 0.2) exit(0);\n    return x;\n}\n").encode(),
                r"result rows for", ()),
    "crash": (("#include <signal.h>\n" + SIGNATURE
               + "    raise(SIGSEGV);\n    return x;\n}\n").encode(), r"crashed \(SIGSEGV\)", ()),
    "hang": ((SIGNATURE + "    for (;;) x = x * 0.5;\n    return x;\n}\n").encode(),
             r"did not finish within 3 s", ("--timeout", "3")),
    "signature": (b"float verhulst(float x)\n{\n    return x;\n}\n", r"conflicting types", ()),
    "syntax": ((SIGNATURE + "    return x *;\n}\n").encode(), r"gcc could not build it", ()),
}
PRINTS = ("#include <stdio.h>\n" + SIGNATURE
          + '    printf("{\\"not\\": \\"the report\\"}\\n");\n'
          + "    return (4.0 * x) / (1.0 + (x / 1.11));\n}\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object]]:
    base = tmp_path_factory.mktemp("check-hostile")
    jobs = {}
    for name, (data, _, extra) in {**FILES, "prints": (PRINTS.encode(), "", ())}.items():
        path = base / f"{name.replace(' ', '_').replace('(', '').replace(')', '')}.c"
        path.write_bytes(data)
        jobs[name] = (path, ("check", str(KERNEL), str(path), "--samples", "200", "--json",
                             *extra))
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_cli, *args, timeout=120) for name, (_, args)
                   in jobs.items()}
        return {name: (jobs[name][0], f.result()) for name, f in futures.items()}


@pytest.mark.parametrize("name", list(FILES))
def test_a_hostile_tuned_file_is_one_located_error(runs, name: str) -> None:
    path, result = runs[name]
    assert result.returncode == 2, (result.stdout, result.stderr)
    file, line, col, message = error_location(result.stderr)
    assert file == str(path)
    assert line >= 1 and col >= 1
    assert re.search(FILES[name][1], message), message
    assert result.stdout == ""


def test_a_printing_tuned_file_does_not_corrupt_the_report(runs) -> None:
    _, result = runs["prints"]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["within_target"] is True
    assert "not" not in report
