"""Streaming vs whole window, int8 on TFLite Micro, on real speech: how often the labels agree,
over every clip of emodb-8spk (leave-one-speaker-out: each clip is a test clip once).

To run:  SER_EMODB_DIR=/path/to/emodb-8spk python benchmarks/streaming_agreement.py \
             [--config configs/emodb-convtransformer.yaml] [--placements none,ffn2@8x1] \
             [--runs runs/bench-stream] [--readme]

Every fold of every placement runs stages 01–05 and 07 with one seed (stages whose inputs are
unchanged are skipped; stage 07 always reruns, a few seconds a fold, so the counts come from this code).
Stage 07 streams each test clip through the int8 pieces A / B / C and compares the label with
the whole-window int8 model's (evaluate.agreement), both on the TFLite Micro interpreter. The
table sums its counts over the folds: clips, labels that differ, and how many of those differ at
an int8 tie (the two largest int8 logits equal in either model: argmax then takes the lower
class index, the model itself has no preference). UA of both deployments beside, with chance.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from readme import publish  # noqa: E402

HERE = Path(__file__).resolve().parent
PAIR = "tflm_int8 vs tflm_int8_streaming"


def fold_rows(config) -> list[dict]:
    """Stages 01–05 and 07 of every fold of `config`; each fold's stage 07 counts."""
    from ser_reparam.experiment import fold_configs
    from ser_reparam.layout import RunLayout
    from ser_reparam.pipeline import run_pipeline

    rows = []
    for run in fold_configs(config):
        run_pipeline(run, 1, 5, echo=lambda line: None)
        run_pipeline(run, 7, 7, force=True, echo=lambda line: None)
        report = json.loads(RunLayout(run).evaluation("json").read_text())
        pair, models = report["pairs"][PAIR], report["models"]
        rows.append({"fold": run.data.fold, "clips": report["test_examples"], "differ": pair["disagreements"],
                     "ties": pair["disagreements_at_ties"], "ua_whole": models["tflm_int8"]["ua"],
                     "ua_stream": models["tflm_int8_streaming"]["ua"]})
        print(f"{report['variant']} fold {run.data.fold}: {rows[-1]}", flush=True)
    return rows


def table(results: dict[str, list[dict]], classes: int) -> str:
    lines = ["| placement | folds | clips | labels differ | of them at an int8 tie | argmax agreement | "
             "agreement where neither model ties | UA whole window (mean over folds) | UA streaming | chance UA |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for placement, rows in results.items():
        clips, differ, ties = (sum(row[key] for row in rows) for key in ("clips", "differ", "ties"))
        mean = lambda key: sum(row[key] for row in rows) / len(rows)  # noqa: E731
        lines.append(f"| {placement} | {len(rows)} | {clips} | {differ} | {ties} | {1 - differ / clips:.2%} | "
                     f"{1 - (differ - ties) / clips:.2%} | {mean('ua_whole'):.3f} | {mean('ua_stream'):.3f} | "
                     f"{1 / classes:.3f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE.parent / "configs" / "emodb-convtransformer.yaml"))
    parser.add_argument("--placements", default="none,ffn2@8x1")
    parser.add_argument("--runs", default="runs/bench-stream", help="runs folder (default runs/bench-stream)")
    parser.add_argument("--readme", action="store_true", help="also write the README block streaming-agreement")
    args = parser.parse_args(argv)
    root = os.environ.get("SER_EMODB_DIR", "")
    if not root or not Path(root, "wav").is_dir():
        raise SystemExit("set SER_EMODB_DIR to the emodb-8spk folder (the one holding wav/)")

    from ser_reparam.config import load_config
    from ser_reparam.experiment import labels_for

    start, results, classes = time.perf_counter(), {}, 0
    for placement in args.placements.split(","):
        config = load_config(args.config, [f"data.root={root}", f"runs_dir={args.runs}", "data.folds=loso",
                                           "training.seeds=1", f"model.hrf={placement}"])
        classes = len(labels_for(config))
        results[placement] = fold_rows(config)
    minutes = (time.perf_counter() - start) / 60
    text = (table(results, classes) + f"\n\n{Path(args.config).name}, one seed per fold, "
            f"{config.data.window_s:g} s windows; {minutes:.0f} min wall (finished stages reused).")
    publish("streaming-agreement", text, ["--readme"] if args.readme else [],
            f"python benchmarks/streaming_agreement.py --placements {args.placements}")
    out = HERE / "results" / "streaming-agreement.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
