"""Stage 04 (fold, deHRF): every trained seed folded into its plain twin, checked on the test
features, and the seed to deploy chosen; <variant>/folded/ (library: dehrf.py, fold.py)."""
from __future__ import annotations

from pathlib import Path

from ser_reparam.config import ExperimentConfig
from ser_reparam.layout import RunLayout

NUMBER = 4
NAME = "fold"
SECTIONS = ("model", "training")  # config sections it reads: a change reruns it
READS = (2, 3)  # stages whose outputs it reads: a change there reruns it
SHARED = False  # one run per experiment (True) or one per variant


def run(config: ExperimentConfig) -> str:
    from ser_reparam.dehrf import fold_run

    record = fold_run(config)
    worst = max(entry["max_logit_diff"] for entry in record["seeds"].values())
    warning = (" — WARNING: it collapsed, as every seed did"
               if record["deployed_seed"] in record["collapsed_seeds"] else "")
    return (f"{len(record['seeds'])} seeds folded (max |logit HRF − folded| {worst:.1e}); "
            f"deployed seed {record['deployed_seed']}{warning}")


def outputs(config: ExperimentConfig) -> list[Path]:
    return [RunLayout(config).folded_dir]
