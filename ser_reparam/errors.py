"""The project's own errors: refusals a user can act on, each message naming what, where and the fix.

The command line prints any `ProjectError` as one line and exits 2 (tracebacks with --debug);
anything else is a bug and gets a log file. Each class keeps its built-in base (ValueError,
RuntimeError, …) so existing `except ValueError` callers still catch it. Every error class of
both packages lives here, so an `except` names one module.
"""
from __future__ import annotations


class ProjectError(Exception):
    """Base of every error the project raises on purpose (bad input, stale stage, budget, …)."""


class ConfigError(ProjectError, ValueError):
    """A config file or override that cannot be used; the message names the key and the file."""


class ManifestError(ProjectError, ValueError):
    """A manifest row (or the file) breaks the schema; the message names file, line and fix."""


class InputError(ProjectError, ValueError):
    """A value, option, corpus or CSV the user gave that cannot be used; names it and the fix."""


class MissingInputError(ProjectError, FileNotFoundError):
    """A file or folder the user named (or a stage needs) is not there; names it and what makes it."""


class MissingToolError(ProjectError, FileNotFoundError):
    """A program a command runs (compiler, emulator) is not installed; the message names its package."""


class DataError(ProjectError, ValueError):
    """Audio or cached features that the pipeline cannot use; the message names the file."""


class StageError(ProjectError, RuntimeError):
    """A stage cannot run: the message names the stage, the missing input and the fix."""


class FileSystemError(ProjectError, OSError):
    """The system refused a file for a reason the user can fix (read-only, full disk, name too long,
    symlink loop); the message names the file and the fix."""


class RunLockedError(ProjectError, RuntimeError):
    """Another process holds the run folder; the message names its PID."""


class FoldError(ProjectError, ValueError):
    """The folded model does not match the HRF model it came from."""


class UnsupportedOpError(ProjectError, ValueError):
    """The model uses operators the TFLite Micro interpreter does not register."""


class BudgetError(ProjectError, ValueError):
    """The model bundle does not fit the board; the message names the numbers."""


class CmsisDspError(ProjectError, RuntimeError):
    """CMSIS-DSP sources that cannot be found or fetched; the message says what to do."""


class BuildError(ProjectError, RuntimeError):
    """A compile, link or run step failed; the message names the step and shows its output."""


class VerifyError(ProjectError, RuntimeError):
    """The firmware disagrees with the Python path; the message names the clip and the numbers."""


class ProfileError(ProjectError, RuntimeError):
    """A profile cannot be made or read; the message says what is missing."""


class NotStreamable(ValueError):
    """The model's function cannot be computed exactly by the step / attend / classify split (stage 05
    then writes no streaming pieces)."""


class NameRejected(ValueError):
    """A file name that parses but names something the protocol leaves out; the message is the reason."""


# The limits the audio refusals state (data/audio.py checks them)
AUDIO_RATES = (4000, 384000)  # Hz a recording may have; a header outside them is broken or forged
MAX_DECODE_SECONDS = 4 * 3600  # a whole decode (prepare) stops here, before memory runs out
FFMPEG_HINT = "pip install imageio-ffmpeg (or the project's `video` extra), or put ffmpeg on PATH"


class AudioError(Exception):
    """A source that cannot become pipeline audio; each subclass's `reason` is its report reason."""

    reason: str


class UnreadableAudio(AudioError):
    reason = "unreadable audio (corrupt or not audio)"


class EmptyAudio(AudioError):
    reason = "empty audio (no samples)"


class TruncatedAudio(AudioError):
    reason = "cut short (the WAV header promises more samples than the file holds)"


class NoAudioDecoder(AudioError):
    reason = f"no decoder for this format: {FFMPEG_HINT}"


class UnsupportedRate(AudioError, InputError):
    """Also an InputError: a caller's sample_rate= can be as absurd as a header."""

    reason = f"sample rate outside {AUDIO_RATES[0]}–{AUDIO_RATES[1]} Hz (broken or forged header)"


class NonFiniteAudio(AudioError):
    reason = "NaN or infinite samples (damaged float audio)"


class TooLongAudio(AudioError):
    reason = f"longer than {MAX_DECODE_SECONDS // 3600} h (cut it into parts)"
