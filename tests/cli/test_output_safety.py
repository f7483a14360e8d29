"""`tune -o` never clobbers what it should not: directories and special files are refused
before any tuning, a symbolic link is written through, and an existing file keeps its
permissions."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from helpers import BENCHMARKS, ERROR_LINE, run_cli

SAMPLES = ("--samples", "500")


def kernel_copy(tmp_path: Path) -> Path:
    path = tmp_path / "verhulst.c"
    shutil.copy(BENCHMARKS / "verhulst.c", path)
    return path


def test_a_directory_is_refused_before_tuning(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    result = run_cli("tune", str(kernel_copy(tmp_path)), "-o", str(target), *SAMPLES)
    assert result.returncode == 2
    match = ERROR_LINE.match(result.stderr.strip())
    assert match and "directory" in match["message"]
    assert list(target.iterdir()) == []


def test_a_special_file_is_refused(tmp_path: Path) -> None:
    result = run_cli("tune", str(kernel_copy(tmp_path)), "-o", os.devnull, *SAMPLES)
    assert result.returncode == 2
    assert "not a regular file" in result.stderr
    assert Path(os.devnull).is_char_device()


def test_a_symbolic_link_is_written_through_and_modes_are_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.tuned.c"
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "link.tuned.c"
    link.symlink_to(real)
    result = run_cli("tune", str(kernel_copy(tmp_path)), "-o", str(link), *SAMPLES)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and link.resolve() == real
    assert "double verhulst(double x)" in real.read_text()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def test_a_new_file_follows_the_umask(tmp_path: Path) -> None:
    output = tmp_path / "new.tuned.c"
    result = run_cli("tune", str(kernel_copy(tmp_path)), "-o", str(output), *SAMPLES)
    assert result.returncode == 0, result.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(output.stat().st_mode) == 0o666 & ~umask


def test_a_read_only_directory_is_refused_before_tuning(
        tmp_path: Path, monkeypatch, capsys) -> None:
    """In process, with the directory made unwritable for the check (root may write
    anywhere, so a chmod alone proves nothing here): exit 2 at the output, no tuning."""
    import precisec.cli as cli

    def not_writable(path: object, mode: int) -> bool:
        return mode != os.W_OK

    def no_tuning(*args: object, **kwargs: object) -> None:
        raise AssertionError("tuning started")

    monkeypatch.setattr(cli.os, "access", not_writable)
    monkeypatch.setattr("precisec.flow.run", no_tuning)
    out = tmp_path / "ro" / "out.c"
    out.parent.mkdir()
    code = cli.main(["tune", str(kernel_copy(tmp_path)), "-o", str(out), *SAMPLES])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    match = ERROR_LINE.match(err)
    assert match and match["file"] == str(out) and "not writable" in match["message"]
    assert not out.exists()
