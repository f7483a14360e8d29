"""The C frontend: a kernel file to the IR (docs/real-kernels.md).

`preprocess` does translation phases 1–4 keeping every token's place, pycparser parses
(`syntax`), and `build` walks the kernel function into a verified `Kernel`: loops stay
loops, branches become regions, helpers are inlined per call site.

The builder recurses a few Python frames per nesting level of an expression, so the work
runs in a thread with a raised recursion limit (and room on its stack): a 500-deep nested
expression parses easily, tens of thousands of levels still do, and beyond `MAX_DEPTH`
frames the kernel is refused with an error instead of a traceback.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from precisec.errors import PrecisecError, SourceLoc
from precisec.frontend import read_source
from precisec.frontend.c.build import build_kernel
from precisec.frontend.c.preprocess import preprocess
from precisec.frontend.c.syntax import parse_ast
from precisec.ir import Kernel

MAX_DEPTH = 200_000
_STACK_BYTES = 64 * 1024 * 1024
_deep_lock = threading.Lock()
T = TypeVar("T")


def parse_c(source: str, file: str, function: str | None = None) -> Kernel:
    """Parse kernel source text; `function` names the kernel when the file has several
    functions none of which is the only one no other calls."""

    def parse() -> Kernel:
        pre = preprocess(source, file)
        return build_kernel(pre, parse_ast(pre), function)

    try:
        return _deep(parse)
    except RecursionError as err:
        raise PrecisecError(SourceLoc(file, 1, 1), "the kernel nests expressions or "
                                                   "statements too deeply") from err


def load_c(path: str | Path, function: str | None = None) -> Kernel:
    """Read and parse a kernel file."""
    return parse_c(read_source(path), str(path), function)


def _deep(task: Callable[[], T]) -> T:
    """`task()` in a thread with a big stack and a high recursion limit (one at a time:
    the limit is process-wide)."""
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["value"] = task()
        except BaseException as err:  # handed to the caller's thread
            box["error"] = err

    with _deep_lock:
        limit = sys.getrecursionlimit()
        stack = threading.stack_size(_STACK_BYTES)
        sys.setrecursionlimit(max(limit, MAX_DEPTH))
        try:
            worker = threading.Thread(target=work, name="precisec-parse-c", daemon=True)
            worker.start()
            worker.join()
        finally:
            threading.stack_size(stack)
            sys.setrecursionlimit(limit)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
