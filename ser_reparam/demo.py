"""`ser-reparam demo`: the whole product on the built-in SYNTHETIC corpus, in one command.

Stages 01–07 of `configs/demo.yaml` for the lightweight ConvTransformer and its HRF twin
(ffn2@8x1), firmware for the config's boards (ESP32-S3, STM32F4), then one table comparing
them: accuracy on Keras / int8 LiteRT / int8 TFLite Micro, parameters, bytes, arena, fit; and
the whole-window and streaming deployments side by side.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from firmware_export.bundle_record import read_record
from ser_reparam.config import ExperimentConfig, load_config
from ser_reparam.evaluate import DEPLOYMENT_HEADER, STREAMING_RUNNERS, deployment_rows
from ser_reparam.files import atomic_write_text
from ser_reparam.layout import RunLayout

DEMO_CONFIG = Path(__file__).parent / "configs" / "demo.yaml"
VARIANTS = ("none", "ffn2@8x1")  # lightweight, and HRF on the second FFN layer (ratio 8, depth 1)
RUNNERS = (("keras_folded", "Keras"), ("litert_int8", "int8 LiteRT"), ("tflm_int8", "int8 TFLM"))


def demo_configs(out: str | Path, overrides: list[str] | tuple = ()) -> list[ExperimentConfig]:
    """The demo's config for each variant, its run folder under `out`."""
    out = Path(out)
    base = [f"runs_dir={out}", f"data.root={out / 'demo-corpus'}", *overrides]
    return [load_config(DEMO_CONFIG, [*base, f"model.hrf={hrf}"]) for hrf in VARIANTS]


def variant_summary(config: ExperimentConfig) -> dict:
    """One row of the demo table, read from the stage 04 / 06 / 07 artifacts."""
    layout = RunLayout(config)
    evaluation = json.loads(layout.evaluation("json").read_text())
    fold = json.loads(layout.fold_record.read_text())
    boards = {}
    for board in config.export.boards:
        manifest = read_record(layout.firmware_dir(board))
        ram = manifest["budget"]["ram"]
        boards[manifest["board"]] = {"fits": manifest["fits"], "ram_used": ram["used_bytes"],
                                          "ram_budget": ram["budget_bytes"]}
    seed = fold["deployed_seed"]
    models = evaluation["models"]
    return {"variant": layout.variant, "seed": seed, "params": fold["seeds"][str(seed)]["params_after"],
            "train_params": fold["seeds"][str(seed)]["params_before"],
            "metrics": {label: {k: models[name][k] for k in ("ua", "wf1")} for name, label in RUNNERS},
            "agreement": evaluation["pairs"]["litert_int8 vs tflm_int8"]["argmax_agreement"],
            "test_examples": evaluation["test_examples"],
            "model_bytes": models["tflm_int8"]["bytes"], "arena_bytes": models["tflm_int8"]["arena_bytes"],
            "boards": boards,
            "side_by_side": {"models": {name: models[name] for name in STREAMING_RUNNERS if name in models},
                             "pairs": {name: pair for name, pair in evaluation["pairs"].items()
                                       if "streaming" in name},
                             "deployments": evaluation["deployments"],
                             "test_examples": evaluation["test_examples"]}}


def summary_markdown(rows: list[dict], baselines: dict | None = None, reports: str | None = None) -> str:
    """The demo table; `baselines` (baselines.json of the run) adds the classic baselines and
    chance, scored on the same test split, in the first metric column. Model cards and confusion
    matrices are linked beside the summary (reports/), or named as paths under `reports` for a
    table that lives elsewhere (docs/results-demo.md)."""
    boards = list(rows[0]["boards"])
    header = ["variant", "params (trained → deployed)", *(f"UA / WF1 {label}" for _, label in RUNNERS),
              "int8 argmax agreement LiteRT vs TFLM", "int8 bytes", "TFLM arena bytes (measured)",
              *(f"fits {board}" for board in boards)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["variant"], f"{row['train_params']:,} → {row['params']:,}",
                 *(f"{m['ua']:.3f} / {m['wf1']:.3f}" for m in row["metrics"].values()),
                 f"{row['agreement']:.2%} of {row['test_examples']}", f"{row['model_bytes']:,}",
                 f"{row['arena_bytes']:,}",
                 *(f"{'yes' if b['fits'] else 'NO'} (RAM {b['ram_used']:,} / {b['ram_budget']:,})"
                   for b in row["boards"].values())]
        lines.append("| " + " | ".join(cells) + " |")
    from ser_reparam.baseline import BASELINES

    for name, metrics in (baselines or {}).get("models", {}).items():
        cells = [BASELINES[name], f"{metrics['params']:,}" if metrics["params"] else "—",
                 f"{metrics['ua']:.3f} / {metrics['wf1']:.3f}", *["—"] * (len(header) - 3)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Whole window vs streaming, measured on each variant's int8 files (stage 07; model RAM "
              "without the front end):", "", "| variant | " + " | ".join(DEPLOYMENT_HEADER) + " |",
              "|" + "---|" * (len(DEPLOYMENT_HEADER) + 1)]
    lines += ["| " + " | ".join([row["variant"], *cells]) + " |"
              for row in rows for cells in deployment_rows(row["side_by_side"])]
    def ref(text: str, name: str) -> str:
        return f"[{text}]({name})" if reports is None else f"{text} `{reports}/{name}`"

    cards = "\n".join(
        f"- {row['variant']}: {ref('model card', row['variant'] + '-model-card.md')}, "
        f"{ref('confusion matrix of int8 on TFLite Micro', row['variant'] + '-confusion-tflm.png')}"
        for row in rows)
    return ("SYNTHETIC demo data: the numbers show the pipeline works, not how well emotions are "
            "recognized.\n\n"
            + "\n".join(lines) + "\n\n" + cards + "\n")


def run_demo(out: str | Path = "runs", overrides: list[str] | tuple = (),
             echo: Callable[[str], None] = print) -> dict:
    """Every stage for both variants (resuming what is done), then the table; also written to
    <out>/demo/reports/demo-summary.{md,json}."""
    from ser_reparam.pipeline import run_pipeline

    configs = demo_configs(out, overrides)
    for config in configs:
        run_pipeline(config, echo=echo)
    from ser_reparam.baseline import ensure_baselines

    rows = [variant_summary(config) for config in configs]
    markdown = summary_markdown(rows, ensure_baselines(configs[0]))
    reports = RunLayout(configs[0]).reports
    atomic_write_text(reports / "demo-summary.json", json.dumps(rows, indent=1) + "\n")
    atomic_write_text(reports / "demo-summary.md", markdown)
    echo(markdown)
    return {"rows": rows, "markdown": markdown, "run_dir": configs[0].run_dir}
