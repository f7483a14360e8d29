"""Frontends: source text in, `precisec.ir.Kernel` out."""

from __future__ import annotations

from pathlib import Path

from precisec.errors import PrecisecError, SourceLoc


def read_source(path: str | Path) -> str:
    """A kernel file's text; unreadable files are located errors, not tracebacks."""
    file = str(path)
    try:
        return Path(path).read_text()
    except OSError as err:
        raise PrecisecError(SourceLoc(file, 1, 1), f"cannot read file: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise PrecisecError(SourceLoc(file, 1, 1), "file is not valid UTF-8 text") from err
