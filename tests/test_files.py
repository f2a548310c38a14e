"""Atomic writes: files get ordinary modes (umask), temporary names are unique per process."""
import os

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
