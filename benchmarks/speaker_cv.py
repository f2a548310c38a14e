"""Real speech, speaker-independent: recipe arms × placements × folds × seeds, paired, with baselines.

To run:  SER_EMODB_DIR=/path/to/emodb-8spk SER_RAVDESS_DIR=/path/to/ravdess-20spk \
         python benchmarks/speaker_cv.py --corpus emodb|ravdess [--arch convtransformer]
             [--placements none,ffn2@8x1] [--arm "NAME|PLACEMENTS|KEY=VALUE,KEY=VALUE" …] [--seeds 3]
             [--folds 0,1] [--workers 2] [--runs runs/bench] [--block NAME] [--report-only]
             [--against ARM[:PLACEMENT]]

The corpus's shipped config (configs/<corpus>-<arch>.yaml: emodb leave one speaker out, 8
folds; ravdess 5 folds of 4 actors) is trained for every arm (a named set of overrides; the
arm "shipped" has none and is always first) × placement × fold × seed with `ser-reparam
sweep` (finished runs are reused, so it resumes); an arm trains its own PLACEMENTS, or --placements
when that part is empty. Each arm is its own experiment folder
<corpus>-<arch>-<arm>, so the report pairs every row with the shipped Lightweight row on the
same fold and seed, beside the classic baselines (78-feature statistics and eGeMAPS, logistic
regression and linear SVM) and chance. The table, the command, the machine and the wall time
go to benchmarks/results/<block>.md (default <corpus>-cv-<arch>). An arm's values may name
environment variables ($SER_RAVDESS_DIR): they are expanded when the arm runs and kept as written in
the published command.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from readme import TRAINING_PACKAGES, docs_option, machine, write_block  # noqa: E402

CORPORA = {"emodb": ("SER_EMODB_DIR", "wav"), "ravdess": ("SER_RAVDESS_DIR", "Actor_01")}


def parse_arm(text: str, placements: str) -> tuple[str, str, list[str]]:
    """'NAME|PLACEMENTS|KEY=VALUE,…' → (name, placements, overrides)."""
    parts = text.split("|")
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise SystemExit(f"--arm {text!r}: write NAME|PLACEMENTS|KEY=VALUE[,KEY=VALUE …] (PLACEMENTS "
                         "may be empty)")
    return parts[0], parts[1] or placements, re.split(r",(?=[\w.]+=)", parts[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=sorted(CORPORA), required=True)
    parser.add_argument("--arch", default="convtransformer")
    parser.add_argument("--placements", default="none")
    parser.add_argument("--arm", action="append", default=[], metavar="NAME|PLACEMENTS|KEY=VALUE,…")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folds", help="only these folds (e.g. 0,1; default every fold)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", default="runs/bench", help="runs folder (default runs/bench)")
    parser.add_argument("--block", help="results file name (default <corpus>-cv-<arch>)")
    parser.add_argument("--report-only", action="store_true", help="train nothing: report the finished runs")
    parser.add_argument("--against", default="shipped", metavar="ARM[:PLACEMENT]",
                        help="the row the paired column compares with: an arm's Lightweight row, or its "
                             "PLACEMENT row, e.g. stats-pool:all@8x1 (default shipped)")
    docs_option(parser)
    args = parser.parse_args()
    variable, marker = CORPORA[args.corpus]
    root = os.environ.get(variable, "")
    if not root or not Path(root, marker).exists():
        raise SystemExit(f"set {variable} to the {args.corpus} corpus folder (the one holding {marker})")

    from ser_reparam.config import load_config
    from ser_reparam.models.placement import Placement
    from ser_reparam.report import write_report
    from ser_reparam.sweep import parse_grid, run_sweep

    config_path = HERE.parent / "configs" / f"{args.corpus}-{args.arch}.yaml"
    arms = [("shipped", args.placements, []), *(parse_arm(arm, args.placements) for arm in args.arm)]
    folds = [None] if args.folds is None else [int(k) for k in args.folds.split(",")]
    start, trained, run_dirs = time.perf_counter(), 0, []
    for arm, placements, overrides in arms:
        overrides = [f"data.root={root}", f"runs_dir={args.runs}", f"name={args.corpus}-{args.arch}-{arm}",
                     *map(os.path.expandvars, overrides)]
        config = load_config(str(config_path), overrides)
        run_dirs.append(config.base_dir)
        for fold in folds if not args.report_only else []:
            fold_overrides = overrides + ([f"data.cv_fold={fold}"] if fold is not None else [])
            trained += len(run_sweep(str(config_path), fold_overrides,
                                     parse_grid([f"placements={placements}"]),
                                     list(range(args.seeds)), workers=args.workers, threads=1))
    minutes = (time.perf_counter() - start) / 60
    against_arm, _, against_placement = args.against.partition(":")
    against = (f"{args.corpus}-{args.arch}-{against_arm}/{args.arch}-lightweight-"
               f"{Placement.parse(against_placement or 'none', args.arch).spec}" if len(arms) > 1 else None)
    report = write_report(run_dirs,
                          HERE / "results" / "reports" / (args.block or f"{args.corpus}-cv-{args.arch}"),
                          against=against)
    command = (f"python benchmarks/speaker_cv.py --corpus {args.corpus} --arch {args.arch} "
               f"--placements {args.placements}{''.join(f' --arm {chr(34)}{a}{chr(34)}' for a in args.arm)} "
               f"--seeds {args.seeds}"
               + (f" --folds {args.folds}" if args.folds else "")
               + (f" --against {args.against}" if args.against != "shipped" else "")
               + (" --report-only" if args.report_only else ""))
    arms_text = "; ".join(f"{name} ({placements}): "
                          f"{', '.join(o) or 'configs/' + config_path.name + ' as shipped'}"
                          for name, placements, o in arms)
    text = (report["markdown"].split("\n", 2)[2] + f"\nArms — {arms_text}.\n\n`{command}` — "
            + ("table of the finished runs; " if args.report_only else
               f"{trained} training runs (finished ones reused), {minutes:.0f} min wall with {args.workers} "
               "workers × 1 thread; ")
            + f"trained on: {machine(TRAINING_PACKAGES)}.\n")
    out = HERE / "results" / f"{args.block or f'{args.corpus}-cv-{args.arch}'}.md"
    out.write_text(text, encoding="utf-8")
    write_block(args.block or f"{args.corpus}-cv-{args.arch}", text, sys.argv[1:])
    print(text)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
