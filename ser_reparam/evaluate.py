"""Stage 07 (evaluate): the deployed seed's test split through every runtime, side by side.

The same examples go through Keras (HRF and folded), LiteRT and the TFLite Micro interpreter;
the scoring itself lives in data/scoring.py, beside the features it scores.
"""
from __future__ import annotations

import json
import time
from types import SimpleNamespace

import numpy as np

from ser_reparam.config import ExperimentConfig
from ser_reparam.data.scoring import score, split_arrays
from ser_reparam.experiment import feature_store, labels_for
from ser_reparam.files import atomic_write_text
from ser_reparam.layout import RunLayout
from ser_reparam.models import load_model
from ser_reparam.tflite.metadata import strip_metadata

# (name, kind, source): the Keras models of stages 03 / 04 and the TFLite files of stage 05 (by mode)
RUNNERS = (
    ("keras_hrf", "keras", "train"), ("keras_folded", "keras", "folded"),
    ("litert_float", "litert", "float"), ("litert_int8", "litert", "int8"),
    ("tflm_int8", "tflm", "int8"),
    ("litert_int16x8", "litert", "int16x8"), ("tflm_int16x8", "tflm", "int16x8"),
    ("litert_qat_int8", "litert", "qat_int8"), ("tflm_qat_int8", "tflm", "qat_int8"),
)
PAIRS = (("keras_hrf", "keras_folded"), ("keras_folded", "litert_float"), ("litert_float", "litert_int8"),
         ("litert_int8", "tflm_int8"), ("litert_float", "tflm_int8"), ("litert_float", "tflm_int16x8"),
         ("litert_float", "tflm_qat_int8"), ("tflm_int8", "tflm_int8_streaming"),
         ("litert_int8", "litert_int8_streaming"), ("tflm_int8_streaming", "litert_int8_streaming"))
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
    latency; the whole-window and streaming deployments side by side (compare_deployments).
    Writes reports/<variant>-evaluation.{md,json}."""
    from ser_reparam.tflite.interpreters import LiteRTModel, TFLMModel, tflm_arena_bytes

    layout = RunLayout(config)
    seed, labels = layout.deployed_seed(), labels_for(config)
    x, y, ids = split_arrays(feature_store(config), "test", labels)
    results, logits = {}, {}
    for name, kind, source in RUNNERS:
        entry = {}
        if kind == "keras":
            path = layout.checkpoint(seed) if source == "train" else layout.folded_model(seed)
            logits[name] = load_model(path).predict(x, batch_size=64, verbose=0)
        else:
            path = layout.tflite(source)
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
    deployments = None
    if "tflm_int8" in results:
        deployments, runs = compare_deployments(layout, load_model(layout.folded_model(seed)), x, results)
        for name, (streamed, entry) in runs.items():
            logits[name] = streamed
            results[name] = {**entry, **score(streamed, y, ids, len(labels))}
    pairs = {f"{a} vs {b}": agreement(logits[a], logits[b]) for a, b in PAIRS if a in logits and b in logits}
    report = {"experiment": config.name, "variant": layout.variant, "seed": seed, "labels": list(labels),
              "test_examples": int(len(x)), "models": results, "pairs": pairs,
              **({"deployments": deployments} if deployments else {})}
    atomic_write_text(layout.evaluation("json"), json.dumps(report, indent=1) + "\n")
    atomic_write_text(layout.evaluation("md"), evaluation_markdown(report))
    return report


def top_tied(logits: np.ndarray) -> np.ndarray:
    """Per example: do its two largest logits have the same value? int8 logits (dequantized,
    one scale) tie when their int8 values are equal; argmax then takes the lower class index."""
    top2 = np.sort(logits, axis=1)[:, -2:]
    return top2[:, 0] == top2[:, 1]


def agreement(a: np.ndarray, b: np.ndarray) -> dict:
    """How two models' logits of the same examples agree: argmax agreement, the count of examples
    whose labels differ and how many of those have tied top logits in either model (a tie is
    decided by class order, not by the model), the count whose logits are identical, and the
    max |logit difference|."""
    differ = a.argmax(1) != b.argmax(1)
    return {"argmax_agreement": float(np.mean(~differ)), "disagreements": int(differ.sum()),
            "disagreements_at_ties": int((differ & (top_tied(a) | top_tied(b))).sum()),
            "identical": int(np.all(a == b, axis=1).sum()), "max_logit_diff": float(np.max(np.abs(a - b)))}


def compare_deployments(layout: RunLayout, folded, x: np.ndarray, results: dict) -> tuple[dict, dict]:
    """The whole-window int8 file and, when stage 05 wrote them, the int8 streaming pieces side by
    side: arenas measured with the TFLite Micro interpreter (interpreters.tflm_arena_bytes), model
    RAM (arena, or the pieces' arenas + the application state: stream_geometry.model_ram_bytes),
    flash (.tflite bytes; the whole-window file carries the
    run's metadata entry, the pieces none); and the runs of the test split streamed through the
    pieces on LiteRT and TFLM, {name: (logits, entry)}, for the caller to score."""
    from ser_reparam.models.stream_geometry import PIECES, InterpreterPieces, model_ram_bytes, stream_window
    from ser_reparam.models.streaming import split_model
    from ser_reparam.tflite.interpreters import LiteRTModel, TFLMModel, tflm_arena_bytes

    whole, blob = results["tflm_int8"], layout.tflite("int8").read_bytes()
    out = {"whole_window": {"arena_bytes": whole["arena_bytes"], "state_bytes": 0,
                            "ram_bytes": whole["arena_bytes"],
                            "flash_bytes": whole["bytes"],
                            "metadata_bytes": len(blob) - len(strip_metadata(blob)),
                            "ms_per_clip": whole["ms_per_clip"]}}
    record = json.loads(layout.quantize_record.read_text()).get("streaming", {"streams": False})
    if not record.get("streams"):
        out["streaming"] = {"streams": False, "why": record.get("why", "stage 05 wrote no streaming pieces")}
        return out, {}
    pieces = split_model(folded)
    paths = {name: layout.stream_piece(name) for name in PIECES}
    blobs = {name: path.read_bytes() for name, path in paths.items()}
    arenas = {name: tflm_arena_bytes(blob) for name, blob in blobs.items()}
    flash, runs = sum(map(len, blobs.values())), {}
    for name, interpreter in (("litert_int8_streaming", LiteRTModel), ("tflm_int8_streaming", TFLMModel)):
        runner = InterpreterPieces(blobs, interpreter)
        window = SimpleNamespace(
            predict_one=lambda features, runner=runner: stream_window(runner, pieces.geometry, features))
        streamed, ms = _timed_predict(window, x)
        runs[name] = (streamed, {"bytes": flash, "ms_per_clip": ms})
    out["streaming"] = {"streams": True, "arena_bytes": arenas, "state_bytes": record["state_bytes"],
                        "ram_bytes": model_ram_bytes(arenas, record["state_bytes"]), "flash_bytes": flash,
                        "ms_per_clip": runs["tflm_int8_streaming"][1]["ms_per_clip"],
                        "steps": record["steps"], "chunk": record["chunk"]}
    return out, runs


def evaluation_markdown(report: dict) -> str:
    lines = [f"### {report['variant']} (seed {report['seed']}, {report['test_examples']} test examples)", "",
             "| model | WA | UA | WF1 | MF1 | bytes | TFLM arena | ms / clip |",
             "|---|---|---|---|---|---|---|---|"]
    for name, m in report["models"].items():
        lines.append(f"| {name} | {m['wa']:.3f} | {m['ua']:.3f} | {m['wf1']:.3f} | {m['mf1']:.3f} | "
                     f"{m.get('bytes', '—')} | {m.get('arena_bytes', '—')} | "
                     f"{m['ms_per_clip']:.2f} |" if "ms_per_clip" in m else
                     f"| {name} | {m['wa']:.3f} | {m['ua']:.3f} | {m['wf1']:.3f} | {m['mf1']:.3f} | — | — | "
                     "— |")
    lines += ["", "| pair | argmax agreement | labels differ (of them at tied top logits) | max abs logit "
                  "difference |",
              "|---|---|---|---|"]
    lines += [f"| {pair} | {p['argmax_agreement']:.4f} | {_differ(p)} | {p['max_logit_diff']:.2e} |"
              for pair, p in report["pairs"].items()]
    if "deployments" in report:
        lines += ["", deployments_markdown(report)]
    return "\n".join(lines) + "\n"


DEPLOYMENT_HEADER = ("int8 deployment", "TFLM arena bytes", "model RAM bytes (arenas + state)",
                     "flash bytes (.tflite)",
                     "UA / WF1 LiteRT", "UA / WF1 TFLM", "argmax = whole window (TFLM)",
                     "host ms / clip (TFLM)")
STREAMING_RUNNERS = ("litert_int8", "tflm_int8", "litert_int8_streaming", "tflm_int8_streaming")


def deployment_rows(report: dict) -> list[list[str]]:
    """Whole window vs streaming (DEPLOYMENT_HEADER's cells): memory and flash measured on the
    int8 files, accuracy of each on LiteRT and TFLM, and how often the streamed label equals the
    whole-window one. `report`: stage 07's, or any dict with its models, pairs and deployments."""
    models, pairs, deployments = report["models"], report["pairs"], report["deployments"]
    whole = deployments["whole_window"]
    rows = [["whole window", f"{whole['arena_bytes']:,}", f"{whole['ram_bytes']:,}",
             f"{whole['flash_bytes']:,} (metadata {whole['metadata_bytes']:,})",
             _ua_wf1(models["litert_int8"]),
             _ua_wf1(models["tflm_int8"]), "—", f"{whole['ms_per_clip']:.2f}"]]
    streaming = deployments["streaming"]
    if not streaming["streams"]:
        return rows + [["streaming", f"does not stream: {streaming['why']}",
                        *[""] * (len(DEPLOYMENT_HEADER) - 2)]]
    rows.append([f"streaming (step / attend / classify, state {streaming['state_bytes']:,} B)",
                 " / ".join(f"{v:,}" for v in streaming["arena_bytes"].values()),
                 f"{streaming['ram_bytes']:,}",
                 f"{streaming['flash_bytes']:,}", _ua_wf1(models["litert_int8_streaming"]),
                 _ua_wf1(models["tflm_int8_streaming"]),
                 _agreement_cell(pairs["tflm_int8 vs tflm_int8_streaming"], report["test_examples"]),
                 f"{streaming['ms_per_clip']:.2f}"])
    return rows


def deployments_markdown(report: dict) -> str:
    lines = ["| " + " | ".join(DEPLOYMENT_HEADER) + " |", "|" + "---|" * len(DEPLOYMENT_HEADER)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in deployment_rows(report)])


def _differ(pair: dict) -> str:
    """'2 (1)': labels differ on 2 examples, 1 of them at a tie (reports before ties were counted: '2')."""
    return f"{pair['disagreements']} ({pair['disagreements_at_ties']})" if "disagreements" in pair else "—"


def _agreement_cell(pair: dict, examples: int) -> str:
    if "disagreements" not in pair:
        return f"{pair['argmax_agreement']:.2%}"
    return (f"{pair['argmax_agreement']:.2%} ({pair['disagreements']} of {examples} differ, "
            f"{pair['disagreements_at_ties']} at an int8 tie; logits identical on {pair['identical']})")


def _ua_wf1(metrics: dict) -> str:
    return f"{metrics['ua']:.3f} / {metrics['wf1']:.3f}"
