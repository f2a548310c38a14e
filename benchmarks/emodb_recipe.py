"""Which training recipe learns on real speech: the recipe ablation behind configs/emodb-*.yaml.

To run:  SER_EMODB_DIR=/path/to/emodb-8spk python benchmarks/emodb_recipe.py [--seeds 1] [--workers 2]
             [--runs runs/bench] [--only NAME,NAME] [--readme README.md]

The lightweight ConvTransformer, leave-one-speaker-out on emodb-8spk, once per recipe below
(each a set of overrides of configs/emodb-convtransformer.yaml; "shipped" is the config as it
is, so benchmarks/emodb_loso.py reuses its runs). Table: UA / WA mean ± std over folds × seeds,
how many runs collapsed, the mean final training loss; the baselines and chance of the same
folds. Written to benchmarks/results/emodb-recipe.md (and with --readme between the README
markers `<!-- emodb-recipe begin -->` … `<!-- emodb-recipe end -->`).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from emodb_loso import HERE, machine, replace_block  # noqa: E402

CONFIG = HERE.parent / "configs" / "emodb-convtransformer.yaml"
# name → (what it is, overrides of the shipped config)
PAPER_SCHEDULE = ["training.schedule=plateau", "training.learning_rate=0.001"]
RECIPES = {
    "before": ("the defaults before: classifier dropout 0.5, batch 32, paper schedule (halve 1e-3 on plateaus)",
               ["model.cls_dropout=0.5", "training.batch_size=32", *PAPER_SCHEDULE]),
    "dropout0-batch32": ("classifier dropout 0, batch 32, paper schedule", ["training.batch_size=32", *PAPER_SCHEDULE]),
    "batch8-plateau": ("classifier dropout 0, batch 8, paper schedule", PAPER_SCHEDULE),
    "shipped": ("**shipped**: classifier dropout 0, batch 8, cosine from 3e-3", []),
    "class-weights": ("shipped + class-weighted loss", ["training.class_weights=true"]),
    "mixup": ("shipped + mixup α 0.2", ["training.mixup=0.2"]),
    "specaugment-gain": ("shipped + SpecAugment 2 time / 2 frequency masks + gain ±6 dB",
                         ["training.time_masks=2", "training.freq_masks=2", "training.gain_db=6"]),
    "label-smoothing": ("shipped + label smoothing 0.1", ["training.label_smoothing=0.1"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", default="runs/bench")
    parser.add_argument("--only", help="comma-separated recipe names (default: all)")
    parser.add_argument("--folds", help="comma-separated fold numbers (default: all 8)")
    parser.add_argument("--readme")
    args = parser.parse_args()
    root = os.environ.get("SER_EMODB_DIR", "")
    if not root or not Path(root, "wav").is_dir():
        raise SystemExit("set SER_EMODB_DIR to the emodb-8spk folder (the one holding wav/)")

    from ser_reparam.config import load_config
    from ser_reparam.report import aggregate, collect, collect_baselines
    from ser_reparam.sweep import parse_grid, run_sweep

    names = args.only.split(",") if args.only else list(RECIPES)
    folds = [int(k) for k in args.folds.split(",")] if args.folds else []
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        raise SystemExit(f"unknown recipe(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    lines = ["| recipe (lightweight ConvTransformer) | UA | WA | collapsed runs | final training loss |",
             "|---|---|---|---|---|"]
    start, baselines = time.perf_counter(), None
    for name in names:
        text, extra = RECIPES[name]
        experiment = "emodb-convtransformer" if name == "shipped" else f"emodb-recipe-{name}"
        overrides = [f"data.root={root}", f"runs_dir={args.runs}", f"name={experiment}", *extra]
        for fold in folds or [None]:
            run_sweep(str(CONFIG), overrides + ([] if fold is None else [f"data.fold={fold}"]),
                      parse_grid(["placements=none"]), list(range(args.seeds)), workers=args.workers, threads=1)
        base = load_config(CONFIG, overrides).base_dir
        found = collect([base])
        runs = [m for m in found["convtransformer-lightweight-none"]
                if m["seed"] < args.seeds and (not folds or m["fold"] in folds)]
        row = aggregate({"convtransformer-lightweight-none": runs})[0]
        loss = np.mean([m["history"][-1]["loss"] for m in runs])
        lines.append(f"| {text} | {row['ua']['mean']:.3f} ± {row['ua']['std']:.3f} | "
                     f"{row['wa']['mean']:.3f} ± {row['wa']['std']:.3f} | {row['collapsed']}/{row['runs']} | {loss:.2f} |")
        baselines = baselines or {name: [m for m in found if not folds or m["fold"] in folds]
                                  for name, found in collect_baselines([base]).items()}
    for row in aggregate({}, baselines):
        lines.append(f"| {row['name']} | {row['ua']['mean']:.3f} ± {row['ua']['std']:.3f} | "
                     f"{row['wa']['mean']:.3f} ± {row['wa']['std']:.3f} | — | — |")
    config = load_config(CONFIG)
    minutes = (time.perf_counter() - start) / 60
    text = ("\n".join(lines) + f"\n\n`python benchmarks/emodb_recipe.py --seeds {args.seeds}` — emodb-8spk, leave one "
            f"speaker out ({f'folds {args.folds}' if folds else '8 folds'}) × {args.seeds} seed(s), {config.training.epochs} epochs, mean ± std over the runs; "
            f"{minutes:.0f} min wall (finished runs are reused) with {args.workers} workers × 1 thread on: {machine()}.\n")
    out = HERE / "results" / "emodb-recipe.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text, encoding="utf-8")
    if args.readme:
        replace_block(Path(args.readme), "emodb-recipe", text)
    print(text)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
