"""`ser-reparam` command line: one subcommand per pipeline stage, each calling the library.

TensorFlow is imported only inside the subcommands, so `--help` and `--version` answer at once.
"""
from __future__ import annotations

import argparse
import os
import sys

from ser_reparam import __version__


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def cmd_fold_demo(args) -> int:
    """Train a small HRF classifier on random data, fold it, and show that nothing changed."""
    _quiet_tensorflow()
    from ser_reparam.fold_demo import run_fold_demo

    run_fold_demo(seed=args.seed, epochs=args.epochs)
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
