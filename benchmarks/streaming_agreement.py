"""Streaming vs whole window, int8 on TFLite Micro, on real speech: are the logits the same, and
the labels, over every clip of emodb-8spk (leave-one-speaker-out: each clip is a test clip once)?

To run:  SER_EMODB_DIR=/path/to/emodb-8spk python benchmarks/streaming_agreement.py \
             [--config configs/emodb-convtransformer.yaml] [--placements none,ffn2@8x1] \
             [--runs runs/bench-stream] [--docs]

Every fold of every placement runs stages 01–05 and 07 with one seed (stages 01–04 are skipped
when their inputs are unchanged; 05 and 07 always rerun, some seconds a fold, so that the files
and counts come from this code). Stage 07 streams each test clip through the int8 pieces A / B
/ C and compares the logits with the whole-window int8 file's (evaluate.agreement), both on the
TFLite Micro interpreter. The table sums the counts over the folds: clips, clips whose int8
logits are identical, labels that differ (and how many of them at an int8 tie: the two largest
logits of either model equal). UA of both deployments and of float beside, with the logistic
regression baseline and chance on the same folds.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from readme import docs_option, publish  # noqa: E402

HERE = Path(__file__).resolve().parent
PAIR = "tflm_int8 vs tflm_int8_streaming"


def fold_rows(config) -> list[dict]:
    """Stages 01–05 and 07 of every fold of `config`; each fold's stage 07 counts."""
    from ser_reparam.baseline import ensure_baselines
    from ser_reparam.experiment import fold_configs
    from ser_reparam.layout import RunLayout
    from ser_reparam.pipeline import run_pipeline

    rows = []
    for run in fold_configs(config):
        run_pipeline(run, 1, 4, echo=lambda line: None)
        for stage in (5, 7):
            run_pipeline(run, stage, stage, force=True, echo=lambda line: None)
        report = json.loads(RunLayout(run).evaluation("json").read_text())
        pair, models = report["pairs"][PAIR], report["models"]
        baselines = ensure_baselines(run)["models"]
        rows.append({"fold": run.data.cv_fold, "clips": report["test_examples"],
                     "identical": pair["identical"],
                     "differ": pair["disagreements"], "ties": pair["disagreements_at_ties"],
                     "ua_float": models["keras_folded"]["ua"], "ua_whole": models["tflm_int8"]["ua"],
                     "ua_stream": models["tflm_int8_streaming"]["ua"], "ua_logreg": baselines["logreg"]["ua"],
                     "ua_chance": baselines["chance"]["ua"]})
        print(f"{report['variant']} fold {run.data.cv_fold}: {rows[-1]}", flush=True)
    return rows


def table(results: dict[str, list[dict]]) -> str:
    lines = ["| placement | folds | clips | int8 logits identical | labels differ (at an int8 tie) | "
             "argmax agreement | UA float | UA int8 whole window | UA int8 streaming | UA logistic "
             "regression | UA chance |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for placement, rows in results.items():
        clips, identical, differ, ties = (sum(row[key] for row in rows)
                                          for key in ("clips", "identical", "differ", "ties"))
        mean = {key: sum(row[key] for row in rows) / len(rows)
                for key in ("ua_float", "ua_whole", "ua_stream", "ua_logreg", "ua_chance")}
        lines.append(f"| {placement} | {len(rows)} | {clips} | {identical} | {differ} ({ties}) | "
                     f"{1 - differ / clips:.2%} | {mean['ua_float']:.3f} | {mean['ua_whole']:.3f} | "
                     f"{mean['ua_stream']:.3f} | {mean['ua_logreg']:.3f} | {mean['ua_chance']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE.parent / "configs" / "emodb-convtransformer.yaml"))
    parser.add_argument("--placements", default="none,ffn2@8x1")
    parser.add_argument("--runs", default="runs/bench-stream", help="runs folder (default runs/bench-stream)")
    docs_option(parser)
    args = parser.parse_args(argv)
    root = os.environ.get("SER_EMODB_DIR", "")
    if not root or not Path(root, "wav").is_dir():
        raise SystemExit("set SER_EMODB_DIR to the emodb-8spk folder (the one holding wav/)")

    from ser_reparam.config import load_config

    start, results = time.perf_counter(), {}
    for placement in args.placements.split(","):
        config = load_config(args.config, [f"data.root={root}", f"runs_dir={args.runs}", "data.cv_folds=loso",
                                           "training.seeds=1", f"model.hrf={placement}"])
        results[placement] = fold_rows(config)
    minutes = (time.perf_counter() - start) / 60
    text = (table(results) + f"\n\n{Path(args.config).name}, one seed per fold, "
            f"{config.data.window_seconds:g} s windows, UA as the mean over folds; {minutes:.0f} min wall "
            "(stages 01–04 of finished folds reused).")
    publish("streaming-agreement", text, argv,
            f"python benchmarks/streaming_agreement.py --placements {args.placements}")
    out = HERE / "results" / "streaming-agreement.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
