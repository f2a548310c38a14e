"""Real-speech results: leave-one-speaker-out on emodb-8spk, models beside baselines and chance.

To run:  SER_EMODB_DIR=/path/to/emodb-8spk python benchmarks/emodb_loso.py \
             [--config configs/emodb-convtransformer.yaml] [--placements none,ffn2@8x1,all@8x1]
             [--seeds 3] [--workers 2] [--runs runs/bench] [--set KEY=VALUE] [--readme README.md]

Trains every placement × fold × seed with `ser-reparam sweep` (finished runs are skipped, so
it resumes), fits the classic baselines on the same folds, and writes the report table with
the machine, the versions, the oneDNN setting and the wall time to
benchmarks/results/emodb-loso-<arch>.md (and, with --readme, into the README between the
markers `<!-- emodb-loso-<arch> begin -->` and `<!-- emodb-loso-<arch> end -->`).
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent


def machine() -> str:
    """CPU model and cores, Python / TensorFlow / tf_keras / scikit-learn versions, oneDNN."""
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        cpu = names[0] if names else cpu
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("tensorflow", "tf-keras", "scikit-learn"))
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (TensorFlow's default: on)")
    return (f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, {versions}; "
            f"TF_ENABLE_ONEDNN_OPTS {onednn}")


def replace_block(path: Path, key: str, text: str) -> None:
    """Put `text` between the README markers of `key` (they must exist)."""
    begin, end = f"<!-- {key} begin -->", f"<!-- {key} end -->"
    content = path.read_text(encoding="utf-8")
    if begin not in content or end not in content:
        raise SystemExit(f"{path}: markers {begin} … {end} not found; add them where the table belongs")
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{text}{end}{tail}", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE.parent / "configs" / "emodb-convtransformer.yaml"))
    parser.add_argument("--placements", default="none,ffn2@8x1,all@8x1")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", default="runs/bench", help="runs folder (default runs/bench)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--readme", help="also write the table into this README between its markers")
    parser.add_argument("--block", help="README block and results file name (default emodb-loso-<arch>)")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: the table of the runs already finished under --runs")
    args = parser.parse_args()
    root = os.environ.get("SER_EMODB_DIR", "")
    if not root or not Path(root, "wav").is_dir():
        raise SystemExit("set SER_EMODB_DIR to the emodb-8spk folder (the one holding wav/)")

    from ser_reparam.config import load_config
    from ser_reparam.report import write_report
    from ser_reparam.sweep import parse_grid, run_sweep

    overrides = [f"data.root={root}", f"runs_dir={args.runs}", "data.folds=loso", *args.set]
    config = load_config(args.config, overrides)
    start = time.perf_counter()
    runs = [] if args.report_only else run_sweep(args.config, overrides, parse_grid([f"placements={args.placements}"]),
                                                 list(range(args.seeds)), workers=args.workers, threads=1)
    minutes = (time.perf_counter() - start) / 60
    report = write_report([config.base_dir])
    training = config.training
    recipe = (f"{config.data.window_s:g} s windows, batch {training.batch_size}, lr {config.learning_rate:g} "
              f"({training.schedule}, warmup {training.warmup_epochs:g} epochs), {training.epochs} epochs, "
              f"classifier dropout {config.model.cls_dropout:g}, classifier ReLU biases start at "
              f"{config.model.cls_bias:g}, label smoothing {training.label_smoothing:g}, "
              f"class weights {'on' if training.class_weights else 'off'}, mixup {training.mixup:g}, "
              f"SpecAugment {training.time_masks} time / {training.freq_masks} frequency masks, "
              f"gain ±{training.gain_db:g} dB; validation: {config.data.val}")
    text = (report["markdown"].split("\n", 2)[2]  # drop the title line
            + f"\n`python benchmarks/emodb_loso.py --config {Path(args.config).name} --placements {args.placements} "
              f"--seeds {args.seeds}{''.join(f' --set {o}' for o in args.set)}{f' --block {args.block}' if args.block else ''}"
              f"{' --report-only' if args.report_only else ''}` — {config.model.arch}, {recipe}. "
              + ("Table of the runs finished under the runs folder (the runs column says how many per row); "
                 if args.report_only else f"{len(runs)} training runs (finished ones reused), {minutes:.0f} min wall "
                 f"with {args.workers} workers × 1 thread; ")
              + f"trained on: {machine()}.\n")
    key = args.block or f"emodb-loso-{config.model.arch}"
    out = HERE / "results" / f"{key}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text, encoding="utf-8")
    if args.readme:
        replace_block(Path(args.readme), key, text)
    print(text)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
