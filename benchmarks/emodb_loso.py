"""Real-speech results: leave-one-speaker-out on emodb-8spk, models beside baselines and chance.

To run:  SER_EMODB_DIR=/path/to/emodb-8spk python benchmarks/emodb_loso.py \
             [--config configs/emodb-convtransformer.yaml] [--placements none,ffn2@8x1,all@8x1]
             [--seeds 3] [--workers 2] [--runs runs/bench] [--set KEY=VALUE] [--docs [PAGE]]

Trains every placement × fold × seed with `ser-reparam sweep` (finished runs are skipped, so
it resumes), fits the classic baselines on the same folds, and writes the report table with
the machine, the versions, the oneDNN setting and the wall time to
benchmarks/results/emodb-loso-<arch>.md (and, with --docs, into the block emodb-loso-<arch>
of its docs page: benchmarks/readme.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from readme import TRAINING_PACKAGES, docs_option, machine, write_block  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE.parent / "configs" / "emodb-convtransformer.yaml"))
    parser.add_argument("--placements", default="none,ffn2@8x1,all@8x1")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", default="runs/bench", help="runs folder (default runs/bench)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    docs_option(parser)
    parser.add_argument("--block", help="docs block and results file name (default emodb-loso-<arch>)")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: the table of the runs already finished under --runs")
    args = parser.parse_args()
    root = os.environ.get("SER_EMODB_DIR", "")
    if not root or not Path(root, "wav").is_dir():
        raise SystemExit("set SER_EMODB_DIR to the emodb-8spk folder (the one holding wav/)")

    from ser_reparam.config import load_config
    from ser_reparam.report import write_report
    from ser_reparam.sweep import parse_grid, run_sweep

    overrides = [f"data.root={root}", f"runs_dir={args.runs}", "data.cv_folds=loso", *args.set]
    config = load_config(args.config, overrides)
    start = time.perf_counter()
    runs = [] if args.report_only else run_sweep(args.config, overrides,
                                                 parse_grid([f"placements={args.placements}"]),
                                                 list(range(args.seeds)), workers=args.workers, threads=1)
    minutes = (time.perf_counter() - start) / 60
    report = write_report([config.base_dir])
    training = config.training
    recipe = (f"{config.data.window_seconds:g} s windows, batch {training.batch_size}, "
              f"lr {config.learning_rate:g} "
              f"({training.schedule}, warmup {training.warmup_epochs:g} epochs), {training.epochs} epochs, "
              f"classifier dropout {config.model.cls_dropout:g}, classifier ReLU biases start at "
              f"{config.model.cls_bias:g}, pooled-vector norm {'on' if config.model.pool_norm else 'off'}, "
              f"label smoothing {training.label_smoothing:g}, "
              f"class weights {'on' if training.class_weights else 'off'}, mixup {training.mixup:g}, "
              f"SpecAugment {training.time_masks} time / {training.freq_masks} frequency masks, "
              f"gain ±{training.gain_db:g} dB; validation: {config.data.val}")
    text = (report["markdown"].split("\n", 2)[2]  # drop the title line
            + f"\n`python benchmarks/emodb_loso.py --config {Path(args.config).name} --placements "
              f"{args.placements} --seeds {args.seeds}{''.join(f' --set {o}' for o in args.set)}"
              f"{f' --block {args.block}' if args.block else ''}"
              f"{' --report-only' if args.report_only else ''}` — {config.model.arch}, {recipe}. "
              + ("Table of the runs finished under the runs folder (the runs column says how many per row); "
                 if args.report_only else f"{len(runs)} training runs (finished ones reused), "
                 f"{minutes:.0f} min wall with {args.workers} workers × 1 thread; ")
              + f"trained on: {machine(TRAINING_PACKAGES)}.\n")
    key = args.block or f"emodb-loso-{config.model.arch}"
    out = HERE / "results" / f"{key}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {out}")
    page = write_block(key, text, sys.argv[1:])
    if page:
        print(f"written: {page} (block {key})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
