"""What a command runs on: its config (from --config and --set, or a saved run folder), the run
folder's lock held for the rest of the command, and the runner's stages for it."""
from __future__ import annotations

import contextlib
import os

from ser_reparam.errors import InputError

LOCKS = contextlib.ExitStack()  # run-folder locks taken by a command, released when main() returns


def quiet_tensorflow() -> None:
    """TensorFlow's C++ INFO / WARNING lines off (main() already decided; kept for direct callers)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def locked(config):
    """Hold the config's run folder for the rest of the command (one writer per run folder), once
    it is known not to overlap the user's corpus or CSV."""
    from ser_reparam.experiment import refuse_overlap
    from ser_reparam.runlock import run_lock

    refuse_overlap(config)
    LOCKS.enter_context(run_lock(config.run_dir))
    return config


def overrides(args) -> list[str]:
    """--set values, then --cv-folds / --cv-fold as data.cv_folds / data.cv_fold."""
    extra = []
    if getattr(args, "cv_folds", None) is not None:
        extra.append(f"data.cv_folds={args.cv_folds}")
    if getattr(args, "cv_fold", None) is not None:
        extra.append(f"data.cv_fold={args.cv_fold}")
    return [*(args.set or []), *extra]


def experiment_config(args):
    """The config of --config (+ --set, --cv-folds, --cv-fold), its run folder locked."""
    from ser_reparam.config import load_config

    return locked(load_config(args.config, overrides(args)))


def run_config(args):
    """The config of a stage command: from --config (+ --set), or from a run folder."""
    if args.config:
        return experiment_config(args)
    if not args.run:
        raise InputError(f"ser-reparam {args.command}: give a run folder (runs/<name>/<variant>) or --config "
                         "<experiment YAML>")
    from ser_reparam.experiment import load_run

    return locked(load_run(args.run, args.set or []))


def run_stage(args, number: int):
    """One stage for the command's config through the runner: recorded, skipped while its record
    holds (--force: redone), refused while a stage it reads is not up to date. Returns the config."""
    from ser_reparam.pipeline import run_pipeline

    config = run_config(args)
    run_pipeline(config, number, number, args.force)
    return config


def prefixed(prefix: str):
    """The runner's echo with each line led by `prefix` (a fold of a cross-validation)."""
    if not prefix:
        return print
    return lambda text: print("\n".join(prefix + line.strip() for line in text.splitlines()))


def cross_validation_report(config) -> None:
    """After every fold of a speaker cross-validation: the report over folds × seeds."""
    if config.data.cv_folds is not None and config.data.cv_fold is None:
        from ser_reparam.report import write_report

        print(write_report([config.base_dir])["markdown"])
