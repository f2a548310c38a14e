"""The sweep table (docs/results-demo.md): test metrics per HRF placement, from a finished sweep's run folder.

To run:  ser-reparam sweep --config configs/demo.yaml --set runs_dir=OUT --set data.root=OUT/demo-corpus \\
             --grid placements=original,none,ffn2@8x1,all@8x1
         python benchmarks/sweep_results.py OUT/demo [--docs]

Aggregates every trained seed under the run folder with the same code as `ser-reparam report`
(mean ± std over seeds, deployed Params and MACs), with the classic baselines and chance fitted and
scored on the same split (baselines.json, computed if the run has none). A `ser-reparam demo --out OUT`
run folder holds two of these placements (none, ffn2@8x1) already: the sweep above skips them.
--docs rewrites its `sweep` block.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from readme import publish  # noqa: E402

from ser_reparam.baseline import ensure_baselines  # noqa: E402
from ser_reparam.experiment import load_run  # noqa: E402
from ser_reparam.layout import variant_configs  # noqa: E402
from ser_reparam.report import aggregate, collect, collect_baselines, markdown  # noqa: E402


def main(argv: list[str]) -> None:
    if not argv or argv[0].startswith("-"):
        raise SystemExit(__doc__)
    run_dir = Path(argv[0])
    config = load_run(variant_configs(run_dir)[0].parent)
    ensure_baselines(config)
    rows = aggregate(collect([run_dir]), collect_baselines([run_dir]))
    table = markdown(rows, run_dir.name).split("\n", 2)[2]  # without the "### title" line
    seeds = sorted({len(r["seeds"]) for r in rows})
    truth = np.sum(rows[0]["confusion"], axis=1)  # test examples per class (× seeds)
    text = (f"{config.model.arch}, variants {', '.join(r['variant'] for r in rows)}; "
            f"{'/'.join(map(str, seeds))} seeds, {config.training.epochs} epochs, "
            f"{config.data.window_seconds:g} s "
            f"windows.\n\n{table}\nChance level on this test set: WA {truth.max() / truth.sum():.3f} (always "
            f"the largest class), UA {1 / len(truth):.3f} ({len(truth)} classes).")
    publish("sweep", text, argv, "python benchmarks/sweep_results.py OUT/demo --docs (from the run)")


if __name__ == "__main__":
    main(sys.argv[1:])
