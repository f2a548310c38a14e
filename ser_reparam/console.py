"""What a command shows on the terminal: progress with an ETA, and TensorFlow kept quiet.

TensorFlow's C++ start-up lines (oneDNN, CUDA probing, CPU features) are written through absl
before its logging is initialized, so TF_CPP_MIN_LOG_LEVEL does not reach them: they are held
back by importing TensorFlow (and probing its devices) with file descriptor 2 sent to a
temporary file, which is shown only when the import fails. `--verbose` shows everything.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time


def quiet_tensorflow(verbose: bool = False) -> None:
    """Before TensorFlow is imported: INFO / WARNING lines off unless `verbose`; an explicit
    TF_CPP_MIN_LOG_LEVEL in the environment always wins (0 there shows the start-up lines too)."""
    level = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
    if verbose or level == "0" or "tensorflow" in sys.modules:
        return
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices and the like
    with held_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here, once


@contextlib.contextmanager
def held_stderr(show_on_error: bool = True):
    """What C libraries write to file descriptor 2 during the block goes to a temporary file, shown
    only when the block fails and `show_on_error` (Python's own sys.stderr is flushed first)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            if show_on_error:
                held.seek(0)
                sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Progress:
    """`label: done/total unit, elapsed, ETA` lines on stderr as items finish; the ETA assumes
    the remaining items take as long as the finished ones did on average."""

    def __init__(self, total: int, label: str, unit: str = "runs", stream=None, clock=time.monotonic,
                 every: float = 0.0):
        self.total, self.label, self.unit, self.done = total, label, unit, 0
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.start = self.shown = clock()
        self.every = every  # seconds between lines (the last item always prints)

    def line(self, note: str = "") -> str:
        elapsed = self.clock() - self.start
        text = f"{self.label}: {self.done}/{self.total} {self.unit} done, {duration(elapsed)} elapsed"
        if 0 < self.done < self.total:
            text += f", ETA {duration(elapsed / self.done * (self.total - self.done))}"
        return text + (f" — {note}" if note else "")

    def advance(self, note: str = "") -> None:
        self.done += 1
        if self.done >= self.total or self.clock() - self.shown >= self.every:
            self.shown = self.clock()
            print(self.line(note), file=self.stream, flush=True)
