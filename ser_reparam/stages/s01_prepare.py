"""Stage 01 (prepare): the run's manifest — your corpus prepared (or the SYNTHETIC demo corpus
generated) and the validation rule applied — in runs/<name>/manifest.csv. Shared by every variant."""
from __future__ import annotations

from pathlib import Path

from ser_reparam.config import DEMO_DATASET, ExperimentConfig
from ser_reparam.experiment import prepare_run_manifest
from ser_reparam.layout import RunLayout

NUMBER = 1
NAME = "prepare"
SECTIONS = ("data",)  # config sections it reads: a change reruns it
READS = ()  # stages whose outputs it reads: a change there reruns it
SHARED = True  # one run per experiment (True) or one per variant


def run(config: ExperimentConfig) -> str:
    return prepare_run_manifest(config)


def outputs(config: ExperimentConfig) -> list[Path]:
    generated = [Path(config.data.root)] if config.data.dataset == DEMO_DATASET else []
    return [RunLayout(config).manifest, *generated]
