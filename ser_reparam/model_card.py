"""A model card per deployed variant and the confusion matrix of the deployed int8 model on TFLM.

Written by stage 07 from the run's own records — stage 07's evaluation (per-utterance confusion
matrices of every runner), baselines.json, fold.json, quantize.json, the run manifest and the
firmware manifests of stage 06 — so every number in the card is one the pipeline measured:
reports/<variant>-model-card.md and reports/<variant>-confusion-tflm.png.
"""
from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np

from firmware_export.bundle_record import record_path
from ser_reparam.config import DEMO_DATASET
from ser_reparam.files import atomic_write_bytes, atomic_write_text
from ser_reparam.layout import RunLayout

CARD_RUNNERS = (("keras_folded", "Keras (folded, float)"), ("litert_int8", "LiteRT int8"),
                ("tflm_int8", "TFLite Micro int8"), ("litert_qat_int8", "LiteRT QAT int8"),
                ("tflm_qat_int8", "TFLite Micro QAT int8"))
LIMITS = """\
- Acted emotion. Corpora such as EmoDB, IEMOCAP (partly scripted), RAVDESS and CREMA-D hold emotions
  performed by actors on request, in quiet rooms, with studio microphones. Everyday speech is subtler,
  mixed, noisier and recorded with other microphones; expect clearly lower accuracy there, and measure
  on recordings of the intended use before relying on the labels.
- Few speakers. A test split of a few held-out speakers measures one draw; results vary by speaker
  (see the leave-one-speaker-out cross-validation in docs/results-real-speech.md), and the training \
speakers' language,
  age and culture limit what the model has seen.
- Windows. The model sees fixed windows (length above); longer audio is classified per window and the
  logits averaged; a window without speech still gets a label.
- Not for decisions about people. Emotion labels from a small on-device model are suggestions for
  interaction design or research, not evidence about a person's state (health, hiring, security).
"""


def recalls(confusion: list[list[int]]) -> list[float | None]:
    """Per-class recall (row = true class); None for a class absent from the test split."""
    matrix = np.asarray(confusion, dtype=float)
    support = matrix.sum(axis=1)
    return [float(matrix[i, i] / support[i]) if support[i] else None for i in range(len(matrix))]


def confusion_png(confusion: list[list[int]], labels: list[str], title: str) -> bytes:
    """A confusion-matrix heat map (counts and row-normalized shading) as PNG bytes."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(confusion, dtype=float)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 1.2 + 0.6 * len(labels)
    figure, axes = plt.subplots(figsize=(size + 1.5, size))
    image = axes.imshow(rows, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(len(labels)):
        for j in range(len(labels)):
            axes.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center",
                      color="white" if rows[i, j] > 0.6 else "black", fontsize=9)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, label="fraction of the true class")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _metric_row(name: str, metrics: dict) -> str:
    recall = " | ".join("—" if r is None else f"{r:.2f}" for r in recalls(metrics["confusion"]))
    return (f"| {name} | {metrics['wa']:.3f} | {metrics['ua']:.3f} | {metrics['wf1']:.3f} | "
            f"{metrics['mf1']:.3f} | {recall} |")


def evaluate_with_card(config) -> dict:
    """Stage 07: evaluate_run, then the model card and confusion PNG from its report."""
    from ser_reparam.evaluate import evaluate_run

    report = evaluate_run(config)
    write_model_card(config, report)
    return report


def write_model_card(config, evaluation: dict) -> dict[str, Path]:
    """The card and the TFLM confusion PNG of the deployed file; returns their paths."""
    from ser_reparam.baseline import BASELINES, ensure_baselines
    from ser_reparam.data.manifest import read_manifest
    from ser_reparam.quantize import deployed_model_name

    layout = RunLayout(config)
    labels, models = evaluation["labels"], evaluation["models"]
    deployed = deployed_model_name(config)
    tflm = models.get(f"tflm_{deployed}")
    if tflm is None:
        return {}
    atomic_write_bytes(layout.confusion_png, confusion_png(
        tflm["confusion"], labels, f"{evaluation['variant']} {deployed}.tflite on TFLite Micro\n"
                                   f"({tflm['count']} test utterances, UA {tflm['ua']:.3f})"))
    fold = _json(layout.fold_record)
    quant = _json(layout.quantize_record)
    baselines = ensure_baselines(config)  # written by stage 03; recomputed only if its split changed
    seed_record = fold["seeds"][str(fold["deployed_seed"])]
    rows = read_manifest(layout.manifest)
    counts = collections.Counter((u.split, u.label) for u in rows)
    speakers = {split: len({u.speaker for u in rows if u.split == split})
                for split in sorted({u.split for u in rows})}

    lines = [f"# Model card: {evaluation['variant']} ({config.name})", "",
             f"Written by ser-reparam stage 07 from this run's records. Deployed file: "
             f"`quantized/{deployed}.tflite` (seed {fold['deployed_seed']}, chosen by "
             f"{fold['selected_by']}).", ""]
    if config.data.dataset == DEMO_DATASET:
        lines += ["**SYNTHETIC demo data**: the numbers below show that the pipeline works, not how well "
                  "emotions are recognized.", ""]
    lines += ["## Model", "",
              f"- Architecture: {config.model.arch}, preset {config.model.preset}, HRF "
              f"{config.model.hrf or 'none'} "
              "(folded away before deployment: the deployed graph is the plain model)",
              f"- Parameters: {seed_record['params_before']:,} trained → {seed_record['params_after']:,} "
              f"deployed; MACs per window {seed_record['macs_after']:,}",
              f"- Input: {config.data.window_seconds:g} s windows, {config.frontend.num_features} features "
              f"per {config.frontend.frame_step_ms:g} ms frame ({config.frontend.num_filters} log-Mel "
              "energies, deltas, delta-deltas), normalized with training-split statistics",
              f"- Output: {len(labels)} classes: {', '.join(labels)}", ""]
    deployed_entry = quant["models"][deployed]
    q = _quantization(layout.tflite(deployed))
    lines += ["## Quantization and size", "",
              f"- {deployed}: full-integer int8 "
              f"({'quantization-aware fine-tuning' if deployed == 'qat_int8' else 'post-training'}), "
              "per-channel convolution weights, dense weights per "
              f"{'channel' if quant['per_channel_dense'] else 'tensor'}, {quant['representative_examples']} "
              "calibration examples from the training split",
              f"- Input int8 scale {q['input']['scale']:.6g}, zero point {q['input']['zero_point']}; "
              f"output int8 scale {q['output']['scale']:.6g}, zero point {q['output']['zero_point']}",
              f"- File: {deployed_entry['bytes']:,} bytes (with its metadata); TFLite Micro tensor arena "
              f"{tflm['arena_bytes']:,} bytes (measured)", f"- Operators: {', '.join(deployed_entry['ops'])}",
              ""]
    lines += ["## Data and split", "",
              f"- Dataset: {config.data.dataset}; validation: {config.data.val}; "
              f"{'speaker fold ' + str(config.data.cv_fold) + ' of ' + str(config.data.cv_folds) if config.data.cv_fold is not None else 'the protocol split'}",  # noqa: E501
              "", "| split | speakers | " + " | ".join(labels) + " | total |",
              "|---|---|" + "---|" * (len(labels) + 1)]
    for split, n in speakers.items():
        per = [counts[(split, label)] for label in labels]
        lines.append(f"| {split} | {n} | " + " | ".join(map(str, per)) + f" | {sum(per)} |")
    lines += ["", "## Test metrics (per utterance)", "",
              f"{evaluation['test_examples']} test windows, {tflm['count']} utterances. Recall per class in "
              "the last columns; baselines and chance on the same split.", "",
              "| model | WA | UA | WF1 | MF1 | " + " | ".join(f"recall {label}" for label in labels) + " |",
              "|---|---|---|---|---|" + "---|" * len(labels)]
    lines += [_metric_row(title, models[name]) for name, title in CARD_RUNNERS if name in models]
    for name, metrics in baselines["models"].items():
        lines.append(_metric_row(BASELINES[name], metrics))
    lines += ["", f"![confusion matrix of the deployed model on TFLite Micro]({layout.confusion_png.name})",
              ""]
    lines += ["## Boards", ""] + _board_lines(config) + ["", "## Limits", "", LIMITS]
    atomic_write_text(layout.model_card, "\n".join(lines))
    return {"card": layout.model_card, "confusion": layout.confusion_png}


def _quantization(path: Path) -> dict:
    from ser_reparam.tflite.metadata import read_metadata

    return read_metadata(path.read_bytes(), str(path))["quantization"]


def _board_lines(config) -> list[str]:
    """Stage 06's verdict per board (stage 07 may run before it: then it says so)."""
    lines = []
    for board in config.export.boards:
        manifest = _json(record_path(RunLayout(config).firmware_dir(board)))
        lines.append(f"- {board}: " + (f"{manifest['board_name']}: {manifest['verdict']}" if manifest
                                       else "not exported yet (stage 06: ser-reparam export)"))
    return lines or ["- no boards configured (export.boards)"]
