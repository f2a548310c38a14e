"""`ser-reparam` command line: one subcommand per pipeline stage, each calling the library.

TensorFlow is imported only inside the subcommands, so `--help` and `--version` answer at once.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ser_reparam import __version__


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


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

    options = {"fold": args.fold, "clip_seconds": args.clip_seconds, "seed": args.seed, "csv_file": args.csv_file}
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ser-reparam",
        description="Tiny Transformers for on-device speech emotion recognition: HRF training, "
                    "deHRF folding, int8 quantization and TFLite Micro export.")
    parser.add_argument("--version", action="version", version=f"ser-reparam {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("fold-demo", help=cmd_fold_demo.__doc__)
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--epochs", type=int, default=3, help="training epochs before folding (default 3)")
    demo.set_defaults(func=cmd_fold_demo)

    from ser_reparam.data.corpora import CORPORA  # no TensorFlow behind this import

    prepare = sub.add_parser("prepare", help=cmd_prepare.__doc__)
    prepare.add_argument("--dataset", required=True, choices=list(CORPORA), help="corpus layout to read")
    prepare.add_argument("--root", required=True, help="your copy of the corpus")
    prepare.add_argument("--out", required=True, help="manifest CSV to write (summary JSON goes beside it)")
    prepare.add_argument("--audio-cache", help="folder for converted 16 kHz mono WAVs (default: <out folder>/audio_cache)")
    prepare.add_argument("--fold", type=int, help="iemocap: session used as test set (default 5)")
    prepare.add_argument("--clip-seconds", type=float, help="daic_woz: clip length (default 10)")
    prepare.add_argument("--seed", type=int, help="ravdess, crema_d, emodb, folder, csv: speaker split seed (default 0)")
    prepare.add_argument("--csv-file", help="csv: your CSV (path,label[,split,speaker,start,end])")
    prepare.set_defaults(func=cmd_prepare)

    make_demo = sub.add_parser("make-demo-data", help=cmd_make_demo_data.__doc__)
    make_demo.add_argument("out", help="folder to write the corpus into")
    make_demo.add_argument("--seed", type=int, default=0)
    make_demo.add_argument("--speakers", type=int, default=10)
    make_demo.add_argument("--per-class", type=int, default=12, help="utterances per speaker and class")
    make_demo.set_defaults(func=cmd_make_demo_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
