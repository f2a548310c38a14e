"""Stage 07 (evaluate): the deployed seed's test split through every runtime, side by side.

The same examples go through Keras (HRF and folded), LiteRT and the TFLite Micro interpreter;
the scoring itself lives in data/scoring.py, beside the features it scores.
"""
from __future__ import annotations

import json
import time

import numpy as np

from ser_reparam.config import ExperimentConfig
from ser_reparam.data.scoring import score, split_arrays
from ser_reparam.experiment import feature_store, labels_for
from ser_reparam.files import atomic_write_text
from ser_reparam.layout import RunLayout

# (name, kind, file): the Keras models of stages 03 / 04 and the TFLite files of stage 05
RUNNERS = (
    ("keras_hrf", "keras", "train"), ("keras_folded", "keras", "folded"),
    ("litert_float", "litert", "float.tflite"), ("litert_int8", "litert", "int8.tflite"),
    ("tflm_int8", "tflm", "int8.tflite"),
    ("litert_int16x8", "litert", "int16x8.tflite"), ("tflm_int16x8", "tflm", "int16x8.tflite"),
    ("litert_qat_int8", "litert", "qat_int8.tflite"), ("tflm_qat_int8", "tflm", "qat_int8.tflite"),
)
PAIRS = (("keras_hrf", "keras_folded"), ("keras_folded", "litert_float"), ("litert_float", "litert_int8"),
         ("litert_int8", "tflm_int8"), ("litert_float", "tflm_int8"), ("litert_float", "tflm_int16x8"),
         ("litert_float", "tflm_qat_int8"))
LATENCY_CLIPS = 50


def _timed_predict(runner, x: np.ndarray) -> tuple[np.ndarray, float]:
    """Logits of every example and the mean host milliseconds per clip (first LATENCY_CLIPS)."""
    start = time.perf_counter()
    head = np.stack([runner.predict_one(e) for e in x[:LATENCY_CLIPS]])
    per_clip = (time.perf_counter() - start) / len(head) * 1e3
    rest = [runner.predict_one(e) for e in x[LATENCY_CLIPS:]]
    return np.concatenate([head, np.stack(rest)]) if rest else head, per_clip


def evaluate_run(config: ExperimentConfig) -> dict:
    """Stage 07: the deployed seed's test split through Keras (HRF and folded), LiteRT (float,
    int8) and TFLite Micro (int8), plus int16x8 / QAT files when stage 05 made them: metrics,
    pairwise argmax agreement and max |logit difference|, bytes, measured TFLM arena and host
    latency. Writes reports/<variant>-evaluation.{md,json}."""
    import tf_keras as keras

    from ser_reparam.interpreters import LiteRTModel, TFLMModel, tflm_arena_bytes

    layout = RunLayout(config)
    seed, labels = layout.deployed_seed(), labels_for(config)
    x, y, ids = split_arrays(feature_store(config), "test", labels)
    results, logits = {}, {}
    for name, kind, source in RUNNERS:
        entry = {}
        if kind == "keras":
            path = layout.checkpoint(seed) if source == "train" else layout.folded_model(seed)
            logits[name] = keras.models.load_model(path).predict(x, batch_size=64, verbose=0)
        else:
            path = layout.quantized_dir / source
            if not path.exists():
                continue
            blob = path.read_bytes()
            entry["bytes"] = len(blob)
            if kind == "tflm":
                entry["arena_bytes"] = tflm_arena_bytes(blob)
                runner = TFLMModel(blob, arena_size=entry["arena_bytes"])
            else:
                runner = LiteRTModel(blob)
            logits[name], entry["ms_per_clip"] = _timed_predict(runner, x)
        results[name] = {**entry, **{k: v for k, v in score(logits[name], y, ids, len(labels)).items()}}
    pairs = {f"{a} vs {b}": {"argmax_agreement": float(np.mean(logits[a].argmax(1) == logits[b].argmax(1))),
                             "max_logit_diff": float(np.max(np.abs(logits[a] - logits[b])))}
             for a, b in PAIRS if a in logits and b in logits}
    report = {"experiment": config.name, "variant": layout.variant, "seed": seed, "labels": list(labels),
              "test_examples": int(len(x)), "models": results, "pairs": pairs}
    atomic_write_text(layout.evaluation("json"), json.dumps(report, indent=1) + "\n")
    atomic_write_text(layout.evaluation("md"), evaluation_markdown(report))
    return report


def evaluation_markdown(report: dict) -> str:
    lines = [f"### {report['variant']} (seed {report['seed']}, {report['test_examples']} test examples)", "",
             "| model | WA | UA | WF1 | MF1 | bytes | TFLM arena | ms / clip |", "|---|---|---|---|---|---|---|---|"]
    for name, m in report["models"].items():
        lines.append(f"| {name} | {m['wa']:.3f} | {m['ua']:.3f} | {m['wf1']:.3f} | {m['mf1']:.3f} | "
                     f"{m.get('bytes', '—')} | {m.get('arena_bytes', '—')} | "
                     f"{m['ms_per_clip']:.2f} |" if "ms_per_clip" in m else
                     f"| {name} | {m['wa']:.3f} | {m['ua']:.3f} | {m['wf1']:.3f} | {m['mf1']:.3f} | — | — | — |")
    lines += ["", "| pair | argmax agreement | max abs logit difference |", "|---|---|---|"]
    lines += [f"| {pair} | {p['argmax_agreement']:.4f} | {p['max_logit_diff']:.2e} |" for pair, p in report["pairs"].items()]
    return "\n".join(lines) + "\n"
