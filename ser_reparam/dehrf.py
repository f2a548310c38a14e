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

import numpy as np

from ser_reparam.config import ExperimentConfig
from ser_reparam.data.scoring import split_arrays
from ser_reparam.errors import StageError
from ser_reparam.experiment import feature_store, labels_for
from ser_reparam.files import atomic_write_text, temp_name
from ser_reparam.fold import fold_model
from ser_reparam.layout import RunLayout
from ser_reparam.models import load_model
from ser_reparam.profile import count_flops, count_params

LOG = logging.getLogger("ser_reparam.dehrf")
FOLD_TOLERANCE = 1e-4  # max |logit difference| accepted on real test features


def trained_seeds(config: ExperimentConfig) -> list[int]:
    """Seeds whose training finished (metrics.json written)."""
    layout = RunLayout(config)
    seeds = layout.finished_seeds()
    if not seeds:
        raise StageError(f"stage 04 (fold): no trained model in {layout.train_dir} — run stage 03 "
                         f"(ser-reparam train --config …)")
    return seeds


def choose_seed(config: ExperimentConfig, seeds: list[int]) -> tuple[int, list[int]]:
    """(the seed with the best validation metric among those that did not collapse — lowest seed
    on ties, every seed when all collapsed —, the collapsed seeds)."""
    metrics = {seed: json.loads(RunLayout(config).seed_metrics(seed).read_text())
               for seed in seeds}
    collapsed = [seed for seed in seeds if metrics[seed].get("collapsed")]
    candidates = [seed for seed in seeds if seed not in collapsed] or seeds
    return max(candidates, key=lambda seed: (metrics[seed]["val"].get(config.training.select, 0.0),
                                             -seed)), collapsed


def fold_run(config: ExperimentConfig) -> dict:
    """Fold every trained seed, verify on test features, choose the deployed seed; write fold.json."""
    seeds = trained_seeds(config)
    x, _, _ = split_arrays(feature_store(config), "test", labels_for(config))
    shape = tuple(x.shape[1:])
    layout = RunLayout(config)
    out = layout.folded_dir
    out.mkdir(parents=True, exist_ok=True)
    record = {"seeds": {}, "tolerance": FOLD_TOLERANCE}
    for seed in seeds:
        hrf = load_model(layout.checkpoint(seed))
        folded = fold_model(hrf, inputs=x[:8])
        diff = float(np.max(np.abs(hrf.predict(x, batch_size=64, verbose=0) -
                                   folded.predict(x, batch_size=64, verbose=0))))
        if diff > FOLD_TOLERANCE:
            raise StageError(f"stage 04 (fold): seed {seed}: folded model differs from the HRF model by "
                             f"{diff:.3g} on the test features (tolerance {FOLD_TOLERANCE:g})")
        tmp = temp_name(layout.folded_model(seed))
        folded.save(tmp)
        os.replace(tmp, layout.folded_model(seed))
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
                    "one class", layout.variant_dir, record["deployed_seed"])
    atomic_write_text(layout.fold_record, json.dumps(record, indent=1) + "\n")
    return record
