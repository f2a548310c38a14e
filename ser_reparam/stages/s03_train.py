"""Stage 03 (train): the variant's model (with its HRF layers) for every seed, plus the classic
baselines on the same features; <variant>/train/seed-<k>/ (library: train.py, baseline.py)."""
from __future__ import annotations

from pathlib import Path

from ser_reparam.config import TRAINING_SECTIONS, ExperimentConfig
from ser_reparam.layout import RunLayout

NUMBER = 3
NAME = "train"
SECTIONS = TRAINING_SECTIONS  # config sections it reads (the key of each seed's metrics.json too)
READS = (2,)  # stages whose outputs it reads: a change there reruns it
SHARED = False  # one run per experiment (True) or one per variant


def run(config: ExperimentConfig) -> str:
    from ser_reparam.baseline import ensure_baselines  # TensorFlow starts only when a stage runs
    from ser_reparam.train import configure_threads, seed_summary, train

    configure_threads(config.training.threads)
    ensure_baselines(config)
    return "\n".join(seed_summary(metrics) for metrics in train(config, list(range(config.training.seeds))))


def outputs(config: ExperimentConfig) -> list[Path]:
    from ser_reparam.baseline import baselines_path

    layout = RunLayout(config)
    return [layout.config_json, baselines_path(config),
            *(layout.seed_dir(s) for s in range(config.training.seeds))]
