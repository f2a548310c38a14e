"""The commands that go through the one runner (pipeline.py): run, demo, train, sweep and the
stage commands fold, quantize, export, evaluate. What they print is the runner's line per stage
with the stage's own summary; nothing here re-reads a stage's record to format it again."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ser_reparam.cli.run_config import (
    cross_validation_report,
    experiment_config,
    overrides,
    prefixed,
    quiet_tensorflow,
    run_config,
    run_stage,
)
from ser_reparam.errors import InputError


def cmd_run(args) -> int:
    """Stages 01–07 of a config in order (pipelines/run_all.py), skipping those whose inputs are unchanged."""
    quiet_tensorflow()
    from ser_reparam.experiment import fold_configs
    from ser_reparam.pipeline import run_pipeline

    config = experiment_config(args)
    for run in fold_configs(config):
        if run.data.cv_fold is not None:
            print(f"== fold {run.data.cv_fold} ==")
        run_pipeline(run, args.first, args.last, args.force)
    if args.first <= 3 <= args.last:
        cross_validation_report(config)
    return 0


def cmd_demo(args) -> int:
    """The built-in SYNTHETIC demo: all stages for a lightweight and an HRF ConvTransformer, one table."""
    quiet_tensorflow()
    from ser_reparam.demo import run_demo

    result = run_demo(args.out, args.set or [])
    print(f"run folder: {result['run_dir']} (summary in reports/demo-summary.md)")
    return 0


def cmd_train(args) -> int:
    """Stages 01–03 of a config through the runner (its seeds, or --seeds N); --seed K trains one
    seed on its own (after stages 01–02), which stage 03's record does not cover."""
    quiet_tensorflow()
    from ser_reparam.baseline import ensure_baselines
    from ser_reparam.experiment import fold_configs
    from ser_reparam.pipeline import run_pipeline
    from ser_reparam.train import configure_threads, seed_summary, train

    if args.seeds is not None:
        args.set = [*(args.set or []), f"training.seeds={args.seeds}"]
    config = experiment_config(args)
    configure_threads(config.training.threads)
    for run in fold_configs(config):
        prefix = "" if run.data.cv_fold is None else f"fold {run.data.cv_fold}: "
        if args.seed is None:
            run_pipeline(run, 1, 3, echo=prefixed(prefix))
            continue
        run_pipeline(run, 1, 2, echo=prefixed(prefix))
        ensure_baselines(run)
        for metrics in train(run, [args.seed]):
            print(prefix + seed_summary(metrics))
    cross_validation_report(config)
    return 0


def cmd_sweep(args) -> int:
    """Train a grid of HRF placements / ratios / depths / activations × seeds, then report."""
    quiet_tensorflow()
    from ser_reparam.report import write_report
    from ser_reparam.sweep import parse_grid, run_sweep

    if args.seeds is not None:  # as for train: the variants' stage 03 records cover these seeds
        args.set = [*(args.set or []), f"training.seeds={args.seeds}"]
    config = experiment_config(args)
    seeds = list(range(config.training.seeds))
    runs = run_sweep(args.config, overrides(args), parse_grid(args.grid), seeds, executor=args.executor,
                     workers=args.workers, threads=args.threads, address=args.address, gpus=args.gpus)
    print(f"{len(runs)} runs finished")
    print(write_report([config.run_dir])["markdown"])
    return 0


def cmd_fold(args) -> int:
    """Stage 04: fold every trained seed (deHRF), verify on test features, pick the deployed seed."""
    quiet_tensorflow()
    run_stage(args, 4)
    return 0


def cmd_quantize(args) -> int:
    """Stage 05: float / int8 (/ int16x8 / QAT int8) TFLite files, audited against TFLite Micro."""
    quiet_tensorflow()
    run_stage(args, 5)
    return 0


def cmd_evaluate(args) -> int:
    """Stage 07: test metrics on Keras, LiteRT and the TFLite Micro interpreter, side by side."""
    quiet_tensorflow()
    from ser_reparam.layout import RunLayout

    print(RunLayout(run_stage(args, 7)).evaluation("md").read_text())
    return 0


def cmd_export(args) -> int:
    """Stage 06: firmware bundles (C arrays, settings, op resolver, front end, projects) per board."""
    quiet_tensorflow()
    from firmware_export.bundle_record import summary_line
    from firmware_export.export import export_model
    from ser_reparam.bundles import export_run
    from ser_reparam.quantize import deployed_model_name

    if args.run and args.run.endswith(".tflite"):  # the deployed file alone: its metadata holds the rest
        if not args.board or not args.out:
            raise InputError(f"ser-reparam export {args.run}: from a .tflite give --board BOARD and --out "
                             "FOLDER")
        for board in args.board:
            print(summary_line(board, export_model(Path(args.run), Path(args.out) / board, board)))
        return 0
    config = run_config(args)
    if args.board:  # the boards asked for become the config's: stage 06's record names them
        config = dataclasses.replace(config, export=dataclasses.replace(config.export,
                                                                        boards=tuple(args.board)))
    if args.deployment:  # likewise the deployment (export.deployment)
        config = dataclasses.replace(config, export=dataclasses.replace(config.export,
                                                                        deployment=args.deployment))
    if args.model and args.model != deployed_model_name(config):  # not the file stage 06 deploys: no record
        for board in config.export.boards:
            print(summary_line(board, export_run(config, board, args.model)))
        print(f"(exported {args.model}, not the deployed {deployed_model_name(config)}: outside stage 06's "
              "record, so the next `run` exports the deployed file again)")
        return 0
    from ser_reparam.pipeline import run_pipeline

    run_pipeline(config, 6, 6, args.force)
    return 0
