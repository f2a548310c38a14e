"""Files the stages share: atomic writes (a temporary file in the same folder, then a rename, so
a reader or a later stage never sees half a file, even when a run is killed mid-write), content
hashes, and the system's ordinary refusals (full disk, read-only folder, …) as errors that name
the file and the fix."""
from __future__ import annotations

import contextlib
import errno
import functools
import glob
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from ser_reparam.errors import FileSystemError, ProjectError

FIXES = {  # errno -> what the user can do about it
    errno.EACCES: "check its permissions, or choose another folder",
    errno.EPERM: "check its permissions, or choose another folder",
    errno.EROFS: "choose a folder on a writable disk",
    errno.ENOSPC: "free some space (or choose a folder on another disk) and run again",
    errno.EDQUOT: "free some space (or choose a folder on another disk) and run again",
    errno.ENAMETOOLONG: "shorten the name (at most 255 bytes per file or folder name)",
    errno.ELOOP: "a symlink on the way leads back to itself: fix or remove it",
}


def refuse_ordinary(err: BaseException, path: str | os.PathLike | None = None) -> None:
    """Raise `err` as a FileSystemError naming `path` (default: the file it names) and the fix when
    the system refused for one of the ordinary reasons in FIXES; else return. Errors that carry no
    errno (TensorFlow's file errors) are recognised by the system's text in their message."""
    if isinstance(err, ProjectError):
        return
    number = getattr(err, "errno", None) if isinstance(err, OSError) else \
        next((n for n in FIXES if os.strerror(n) in str(err)), None)
    if number not in FIXES:
        return
    where = path or getattr(err, "filename", None)
    detail = f"{where}: {os.strerror(number)}" if where else " ".join(str(err).split())
    refusal = FileSystemError(f"{detail}; {FIXES[number]}")
    refusal.errno = number
    raise refusal from err


@contextlib.contextmanager
def refusals_named(path: str | os.PathLike | None = None):
    """Within the block, an ordinary refusal of the system becomes a FileSystemError (refuse_ordinary)."""
    try:
        yield
    except Exception as err:
        refuse_ordinary(err, path)
        raise


def umask() -> int:
    """The process umask (read without changing it, from /proc where there is one)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    current = os.umask(0o022)  # no /proc: read it by setting it, then put it back
    os.umask(current)
    return current


def ordinary_mode(path: str | os.PathLike) -> None:
    """Give a file or folder made by mkstemp / mkdtemp (0600 / 0700) the mode an ordinary
    open() or mkdir() would have given it under the umask."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~umask())


def temp_name(path: str | os.PathLike) -> Path:
    """A hidden temporary sibling of `path`, unique per process (two runs never share one), with
    the same suffix (Keras picks its format by it)."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


def remove_stale_temps(path: str | os.PathLike) -> None:
    """Remove the temp_name siblings of `path` whose process no longer runs: what a killed run left
    behind. A live process's temporary file is its work in progress and stays."""
    path = Path(path)
    for stale in path.parent.glob(f".{glob.escape(path.stem)}.*.tmp{glob.escape(path.suffix)}"):
        pid = stale.name[len(path.stem) + 2:-len(f".tmp{path.suffix}")]
        if pid.isdigit() and not _running(int(pid)):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        pass
    return True


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    with refusals_named(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            ordinary_mode(tmp)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes; a file unchanged since it was last hashed (same size and
    modification time) is not read again, so a stage runner may ask as often as it needs."""
    stat = os.stat(path)
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=65536)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unlisted_files(folder: str | os.PathLike, listed: set[str]) -> list[str]:
    """Files (and symlinks) under `folder` whose relative path is not in `listed`, sorted: what a
    generator that keeps such a listing did not write, so must never remove."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p.relative_to(folder).as_posix() not in listed)
