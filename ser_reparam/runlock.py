"""One writer per run folder: an exclusive lock on `<run folder>/.lock` while a command writes into it.

Two runs in one folder would overwrite each other's feature cache and checkpoints and then record
the mix as valid; the second is refused instead, naming the holder's PID. The lock is a kernel
`flock`, so it dies with its process: a lock file left by a killed run (a dead PID) is simply
taken over. Re-entrant within a process (the pipeline holds it while its stages take it again).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from pathlib import Path

from ser_reparam.errors import RunLockedError
from ser_reparam.files import refusals_named

_held: dict[Path, list] = {}   # folder -> [open file, depth] of the locks this process holds


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike, name: str = ".lock"):
    """Hold the lock file `folder/name` for the block; RunLockedError when another process has it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder.resolve() / name
    if path in _held:
        _held[path][1] += 1
        try:
            yield
        finally:
            _held[path][1] -= 1
        return
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise RunLockedError(f"{folder} is in use by {holder}; wait for that run to finish (or stop it), "
                             "or give this run another name / runs_dir") from None
    _claim(handle, path)
    _held[path] = [handle, 1]
    try:
        yield
    finally:
        del _held[path]
        handle.close()  # releases the flock; the file stays (a later run simply takes it)


def _claim(handle, path: Path) -> None:
    """Write who holds the lock into it; a full disk refuses here (and the lock is let go)."""
    try:
        with refusals_named(path):
            handle.seek(0)
            handle.truncate()
            command = " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:200]
            handle.write(f"process {os.getpid()} ({command}, since {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
            handle.flush()
    except BaseException:
        with contextlib.suppress(OSError):  # closing flushes the same unwritten bytes again
            handle.close()
        raise
