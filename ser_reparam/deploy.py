"""Stage 04 (deHRF): fold every trained seed into its plain twin and pick the seed to deploy.

Each seed's kept HRF model (`train/seed-<k>/best.keras`) is folded with `fold_model`, checked
on the real test features (max |logit difference| over the whole test split), and saved as
`folded/seed-<k>.keras`. The seed deployed to the board is the one with the best validation
metric (never the test metric) among the seeds that did not collapse (metrics.json
`collapsed`); when every seed collapsed, the best of them is deployed and fold.json and the
log say so. `folded/fold.json` records it with the parameter and MAC counts before and after
folding.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import tf_keras as keras

from ser_reparam.config import ExperimentConfig
from ser_reparam.files import atomic_write_text, temp_name
from ser_reparam.evaluate import split_arrays
from ser_reparam.experiment import feature_store, labels_for, variant_dir
from ser_reparam.fold import fold_model
from ser_reparam.profile import count_flops, count_params
from ser_reparam.errors import StageError  # noqa: F401  (re-exported: its old home)

LOG = logging.getLogger("ser_reparam.deploy")
FOLD_TOLERANCE = 1e-4  # max |logit difference| accepted on real test features


def folded_dir(config: ExperimentConfig) -> Path:
    return variant_dir(config) / "folded"


def trained_seeds(config: ExperimentConfig) -> list[int]:
    """Seeds whose training finished (metrics.json written)."""
    train_dir = variant_dir(config) / "train"
    seeds = sorted(int(p.parent.name.split("-")[1]) for p in train_dir.glob("seed-*/metrics.json"))
    if not seeds:
        raise StageError(f"stage 04 (fold): no trained model in {train_dir} — run stage 03 "
                         f"(ser-reparam train --config …)")
    return seeds


def choose_seed(config: ExperimentConfig, seeds: list[int]) -> tuple[int, list[int]]:
    """(the seed with the best validation metric among those that did not collapse — lowest seed
    on ties, every seed when all collapsed —, the collapsed seeds)."""
    metrics = {seed: json.loads((variant_dir(config) / "train" / f"seed-{seed}" / "metrics.json").read_text())
               for seed in seeds}
    collapsed = [seed for seed in seeds if metrics[seed].get("collapsed")]
    candidates = [seed for seed in seeds if seed not in collapsed] or seeds
    return max(candidates, key=lambda seed: (metrics[seed]["val"].get(config.training.select, 0.0), -seed)), collapsed


def deployed_seed(config: ExperimentConfig) -> int:
    record = folded_dir(config) / "fold.json"
    if not record.exists():
        raise StageError(f"stage 05+: no folded model in {folded_dir(config)} — run stage 04 (ser-reparam fold)")
    return json.loads(record.read_text())["deployed_seed"]


def folded_model_path(config: ExperimentConfig, seed: int | None = None) -> Path:
    return folded_dir(config) / f"seed-{deployed_seed(config) if seed is None else seed}.keras"


def fold_run(config: ExperimentConfig) -> dict:
    """Fold every trained seed, verify on test features, choose the deployed seed; write fold.json."""
    seeds = trained_seeds(config)
    x, _, _ = split_arrays(feature_store(config), "test", labels_for(config))
    shape = tuple(x.shape[1:])
    out = folded_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    record = {"seeds": {}, "tolerance": FOLD_TOLERANCE}
    for seed in seeds:
        hrf = keras.models.load_model(variant_dir(config) / "train" / f"seed-{seed}" / "best.keras")
        folded = fold_model(hrf, inputs=x[:8])
        diff = float(np.max(np.abs(hrf.predict(x, batch_size=64, verbose=0) -
                                   folded.predict(x, batch_size=64, verbose=0))))
        if diff > FOLD_TOLERANCE:
            raise StageError(f"stage 04 (fold): seed {seed}: folded model differs from the HRF model by "
                             f"{diff:.3g} on the test features (tolerance {FOLD_TOLERANCE:g})")
        tmp = temp_name(out / f"seed-{seed}.keras")
        folded.save(tmp)
        os.replace(tmp, out / f"seed-{seed}.keras")
        record["seeds"][str(seed)] = {
            "max_logit_diff": diff, "test_examples": int(len(x)),
            "params_before": count_params(hrf), "params_after": count_params(folded),
            "macs_before": count_flops(hrf, shape), "macs_after": count_flops(folded, shape)}
    record["deployed_seed"], record["collapsed_seeds"] = choose_seed(config, seeds)
    record["selected_by"] = f"validation {config.training.select}" + (
        " among the seeds that did not collapse" if record["collapsed_seeds"] else "")
    if record["deployed_seed"] in record["collapsed_seeds"]:
        record["selected_by"] += "; WARNING: every seed collapsed (predicts one class), the deployed one too"
        LOG.warning("%s: every trained seed collapsed; deploying seed %d anyway — it predicts (nearly) "
                    "one class", variant_dir(config), record["deployed_seed"])
    atomic_write_text(out / "fold.json", json.dumps(record, indent=1) + "\n")
    return record
