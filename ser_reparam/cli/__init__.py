"""`ser-reparam` command line: `run`, `demo`, `train` and the stage commands (fold, quantize,
export, evaluate) go through the one runner (pipeline.py); the rest call the library. The parser
is parser.py, the handlers the *_commands.py modules; this module runs one command and turns the
project's errors into one line.

TensorFlow is imported only inside the commands, so `--help` and `--version` answer at once.
"""
from __future__ import annotations

import datetime
import os
import sys
import tempfile
import traceback
from pathlib import Path

from ser_reparam import __version__
from ser_reparam.cli.parser import build_parser
from ser_reparam.cli.run_config import LOCKS
from ser_reparam.errors import ProjectError

WITHOUT_TENSORFLOW = {"report", "make-demo-data"}  # commands that never import it: answer at once


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, also after the subcommand
    verbose = "--verbose" in argv
    args = parser.parse_args([arg for arg in argv if arg not in ("--debug", "--verbose")])
    args.debug, args.verbose = debug, verbose
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    with LOCKS:
        return _dispatch(args)


def _dispatch(args) -> int:
    """Run the command; the project's errors become one line and exit 2 (unless --debug)."""
    if args.debug:
        return _run_command(args)
    from ser_reparam.files import refusals_named

    try:
        with refusals_named():  # a full disk, a read-only folder, …: the user's to fix, not a bug
            return _run_command(args)
    except ProjectError as err:  # a refusal the user can act on: one line, exit 2
        print(f"ser-reparam {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ser-reparam {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: name where it happened, keep the traceback in a log
        where = getattr(err, "ser_reparam_stage", None) or f"command {args.command}"
        log = _write_log(err, getattr(err, "ser_reparam_run_dir", None))
        print(f"ser-reparam {args.command}: unexpected {type(err).__name__} in {where}: {_one_line(err)} — "
              f"traceback in {log}; re-run with --debug to see it here, and please report it",
              file=sys.stderr)
        return 1


def _run_command(args) -> int:
    """The command; one that uses TensorFlow runs with its start-up and C++ log lines held back
    (console.quiet_command), the import included, so a Ctrl-C there is an ordinary interruption."""
    if args.command in WITHOUT_TENSORFLOW:
        return args.func(args)
    from ser_reparam.console import quiet_command

    with quiet_command(args.verbose):
        return args.func(args)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _write_log(err: BaseException, run_dir) -> Path:
    """The traceback in `<run folder>/logs/` (or the temp folder when no run folder is known)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(run_dir) / "logs" if run_dir else Path(tempfile.gettempdir()) / "ser-reparam-logs"
    path = folder / f"error-{stamp}-{os.getpid()}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(f"ser-reparam {__version__}: {' '.join(sys.argv)}\n"
                        + "".join(traceback.format_exception(err)))
    except OSError:
        return Path("(log not writable: re-run with --debug)")
    return path


def stage_main(number: int | None, argv: list[str] | None = None) -> int:
    """Entry of pipelines/NN_*.py (one stage) and pipelines/run_all.py (number None: --from/--to)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    span = ["--from", str(number), "--to", str(number)] if number else []
    return main(["run", *span, *(sys.argv[1:] if argv is None else argv)])
