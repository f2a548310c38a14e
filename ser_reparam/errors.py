"""The project's own errors: refusals a user can act on, each message naming what, where and the fix.

The command line prints any `ProjectError` as one line and exits 2 (tracebacks with --debug);
anything else is a bug and gets a log file. Each class keeps its built-in base (ValueError,
RuntimeError, …) so existing `except ValueError` callers still catch it. The modules that raise
them re-export them under their old names.
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
