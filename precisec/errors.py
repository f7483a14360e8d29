"""The one user-facing error type: a message tied to a place in the user's source."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceLoc:
    """A position in a source file; line and column are 1-based."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class PrecisecError(Exception):
    """Bad input: printed as `file:line:col: error: message`, exit code 2."""

    def __init__(self, loc: SourceLoc, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message

    def __str__(self) -> str:
        return f"{self.loc}: error: {self.message}"
