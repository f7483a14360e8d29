"""Writing output files so that a reader never sees a half-written one.

Every file precisec writes (a tuned kernel, the table's files) goes through a temporary
file in the target's directory and a rename over the target, which is atomic on POSIX:
an interrupted run leaves the old file or the new one, never a truncated one.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write through a temporary file in the same directory, then rename over `path`.
    An existing file keeps its permissions; a new one gets the umask's, as `open` would
    give it (the temporary file is created 0600)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    with tempfile.NamedTemporaryFile("wb" if isinstance(data, bytes) else "w",
                                     dir=path.parent, prefix=f".{path.name}.",
                                     suffix=".tmp", delete=False) as handle:
        temporary = Path(handle.name)
        try:
            handle.write(data)
            os.chmod(temporary, mode)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
