"""Stage 05 (quantize): float / int8 (/ int16x8 / QAT int8) TFLite files of the deployed folded
model, audited against TFLite Micro's kernels, and its int8 streaming pieces when it streams;
<variant>/quantized/ (library: quantize.py)."""
from __future__ import annotations

from pathlib import Path

from ser_reparam.config import ExperimentConfig
from ser_reparam.errors import StageError
from ser_reparam.layout import RunLayout

NUMBER = 5
NAME = "quantize"
SECTIONS = ("quantize",)  # config sections it reads: a change reruns it
READS = (2, 4)  # stages whose outputs it reads: a change there reruns it
SHARED = False  # one run per experiment (True) or one per variant


def run(config: ExperimentConfig) -> str:
    from ser_reparam.quantize import quantize_run

    if config.data.norm != "global":  # the device front ends, predict and stage 07 normalize globally
        raise StageError(f"stage 05 (quantize): data.norm is {config.data.norm!r}, which only training and "
                         "test scoring compute so far; train with data.norm: global to deploy a model")
    record = quantize_run(config)
    line = ", ".join(f"{name} {entry['bytes']:,} B" for name, entry in record["models"].items())
    streaming = record["streaming"]
    if not streaming["streams"]:
        return f"{line}; no streaming pieces: {streaming['why']}"
    return f"{line}; streaming pieces {sum(p['bytes'] for p in streaming['pieces'].values()):,} B"


def outputs(config: ExperimentConfig) -> list[Path]:
    return [RunLayout(config).quantized_dir]
