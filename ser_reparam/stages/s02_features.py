"""Stage 02 (features): the log-Mel features of every split and the training split's
normalization statistics, cached in runs/<name>/features/<hash>/. Shared by every variant."""
from __future__ import annotations

from pathlib import Path

from ser_reparam.config import ExperimentConfig
from ser_reparam.experiment import feature_store, labels_for

NUMBER = 2
NAME = "features"
SECTIONS = ("data", "frontend")  # config sections it reads: a change reruns it
READS = (1,)  # stages whose outputs it reads: a change there reruns it
SHARED = True  # one run per experiment (True) or one per variant


def run(config: ExperimentConfig) -> str:
    store, labels = feature_store(config), labels_for(config)
    for split in sorted(store.splits()):
        store.extract(split, labels)
    store.extract_copies(labels)
    stats = store.write_norm_stats()
    copies = f" + training copies {', '.join(c.tag for c in store.copies)}" if store.copies else ""
    return (f"features of splits {', '.join(sorted(store.splits()))}{copies} in {store.folder} "
            f"({len(stats['mean'])} dims)")


def outputs(config: ExperimentConfig) -> list[Path]:
    store = feature_store(config)
    return [*(store.records(split) for split in sorted(store.splits())),
            *(store.copy_records(copy) for copy in store.copies), store.stats_path]
