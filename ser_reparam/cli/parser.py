"""The `ser-reparam` argument parser: every command, its options and its handler."""
from __future__ import annotations

import argparse
import sys

from ser_reparam import __version__
from ser_reparam.cli.firmware_commands import cmd_profile_firmware, cmd_verify_firmware
from ser_reparam.cli.pipeline_commands import (
    cmd_demo,
    cmd_evaluate,
    cmd_export,
    cmd_fold,
    cmd_quantize,
    cmd_run,
    cmd_sweep,
    cmd_train,
)
from ser_reparam.cli.tool_commands import (
    cmd_fold_demo,
    cmd_make_demo_data,
    cmd_predict,
    cmd_prepare,
    cmd_report,
)


class _Renamed(argparse.Action):
    """An option whose first spelling is its name; a later one is its old spelling, still read
    with one line saying so ("fold" alone now means deHRF)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string != self.option_strings[0]:
            print(f"{option_string} is deprecated: write {self.option_strings[0]}", file=sys.stderr)
        setattr(namespace, self.dest, values)


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
    prepare.add_argument("--audio-cache", help="folder for converted 16 kHz mono WAVs (default: <out "
                                               "folder>/audio_cache)")
    prepare.add_argument("--fold", type=int, help="iemocap: session used as test set (default 5)")
    prepare.add_argument("--clip-seconds", type=float, help="daic_woz: clip length (default 10)")
    prepare.add_argument("--seed", type=int, help="ravdess, crema_d, emodb, folder, csv: speaker split seed "
                                                  "(default 0)")
    prepare.add_argument("--csv-file", help="csv: your CSV (path,label[,split,speaker,start,end,utt_id])")
    prepare.add_argument("--labels", help="folder, csv: the classes, comma-separated; other labels are "
                                          "refused (without it, labels that look like typos of each other "
                                          "are refused)")
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
                       help="placements=original,none,ffn2,all  ratios=2,4,8  depths=1,2,3  "
                            "activations=relu,gelu")
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
    export.add_argument("--out", help="with a .tflite instead of a run folder: write <out>/<board>/ "
                                      "(whole-window)")
    export.add_argument("--deployment", choices=["auto", "streaming", "whole-window"],
                        help="streaming pieces or the model once per window (default: export.deployment, "
                             "'auto' = streaming when stage 05 wrote streaming pieces)")
    export.add_argument("--model", choices=["int8", "qat_int8"],
                        help="which int8 file to export (default: qat_int8 when the config runs QAT, else "
                             "int8)")
    export.set_defaults(func=cmd_export)

    verify = sub.add_parser("verify-firmware", help=cmd_verify_firmware.__doc__)
    _firmware_arguments(verify, ["host", "cortex-m4"], 8,
                        "host: g++ and TFLM reference kernels; cortex-m4: arm-none-eabi-gcc, CMSIS-NN, "
                        "the board's RAM regions, run under qemu-system-arm -M mps2-an386")
    verify.set_defaults(func=cmd_verify_firmware)

    profile = sub.add_parser("profile-firmware", help=cmd_profile_firmware.__doc__)
    _firmware_arguments(profile, ["cortex-m4", "host"], 4,
                        "cortex-m4: CMSIS-NN under QEMU, instructions by -icount + SysTick (default); "
                        "host: reference kernels, instructions by Valgrind callgrind")
    profile.add_argument("--nodes", action="store_true", help="also one row per operator node")
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
    parser.add_argument("run", nargs="?", help="run folder: runs/<name>/<variant> (or runs/<name> with one "
                                               "variant); export also takes a deployed .tflite")
    parser.add_argument("--config", help="experiment YAML instead of a run folder")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value")
    if stage:
        parser.add_argument("--force", action="store_true",
                            help="redo the stage even when its record says its inputs are unchanged")


def _firmware_arguments(parser, targets: list[str], clips: int, target_help: str) -> None:
    """The options of the commands that run a bundle's firmware (the first target is the default)."""
    _run_arguments(parser)
    parser.add_argument("--board", required=True, help="board key of an exported bundle (firmware/<board>)")
    parser.add_argument("--target", default=targets[0], choices=targets, help=target_help)
    parser.add_argument("--tflm-dir", help="TFLite Micro tree(s) made by create_tflm_tree.py (default: "
                                           "$TFLM_DIR)")
    parser.add_argument("--clips", type=int, default=clips, help=f"test clips to play (default {clips})")
    parser.add_argument("--work", help="keep the build here (default: a temporary folder)")


def _config_arguments(parser) -> None:
    parser.add_argument("--config", required=True, help="experiment YAML (see configs/)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config value, e.g. --set model.hrf=ffn2@8x1 (repeatable)")
    parser.add_argument("--cv-folds", "--folds", action=_Renamed, metavar="loso|K",
                        help="speaker cross-validation: leave one speaker out, or K speaker folds "
                             "(= --set data.cv_folds=…); every fold runs, then the report over folds × seeds")
    parser.add_argument("--cv-fold", "--fold", action=_Renamed, type=int, metavar="K",
                        help="run only fold K (0-based) of data.cv_folds")
