"""Stage 07 (evaluate): the deployed seed's test split through Keras, LiteRT and the TFLite
Micro interpreter, whole window and streaming, side by side; reports/<variant>-evaluation.{json,md}
(library: evaluate.py)."""
from __future__ import annotations

from pathlib import Path

from ser_reparam.config import ExperimentConfig
from ser_reparam.layout import RunLayout

NUMBER = 7
NAME = "evaluate"
SECTIONS = ("data",)  # config sections it reads: a change reruns it
READS = (2, 3, 4, 5)  # stages whose outputs it reads: a change there reruns it
SHARED = False  # one run per experiment (True) or one per variant


def run(config: ExperimentConfig) -> str:
    from ser_reparam.model_card import evaluate_with_card

    models = evaluate_with_card(config)["models"]
    names = ("keras_folded", "litert_int8", "tflm_int8", "tflm_int8_streaming")
    return "  ".join(f"{name} UA {models[name]['ua']:.3f}" for name in names if name in models)


def outputs(config: ExperimentConfig) -> list[Path]:
    layout = RunLayout(config)
    return [layout.evaluation("json"), layout.evaluation("md"), layout.model_card, layout.confusion_png]
