"""What a command shows on the terminal: progress with an ETA, and TensorFlow kept quiet.

TensorFlow's C++ code logs through absl straight to file descriptor 2, whatever
TF_CPP_MIN_LOG_LEVEL says (start-up lines, `E0000 … NodeDef mentions attribute …` during
predict, the converter's `fully_quantize: …`). So a command runs with descriptor 2 sent to a
temporary file while Python's own sys.stderr stays on the terminal (progress stays live); at the
end the held lines are shown without TensorFlow's log records. The import itself is held
entirely and shown only when it fails. `--verbose` shows everything.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time

# an absl / TensorFlow C++ log record: severity, MMDD, time, thread, file:line]
_TF_LOG_RECORD = re.compile(r"[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def not_tensorflow_log(line: str) -> bool:
    return not (_TF_LOG_RECORD.match(line) or line.startswith(_ABSL_PREAMBLE))


def _nothing(line: str) -> bool:
    return False


def _everything(line: str) -> bool:
    return True


@contextlib.contextmanager
def _python_stderr_on(fd: int):
    """sys.stderr writing to a copy of `fd` for the block, when it is the process's descriptor 2
    (not when a caller, e.g. a test, replaced it)."""
    try:
        real = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        real = False
    if not real:
        yield
        return
    original = sys.stderr
    sys.stderr = os.fdopen(os.dup(fd), "w", buffering=1, encoding=original.encoding, errors=original.errors)
    try:
        yield
    finally:
        sys.stderr.close()
        sys.stderr = original


@contextlib.contextmanager
def held_native_stderr(keep=_nothing, keep_on_failure=_everything):
    """Descriptor 2 into a temporary file for the block (Python's sys.stderr stays where it was);
    afterwards the held lines `keep` accepts are written out — those `keep_on_failure` accepts
    when the block raised (a Ctrl-C is no failure: it shows no log lines)."""
    sys.stderr.flush()
    saved = os.dup(2)
    show = keep
    with tempfile.TemporaryFile() as held, _python_stderr_on(saved):
        os.dup2(held.fileno(), 2)
        try:
            yield
        except KeyboardInterrupt:
            raise
        except BaseException:
            show = keep_on_failure
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if show(line)))
            sys.stderr.flush()


def _verbose_level(verbose: bool) -> str:
    """TF_CPP_MIN_LOG_LEVEL for this process; an explicit one in the environment always wins."""
    return os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")


def quiet_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow with its start-up lines held back (shown if the import fails), unless
    `verbose` or TF_CPP_MIN_LOG_LEVEL=0 in the environment."""
    if _verbose_level(verbose) == "0" or verbose or "tensorflow" in sys.modules:
        return
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices and the like
    with held_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here, once


@contextlib.contextmanager
def quiet_command(verbose: bool = False):
    """A TensorFlow command's block: TensorFlow imported quietly, its C++ log records held back
    from everything the block writes to descriptor 2 (other lines still shown)."""
    if _verbose_level(verbose) == "0" or verbose:
        yield
        return
    with held_native_stderr(not_tensorflow_log, not_tensorflow_log):
        quiet_tensorflow()
        yield


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
