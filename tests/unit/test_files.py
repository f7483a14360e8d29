"""Atomic writes: text or bytes land whole, an existing file keeps its mode, and a failed
rename leaves no temporary file behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from precisec.files import write_atomically


def test_text_and_bytes_land_whole(tmp_path: Path) -> None:
    write_atomically(tmp_path / "a.md", "α\n")
    write_atomically(tmp_path / "b.png", b"\x89PNG\x00")
    assert (tmp_path / "a.md").read_text() == "α\n"
    assert (tmp_path / "b.png").read_bytes() == b"\x89PNG\x00"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md", "b.png"]


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text("old")
    os.chmod(path, 0o640)
    write_atomically(path, "new")
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_failed_rename_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(OSError):
        write_atomically(tmp_path / "out", "text")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
