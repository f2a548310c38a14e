"""Which training recipe learns on real speech: the recipe ablation behind configs/emodb-*.yaml.

To run:  SER_EMODB_DIR=/path/to/emodb-8spk python benchmarks/emodb_recipe.py [--seeds 1] [--workers 2]
             [--runs runs/bench] [--folds K,K] [--block emodb-recipe|emodb-init|emodb-norm|emodb-augment]
             [--only NAME,NAME]
             [--docs [PAGE]]

The ConvTransformer, leave-one-speaker-out on emodb-8spk, once per recipe below (each a set of
overrides of configs/emodb-convtransformer.yaml and an HRF placement; the config as it is runs
under its own name, so benchmarks/emodb_loso.py reuses those runs). --block picks the table:
emodb-recipe (the training recipe), emodb-init (the classifier's initial bias, with HRF) or emodb-norm
(the pooled-vector norm and the learning rate, on all@8x1) or emodb-augment (class weights,
mixup, SpecAugment + gain, label smoothing on the shipped config). Table: UA / WA mean ± std over
folds × seeds, how many runs collapsed, the mean final training loss; the baselines and chance of the same
folds. Written to benchmarks/results/<block>.md (and with --docs into the block of that name in
its docs page: benchmarks/readme.py).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from readme import TRAINING_PACKAGES, docs_option, machine, write_block  # noqa: E402

CONFIG = HERE.parent / "configs" / "emodb-convtransformer.yaml"
# name → (what it is, overrides of the shipped config[, HRF placement: default none])
PAPER_SCHEDULE = ["training.schedule=plateau", "training.learning_rate=0.001"]
ZERO_BIAS = ["model.cls_bias=0"]
# the shipped settings these recipes were measured against, before the pooled-vector norm and 1e-3
BEFORE_NORM = ["training.learning_rate=0.003", "model.pool_norm=false"]
RECIPES = {  # the training recipe, measured with the classifier's ReLU biases at 0 (before emodb-init)
    "before": ("the defaults before: classifier dropout 0.5, batch 32, paper schedule (halve 1e-3 "
               "on plateaus)",
               ["model.cls_dropout=0.5", "training.batch_size=32", *BEFORE_NORM, *PAPER_SCHEDULE,
                *ZERO_BIAS]),
    "dropout0-batch32": ("classifier dropout 0, batch 32, paper schedule",
                         ["training.batch_size=32", *BEFORE_NORM, *PAPER_SCHEDULE, *ZERO_BIAS]),
    "batch8-plateau": ("classifier dropout 0, batch 8, paper schedule",
                       [*BEFORE_NORM, *PAPER_SCHEDULE, *ZERO_BIAS]),
    "shipped": ("**shipped** then: classifier dropout 0, batch 8, cosine from 3e-3",
                [*BEFORE_NORM, *ZERO_BIAS]),
    # small-data SER practice on top of the shipped config (pooled-vector norm, cosine from 1e-3)
    "shipped-now": ("Lightweight, **shipped** (configs/emodb-convtransformer.yaml as it is)", []),
    "class-weights": ("shipped + class-weighted loss", ["training.class_weights=true"]),
    "mixup": ("shipped + mixup α 0.2", ["training.mixup=0.2"]),
    "specaugment-gain": ("shipped + SpecAugment 2 time / 2 frequency masks + gain ±6 dB",
                         ["training.time_masks=2", "training.freq_masks=2", "training.gain_db=6"]),
    "label-smoothing": ("shipped + label smoothing 0.1", ["training.label_smoothing=0.1"]),
    # the classifier's initial ReLU bias: 0 before, 0.5 shipped (cosine from 3e-3, no pooled-vector norm)
    "zero-bias": ("Lightweight, classifier ReLU biases start at 0 (before)", [*BEFORE_NORM, *ZERO_BIAS]),
    "bias-0.1": ("Lightweight, start at 0.1", [*BEFORE_NORM, "model.cls_bias=0.1"]),
    "bias": ("Lightweight, **shipped** then: start at 0.5", BEFORE_NORM),
    "ffn2-zero-bias": ("FFN2 @8x1, classifier ReLU biases start at 0 (before)", [*BEFORE_NORM, *ZERO_BIAS],
                       "ffn2@8x1"),
    "ffn2-bias": ("FFN2 @8x1, **shipped** then: start at 0.5", BEFORE_NORM, "ffn2@8x1"),
    "all-zero-bias": ("ALL @8x1, classifier ReLU biases start at 0 (before)", [*BEFORE_NORM, *ZERO_BIAS],
                      "all@8x1"),
    "all-bias": ("ALL @8x1, start at 0.5, cosine from 3e-3 (shipped before the norm)", BEFORE_NORM,
                 "all@8x1"),
    "all-bias-lr1e-3": ("ALL @8x1, start at 0.5, cosine from 1e-3", ["model.pool_norm=false"], "all@8x1"),
    # the time average batch-normalized inside cls1 (model.pool_norm, folded at deHRF) and the paper's 1e-3
    "all-pool-norm": ("ALL @8x1, pooled-vector norm, cosine from 3e-3", ["training.learning_rate=0.003"],
                      "all@8x1"),
    "all-pool-norm-lr1e-3": ("ALL @8x1, **shipped**: pooled-vector norm, cosine from 1e-3", [], "all@8x1"),
}
# block → the recipes of its table (the default of --only)
TABLES = {"emodb-recipe": ["before", "dropout0-batch32", "batch8-plateau", "shipped"],
          "emodb-init": ["zero-bias", "bias-0.1", "bias", "ffn2-zero-bias", "ffn2-bias", "all-zero-bias",
                         "all-bias", "all-bias-lr1e-3"],
          "emodb-norm": ["all-bias", "all-bias-lr1e-3", "all-pool-norm", "all-pool-norm-lr1e-3"],
          "emodb-augment": ["shipped-now", "class-weights", "mixup", "specaugment-gain", "label-smoothing"]}
# tables whose rows are also compared with their first row run by run (same fold and seed)
PAIRED = {"emodb-augment"}


def paired(runs: list[dict], reference: list[dict]) -> str:
    """Mean UA difference to the reference row over the (fold, seed) runs both have, and how many
    of them improved: the folds differ far more than the recipes, so a pairwise look is fairer."""
    ua = {(m["cv_fold"], m["seed"]): m["test"]["ua"] for m in reference}
    diffs = [m["test"]["ua"] - ua[(m["cv_fold"], m["seed"])] for m in runs if (m["cv_fold"], m["seed"]) in ua]
    return f"{np.mean(diffs):+.3f} ({sum(d > 0 for d in diffs)} of {len(diffs)} better)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", default="runs/bench")
    parser.add_argument("--only", help="comma-separated recipe names (default: all)")
    parser.add_argument("--folds", help="comma-separated fold numbers (default: all 8)")
    docs_option(parser)
    parser.add_argument("--block", default="emodb-recipe", choices=sorted(TABLES),
                        help="the table: docs block and benchmarks/results/<block>.md (default emodb-recipe)")
    args = parser.parse_args()
    root = os.environ.get("SER_EMODB_DIR", "")
    if not root or not Path(root, "wav").is_dir():
        raise SystemExit("set SER_EMODB_DIR to the emodb-8spk folder (the one holding wav/)")

    from ser_reparam.config import load_config
    from ser_reparam.layout import variant_name
    from ser_reparam.report import aggregate, collect, collect_baselines
    from ser_reparam.sweep import parse_grid, run_sweep

    names = args.only.split(",") if args.only else TABLES[args.block]
    folds = [int(k) for k in args.folds.split(",")] if args.folds else []
    unknown = sorted(set(names) - set(RECIPES))
    if unknown:
        raise SystemExit(f"unknown recipe(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    pairs = args.block in PAIRED
    lines = ["| recipe (ConvTransformer) | UA | WA | collapsed runs | final training loss |"
             + (" ΔUA vs first row, same runs |" if pairs else ""),
             "|---|---|---|---|---|" + ("---|" if pairs else "")]
    reference = None
    start, baselines = time.perf_counter(), None
    for name in names:
        text, extra, placement = (*RECIPES[name], "none")[:3]
        # the shipped config's runs are the ones benchmarks/emodb_loso.py reuses
        experiment = "emodb-convtransformer" if not extra else f"emodb-recipe-{name}"
        overrides = [f"data.root={root}", f"runs_dir={args.runs}", f"name={experiment}", *extra]
        for fold in folds or [None]:
            run_sweep(str(CONFIG), overrides + ([] if fold is None else [f"data.cv_fold={fold}"]),
                      parse_grid([f"placements={placement}"]), list(range(args.seeds)), workers=args.workers,
                      threads=1)
        base = load_config(CONFIG, overrides).base_dir
        variant = variant_name(load_config(CONFIG, overrides
                                           + ([] if placement == "none" else [f"model.hrf={placement}"])))
        runs = [m for m in collect([base])[variant]
                if m["seed"] < args.seeds and (not folds or m["cv_fold"] in folds)]
        row = aggregate({variant: runs})[0]
        loss = np.mean([m["history"][-1]["loss"] for m in runs])
        lines.append(f"| {text} | {row['ua']['mean']:.3f} ± {row['ua']['std']:.3f} | "
                     f"{row['wa']['mean']:.3f} ± {row['wa']['std']:.3f} | {row['collapsed']}/{row['runs']} | "
                     f"{loss:.2f} |"
                     + (f" {paired(runs, reference) if reference else '—'} |" if pairs else ""))
        reference = reference or runs
        baselines = baselines or {name: [m for m in found if not folds or m["cv_fold"] in folds]
                                  for name, found in collect_baselines([base]).items()}
    for row in aggregate({}, baselines):
        lines.append(f"| {row['name']} | {row['ua']['mean']:.3f} ± {row['ua']['std']:.3f} | "
                     f"{row['wa']['mean']:.3f} ± {row['wa']['std']:.3f} | — | — |"
                     + (" — |" if pairs else ""))
    config = load_config(CONFIG)
    minutes = (time.perf_counter() - start) / 60
    command = " ".join([f"--seeds {args.seeds}"] + [f"--{key} {value}" for key, value in
                        (("folds", args.folds), ("only", args.only), ("block", args.block))
                                                    if value and value != "emodb-recipe"])
    text = ("\n".join(lines) + f"\n\n`python benchmarks/emodb_recipe.py {command}` — emodb-8spk, leave one "
            f"speaker out ({f'folds {args.folds}' if folds else '8 folds'}) × {args.seeds} seed(s), "
            f"{config.training.epochs} epochs, mean ± std over the runs; {minutes:.0f} min wall (finished "
            f"runs are reused) with {args.workers} workers × 1 thread on: {machine(TRAINING_PACKAGES)}.\n")
    out = HERE / "results" / f"{args.block}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
    print(f"written: {out}")
    page = write_block(args.block, text, sys.argv[1:])
    if page:
        print(f"written: {page} (block {args.block})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
