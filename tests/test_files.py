"""Atomic writes: files get ordinary modes (umask), temporary names are unique per process."""
import os

import pytest

from ser_reparam.files import atomic_write_text, temp_name


def test_atomic_write_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640  # mkstemp alone gives 0600
    old = os.umask(0o002)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o664
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_temporary_names_are_per_process_and_keep_the_suffix(tmp_path):
    tmp = temp_name(tmp_path / "best.keras")
    assert tmp.parent == tmp_path and tmp.suffix == ".keras" and str(os.getpid()) in tmp.name
    assert tmp.name.startswith(".")


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    from conftest import full_disk

    from ser_reparam.errors import FileSystemError

    (tmp_path / "a.json").write_text("old")
    full_disk(monkeypatch, tmp_path)
    with pytest.raises(FileSystemError, match=f"^{tmp_path / 'a.json'}: No space left on device; free some"):
        atomic_write_text(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").read_text() == "old"


def test_a_name_too_long_and_a_symlink_loop_name_the_fix(tmp_path):
    from ser_reparam.errors import FileSystemError

    with pytest.raises(FileSystemError, match=r"File name too long; shorten the name \(at most 255 bytes"):
        atomic_write_text(tmp_path / ("x" * 300) / "a.json", "{}")
    (tmp_path / "loop").symlink_to("loop")
    looped = tmp_path / "loop" / "sub" / "a.json"
    with pytest.raises(FileSystemError, match=f"^{looped}: Too many levels of symbolic links; a symlink"):
        atomic_write_text(looped, "{}")
