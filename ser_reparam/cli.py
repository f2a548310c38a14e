"""`ser-reparam` command line: `run`, `demo`, `train` and the stage commands (fold, quantize,
export, evaluate) go through the one runner (pipeline.py); the rest call the library.

TensorFlow is imported only inside the subcommands, so `--help` and `--version` answer at once.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

from ser_reparam import __version__
from ser_reparam.errors import BuildError, InputError, ProjectError, VerifyError


WITHOUT_TENSORFLOW = {"report", "make-demo-data"}  # commands that never import it: answer at once


def _quiet_tensorflow() -> None:
    """TensorFlow's C++ INFO / WARNING lines off (main() already decided; kept for direct callers)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _whole(minimum: int):
    """An argparse type: a whole number >= `minimum` (0 workers, a negative seed: refused at once)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}")
        return value
    return parse


def cmd_fold_demo(args) -> int:
    """Train a small HRF classifier on random data, fold it, and show that nothing changed."""
    _quiet_tensorflow()
    from ser_reparam.fold_demo import run_fold_demo

    run_fold_demo(seed=args.seed, epochs=args.epochs)
    return 0


def cmd_prepare(args) -> int:
    """Build a manifest from your copy of a corpus; print what was kept and excluded, by reason."""
    _quiet_tensorflow()
    from ser_reparam.data.prepare import prepare_manifest

    options = {"fold": args.fold, "clip_seconds": args.clip_seconds, "seed": args.seed, "csv_file": args.csv_file,
               "labels": args.labels.split(",") if args.labels else None}
    report = prepare_manifest(args.dataset, args.root, args.out, audio_cache=args.audio_cache,
                              **{name: value for name, value in options.items() if value is not None})
    print(report.table())
    print(f"manifest: {args.out}\nsummary:  {Path(args.out).with_name(Path(args.out).stem + '_summary.json')}")
    return 0


def cmd_make_demo_data(args) -> int:
    """Generate the built-in SYNTHETIC demo corpus (WAV files + manifest.csv)."""
    from ser_reparam.data.synthetic import make_demo_corpus

    manifest = make_demo_corpus(args.out, seed=args.seed, speakers=args.speakers, per_class=args.per_class)
    print(f"synthetic demo corpus written: {manifest}")
    return 0


_LOCKS = contextlib.ExitStack()  # run-folder locks taken by a command, released when main() returns


def _locked(config):
    """Hold the config's run folder for the rest of the command (one writer per run folder), once
    it is known not to overlap the user's corpus or CSV."""
    from ser_reparam.experiment import refuse_overlap
    from ser_reparam.runlock import run_lock

    refuse_overlap(config)
    _LOCKS.enter_context(run_lock(config.run_dir))
    return config


def _overrides(args) -> list[str]:
    """--set values, then --folds / --fold as data.folds / data.fold."""
    extra = []
    if getattr(args, "folds", None) is not None:
        extra.append(f"data.folds={args.folds}")
    if getattr(args, "fold", None) is not None:
        extra.append(f"data.fold={args.fold}")
    return [*(args.set or []), *extra]


def _config(args):
    from ser_reparam.config import load_config

    return _locked(load_config(args.config, _overrides(args)))


def _cross_validation_report(config) -> None:
    """After every fold of a speaker cross-validation: the report over folds × seeds."""
    if config.data.folds is not None and config.data.fold is None:
        from ser_reparam.report import write_report

        print(write_report([config.base_dir])["markdown"])


def cmd_train(args) -> int:
    """Stages 01–03 of a config through the runner (its seeds, or --seeds N); --seed K trains one
    seed on its own (after stages 01–02), which stage 03's record does not cover."""
    _quiet_tensorflow()
    from ser_reparam.baseline import ensure_baselines
    from ser_reparam.experiment import fold_configs
    from ser_reparam.pipeline import run_pipeline
    from ser_reparam.train import configure_threads, seed_summary, train

    if args.seeds is not None:
        args.set = [*(args.set or []), f"training.seeds={args.seeds}"]
    config = _config(args)
    configure_threads(config.training.threads)
    for run in fold_configs(config):
        prefix = "" if run.data.fold is None else f"fold {run.data.fold}: "
        if args.seed is None:
            run_pipeline(run, 1, 3, echo=_prefixed(prefix))
            continue
        run_pipeline(run, 1, 2, echo=_prefixed(prefix))
        ensure_baselines(run)
        for metrics in train(run, [args.seed]):
            print(prefix + seed_summary(metrics))
    _cross_validation_report(config)
    return 0


def _prefixed(prefix: str):
    """The runner's echo with each line led by `prefix` (a fold of a cross-validation)."""
    if not prefix:
        return print
    return lambda text: print("\n".join(prefix + line.strip() for line in text.splitlines()))


def cmd_sweep(args) -> int:
    """Train a grid of HRF placements / ratios / depths / activations × seeds, then report."""
    _quiet_tensorflow()
    from ser_reparam.report import write_report
    from ser_reparam.sweep import parse_grid, run_sweep

    if args.seeds is not None:  # as for train: the variants' stage 03 records cover these seeds
        args.set = [*(args.set or []), f"training.seeds={args.seeds}"]
    config = _config(args)
    seeds = list(range(config.training.seeds))
    runs = run_sweep(args.config, _overrides(args), parse_grid(args.grid), seeds, executor=args.executor,
                     workers=args.workers, threads=args.threads, address=args.address, gpus=args.gpus)
    print(f"{len(runs)} runs finished")
    print(write_report([config.run_dir])["markdown"])
    return 0


def cmd_report(args) -> int:
    """Aggregate trained seeds of one or more run folders into tables and plots."""
    from ser_reparam.report import write_report

    result = write_report(args.run_dirs, args.out, args.metric, args.against)
    print(result["markdown"])
    print("written: " + ", ".join(str(p) for p in result["files"]))
    return 0


def _run_config(args):
    """The config of a stage command: from --config (+ --set), or from a run folder."""
    if args.config:
        return _config(args)
    if not args.run:
        raise InputError(f"ser-reparam {args.command}: give a run folder (runs/<name>/<variant>) or --config <experiment YAML>")
    from ser_reparam.experiment import load_run

    return _locked(load_run(args.run, args.set or []))


def _run_stage(args, number: int):
    """One stage for the command's config through the runner: recorded, skipped while its record
    holds (--force: redone), refused while a stage it reads is not up to date. Returns the config."""
    from ser_reparam.pipeline import run_pipeline

    config = _run_config(args)
    run_pipeline(config, number, number, args.force)
    return config


def cmd_fold(args) -> int:
    """Stage 04: fold every trained seed (deHRF), verify on test features, pick the deployed seed."""
    _quiet_tensorflow()
    from ser_reparam.layout import RunLayout

    record = json.loads(RunLayout(_run_stage(args, 4)).fold_record.read_text())
    for seed, entry in record["seeds"].items():
        print(f"seed {seed}: max |logit HRF − folded| on {entry['test_examples']} test examples "
              f"{entry['max_logit_diff']:.2e}; params {entry['params_before']:,} → {entry['params_after']:,}; "
              f"MACs {entry['macs_before']:,} → {entry['macs_after']:,}")
    print(f"deployed seed: {record['deployed_seed']} (best {record['selected_by']})")
    return 0


def cmd_quantize(args) -> int:
    """Stage 05: float / int8 (/ int16x8 / QAT int8) TFLite files, audited against TFLite Micro."""
    _quiet_tensorflow()
    from ser_reparam.layout import RunLayout

    record = json.loads((RunLayout(_run_stage(args, 5)).quantize_record).read_text())
    for name, entry in record["models"].items():
        fallback = f"; float fallback: {', '.join(entry['float_ops'])}" if entry["float_ops"] else ""
        print(f"{name:<9} {entry['bytes']:>8,} bytes  ops: {', '.join(entry['ops'])}{fallback}")
    return 0


def cmd_evaluate(args) -> int:
    """Stage 07: test metrics on Keras, LiteRT and the TFLite Micro interpreter, side by side."""
    _quiet_tensorflow()
    from ser_reparam.layout import RunLayout

    print(RunLayout(_run_stage(args, 7)).evaluation("md").read_text())
    return 0


def cmd_export(args) -> int:
    """Stage 06: firmware bundles (C arrays, settings, op resolver, front end, projects) per board."""
    _quiet_tensorflow()
    from firmware_export.export import export_model, export_run
    from ser_reparam.layout import RunLayout
    from ser_reparam.quantize import deployed_model_name

    if args.run and args.run.endswith(".tflite"):  # the deployed file alone: its metadata holds the rest
        if not args.board or not args.out:
            raise InputError(f"ser-reparam export {args.run}: from a .tflite give --board BOARD and --out FOLDER")
        for board in args.board:
            _print_bundle(board, export_model(Path(args.run), Path(args.out) / board, board), Path(args.out) / board)
        return 0
    config = _run_config(args)
    if args.board:  # the boards asked for become the config's: stage 06's record names them
        config = dataclasses.replace(config, export=dataclasses.replace(config.export, boards=tuple(args.board)))
    if args.deployment:  # likewise the deployment (export.deployment)
        config = dataclasses.replace(config, export=dataclasses.replace(config.export, deployment=args.deployment))
    if args.model and args.model != deployed_model_name(config):  # not the file stage 06 deploys: no record
        for board in config.export.boards:
            _print_bundle(board, export_run(config, board, args.model), RunLayout(config).firmware_dir(board))
        print(f"(exported {args.model}, not the deployed {deployed_model_name(config)}: outside stage 06's "
              "record, so the next `run` exports the deployed file again)")
        return 0
    from firmware_export.bundle_record import read_record
    from ser_reparam.pipeline import run_pipeline

    run_pipeline(config, 6, 6, args.force)
    for board in config.export.boards:
        folder = RunLayout(config).firmware_dir(board)
        _print_bundle(board, read_record(folder), folder)
    return 0


def _print_bundle(board: str, manifest: dict, folder: Path) -> None:
    ram = manifest["budget"]["ram"]
    streaming = manifest.get("deployment") == "streaming"
    state = f"  state {ram['state_bytes']:,} B" if streaming else ""
    print(f"{board:<9} {manifest.get('deployment', 'whole-window')}: model {manifest['model']['bytes']:>7,} B  "
          f"arena {manifest['arena']['kTensorArenaSize']:>8,} B ({manifest['arena']['fidelity']} "
          f"{manifest['arena']['measured_bytes']:,} with {manifest['arena']['kernels']}"
          f"{', shared by the 3 pieces' if streaming else ''}){state}  front end {ram['frontend_bytes']:,} B  "
          f"RAM {ram['used_bytes']:,} / {ram['budget_bytes']:,} B  → {folder}")
    print(f"          {manifest['verdict']}")


def cmd_verify_firmware(args) -> int:
    """Build a bundle's firmware against the real TFLite Micro (host or Cortex-M4 under QEMU), play
    test clips into it and check features, int8 logits and labels against the Python path."""
    _quiet_tensorflow()
    from firmware_export.verify import summary, verify_firmware

    report = verify_firmware(_run_config(args), args.board, args.target, args.tflm_dir, args.clips,
                             Path(args.work) if args.work else None, log=print)
    print(summary(report, args.board))
    print(f"verified: {args.board} firmware on {args.target} agrees with the Python path on "
          f"{len(report['clips'])} clips")
    return 0


def cmd_profile_firmware(args) -> int:
    """Run a bundle's firmware (Cortex-M4 under QEMU, or the host under callgrind) with a per-operator
    profiler: instructions, share, MACs and kernel per operator and per layer (per piece when streaming)."""
    _quiet_tensorflow()
    from firmware_export.profile import profile_firmware, summary

    config = _run_config(args)
    try:
        report = profile_firmware(config, args.board, args.target, args.tflm_dir, args.clips,
                                  Path(args.work) if args.work else None, log=print)
    except (BuildError, VerifyError, ValueError) as error:
        raise SystemExit(f"profile-firmware: {error}") from None
    print(summary(report, nodes=args.nodes))
    return 0


def cmd_run(args) -> int:
    """Stages 01–07 of a config in order (pipelines/run_all.py), skipping those whose inputs are unchanged."""
    _quiet_tensorflow()
    from ser_reparam.experiment import fold_configs
    from ser_reparam.pipeline import run_pipeline

    config = _config(args)
    for run in fold_configs(config):
        if run.data.fold is not None:
            print(f"== fold {run.data.fold} ==")
        run_pipeline(run, args.first, args.last, args.force)
    if args.first <= 3 <= args.last:
        _cross_validation_report(config)
    return 0


def cmd_demo(args) -> int:
    """The built-in SYNTHETIC demo: all stages for a lightweight and an HRF ConvTransformer, one table."""
    _quiet_tensorflow()
    from ser_reparam.demo import run_demo

    result = run_demo(args.out, args.set or [])
    print(f"run folder: {result['run_dir']} (summary in reports/demo-summary.md)")
    return 0


def cmd_predict(args) -> int:
    """Classify audio files or folders with a run folder's model or a deployed .tflite (label and
    class probabilities per window and per clip). Exit 1 when any file could not be read."""
    from ser_reparam.predict import Predictor, audio_files, format_results, predict_files, refuse_overwriting

    paths, skipped = audio_files(args.audio)
    if args.out:
        refuse_overwriting(args.out, [*paths, *skipped, args.model])
    predictor = Predictor.load(args.model, args.backend, args.variant_model, args.hop)
    for path in skipped:
        print(f"ser-reparam predict: skipped {path}: not an audio file name (give it by name to try it)",
              file=sys.stderr)
    clips, failed = [], 0
    for path, clip, error in predict_files(predictor, paths):
        if clip is None:
            failed += 1
            print(f"ser-reparam predict: skipped {path}: {error}", file=sys.stderr)
        else:
            clips.append(clip)
    text = format_results(clips, predictor.labels, args.format)
    if args.out:
        from ser_reparam.files import atomic_write_text

        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    if failed or not paths:
        print(f"ser-reparam predict: {failed} of {len(paths)} file(s) could not be classified"
              if paths else "ser-reparam predict: no audio files given or found", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ser-reparam",
        description="Tiny Transformers for on-device speech emotion recognition: HRF training, "
                    "deHRF folding, int8 quantization and TFLite Micro export.")
    parser.add_argument("--version", action="version", version=f"ser-reparam {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of its one-line message")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's INFO / WARNING log lines (hidden by default; an explicit "
                             "TF_CPP_MIN_LOG_LEVEL in the environment is respected)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("fold-demo", help=cmd_fold_demo.__doc__)
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--epochs", type=int, default=3, help="training epochs before folding (default 3)")
    demo.set_defaults(func=cmd_fold_demo)

    run = sub.add_parser("run", help=cmd_run.__doc__)
    _config_arguments(run)
    run.add_argument("--from", dest="first", type=int, default=1, metavar="N", help="first stage (default 1)")
    run.add_argument("--to", dest="last", type=int, default=7, metavar="M", help="last stage (default 7)")
    run.add_argument("--force", action="store_true", help="redo the selected stages even when unchanged")
    run.set_defaults(func=cmd_run)

    demo_run = sub.add_parser("demo", help=cmd_demo.__doc__)
    demo_run.add_argument("--out", default="runs", help="folder for the corpus and the run (default runs/)")
    demo_run.add_argument("--set", action="append", metavar="KEY=VALUE",
                          help="override a value of configs/demo.yaml, e.g. --set training.seeds=1")
    demo_run.set_defaults(func=cmd_demo)

    from ser_reparam.data.corpora import CORPORA  # no TensorFlow behind this import

    prepare = sub.add_parser("prepare", help=cmd_prepare.__doc__)
    prepare.add_argument("--dataset", required=True, choices=list(CORPORA), help="corpus layout to read")
    prepare.add_argument("--root", required=True, help="your copy of the corpus")
    prepare.add_argument("--out", required=True, help="manifest CSV to write (summary JSON goes beside it)")
    prepare.add_argument("--audio-cache", help="folder for converted 16 kHz mono WAVs (default: <out folder>/audio_cache)")
    prepare.add_argument("--fold", type=int, help="iemocap: session used as test set (default 5)")
    prepare.add_argument("--clip-seconds", type=float, help="daic_woz: clip length (default 10)")
    prepare.add_argument("--seed", type=int, help="ravdess, crema_d, emodb, folder, csv: speaker split seed (default 0)")
    prepare.add_argument("--csv-file", help="csv: your CSV (path,label[,split,speaker,start,end,utt_id])")
    prepare.add_argument("--labels", help="folder, csv: the classes, comma-separated; other labels are refused "
                                          "(without it, labels that look like typos of each other are refused)")
    prepare.set_defaults(func=cmd_prepare)

    make_demo = sub.add_parser("make-demo-data", help=cmd_make_demo_data.__doc__)
    make_demo.add_argument("out", help="folder to write the corpus into")
    make_demo.add_argument("--seed", type=_whole(0), default=0)
    make_demo.add_argument("--speakers", type=int, default=10)
    make_demo.add_argument("--per-class", type=_whole(1), default=12, help="utterances per speaker and class")
    make_demo.set_defaults(func=cmd_make_demo_data)

    train = sub.add_parser("train", help=cmd_train.__doc__)
    _config_arguments(train)
    seeds = train.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=_whole(0), help="train this one seed")
    seeds.add_argument("--seeds", type=int, help="train seeds 0 … N-1 (default: training.seeds)")
    train.set_defaults(func=cmd_train)

    sweep = sub.add_parser("sweep", help=cmd_sweep.__doc__)
    _config_arguments(sweep)
    sweep.add_argument("--grid", nargs="+", required=True, metavar="KEY=V1,V2",
                       help="placements=original,none,ffn2,all  ratios=2,4,8  depths=1,2,3  activations=relu,gelu")
    sweep.add_argument("--seeds", type=int, help="seeds 0 … N-1 per grid point (default: training.seeds)")
    sweep.add_argument("--executor", choices=["local", "ray"], default="local")
    sweep.add_argument("--workers", type=_whole(1), default=2,
                       help="local: parallel training processes (default 2)")
    sweep.add_argument("--threads", type=_whole(0), default=1, help="TensorFlow threads per run (default 1)")
    sweep.add_argument("--address", help="ray: cluster address (default: start a local Ray)")
    sweep.add_argument("--gpus", type=float, default=0.0, help="ray: GPUs per run (default 0)")
    sweep.set_defaults(func=cmd_sweep)

    for name, func in (("fold", cmd_fold), ("quantize", cmd_quantize), ("evaluate", cmd_evaluate)):
        stage = sub.add_parser(name, help=func.__doc__)
        _run_arguments(stage, stage=True)
        stage.set_defaults(func=func)

    export = sub.add_parser("export", help=cmd_export.__doc__)
    _run_arguments(export, stage=True)
    export.add_argument("--board", action="append", help="board key (repeatable; default: export.boards); "
                        "see firmware_export/boards.yaml")
    export.add_argument("--out", help="with a .tflite instead of a run folder: write <out>/<board>/ (whole-window)")
    export.add_argument("--deployment", choices=["auto", "streaming", "whole-window"],
                        help="streaming pieces or the model once per window (default: export.deployment, 'auto' = "
                             "streaming when stage 05 wrote streaming pieces)")
    export.add_argument("--model", choices=["int8", "qat_int8"],
                        help="which int8 file to export (default: qat_int8 when the config runs QAT, else int8)")
    export.set_defaults(func=cmd_export)

    verify = sub.add_parser("verify-firmware", help=cmd_verify_firmware.__doc__)
    _run_arguments(verify)
    verify.add_argument("--board", required=True, help="board key of an exported bundle (firmware/<board>)")
    verify.add_argument("--target", default="host", choices=["host", "cortex-m4"],
                        help="host: g++ and TFLM reference kernels; cortex-m4: arm-none-eabi-gcc, CMSIS-NN, "
                             "the board's RAM regions, run under qemu-system-arm -M mps2-an386")
    verify.add_argument("--tflm-dir", help="TFLite Micro tree(s) made by create_tflm_tree.py (default: $TFLM_DIR)")
    verify.add_argument("--clips", type=int, default=8, help="test clips to play (default 8)")
    verify.add_argument("--work", help="keep the build here (default: a temporary folder)")
    verify.set_defaults(func=cmd_verify_firmware)

    profile = sub.add_parser("profile-firmware", help=cmd_profile_firmware.__doc__)
    _run_arguments(profile)
    profile.add_argument("--board", required=True, help="board key of an exported bundle (firmware/<board>)")
    profile.add_argument("--target", default="cortex-m4", choices=["cortex-m4", "host"],
                         help="cortex-m4: CMSIS-NN under QEMU, instructions by -icount + SysTick (default); "
                              "host: reference kernels, instructions by Valgrind callgrind")
    profile.add_argument("--tflm-dir", help="TFLite Micro tree(s) made by create_tflm_tree.py (default: $TFLM_DIR)")
    profile.add_argument("--clips", type=int, default=4, help="test clips to play (default 4)")
    profile.add_argument("--nodes", action="store_true", help="also one row per operator node")
    profile.add_argument("--work", help="keep the build here (default: a temporary folder)")
    profile.set_defaults(func=cmd_profile_firmware)

    predict = sub.add_parser("predict", help=cmd_predict.__doc__)
    predict.add_argument("model", help="run folder (runs/<name>/<variant>) or a deployed .tflite")
    predict.add_argument("audio", nargs="+", help="audio files (WAV, FLAC, MP3, … any rate) or folders")
    predict.add_argument("--backend", choices=["tflm", "litert", "keras"], default="tflm",
                         help="tflm: the deployed int8 path on TFLite Micro (default); litert; keras: the "
                              "folded float model (run folder only)")
    predict.add_argument("--model", dest="variant_model", metavar="NAME",
                         help="run folder: which quantized/NAME.tflite (default: the one stage 06 exports)")
    predict.add_argument("--hop", type=float, metavar="SECONDS",
                         help="step between windows of long audio, from one feature frame (0.01 s) up to "
                              "the window length (the default)")
    predict.add_argument("--format", choices=["table", "csv", "json"], default="table")
    predict.add_argument("--out", help="write the results to this file instead of stdout")
    predict.set_defaults(func=cmd_predict)

    report = sub.add_parser("report", help=cmd_report.__doc__)
    report.add_argument("run_dirs", nargs="+", help="run folders (runs/<experiment>)")
    report.add_argument("--out", help="output folder (default: <first run>/reports)")
    report.add_argument("--metric", default="ua", choices=["wa", "ua", "wf1", "mf1"],
                        help="metric of the paired column and the ablation plots (default ua)")
    report.add_argument("--against", metavar="VARIANT",
                        help="reference row of the paired differences: a variant folder name, "
                             "<experiment>/<variant> with several run folders (default: the Lightweight row)")
    report.set_defaults(func=cmd_report)
    return parser


def _run_arguments(parser, stage: bool = False) -> None:
    parser.add_argument("run", nargs="?", help="run folder: runs/<name>/<variant> (or runs/<name> with one variant); "
                                               "export also takes a deployed .tflite")
    parser.add_argument("--config", help="experiment YAML instead of a run folder")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value")
    if stage:
        parser.add_argument("--force", action="store_true",
                            help="redo the stage even when its record says its inputs are unchanged")


def _config_arguments(parser) -> None:
    parser.add_argument("--config", required=True, help="experiment YAML (see configs/)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config value, e.g. --set model.hrf=ffn2@8x1 (repeatable)")
    parser.add_argument("--folds", metavar="loso|K",
                        help="speaker cross-validation: leave one speaker out, or K speaker folds "
                             "(= --set data.folds=…); every fold runs, then the report over folds × seeds")
    parser.add_argument("--fold", type=int, metavar="K", help="run only fold K (0-based) of data.folds")


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
    with _LOCKS:
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
              f"traceback in {log}; re-run with --debug to see it here, and please report it", file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
