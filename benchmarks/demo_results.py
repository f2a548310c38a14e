"""The demo table (docs/results-demo.md), from a finished `ser-reparam demo` run.

To run:  ser-reparam demo --out OUT  &&  python benchmarks/demo_results.py OUT [--docs]

Reads the run's own records (evaluation, fold, firmware manifests, stage records): the same
table as OUT/demo/reports/demo-summary.md, plus the stage time it took and the machine.
--docs rewrites its `demo` block.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from readme import publish  # noqa: E402

from ser_reparam.baseline import ensure_baselines  # noqa: E402
from ser_reparam.demo import demo_configs, summary_markdown, variant_summary  # noqa: E402
from ser_reparam.layout import RunLayout  # noqa: E402


def stage_seconds(layout: RunLayout) -> float:
    """Seconds the run's stages took, summed over their records (skipped re-runs add nothing)."""
    return sum(json.loads(path.read_text())["seconds"] for path in layout.stages_dir.glob("*.json"))


def main(argv: list[str]) -> None:
    if not argv or argv[0].startswith("-"):
        raise SystemExit(__doc__)
    out = Path(argv[0])
    configs = demo_configs(out)
    rows = [variant_summary(config) for config in configs]
    config = configs[0]
    seconds = stage_seconds(RunLayout(config))
    text = (f"`ser-reparam demo` (`configs/demo.yaml`: {config.training.seeds} seeds per variant, "
            f"{config.training.epochs} epochs, {config.data.window_seconds:g} s windows; the deployed seed "
            f"is chosen on validation; {rows[0]['test_examples']} test utterances, so one utterance = "
            f"{100 / rows[0]['test_examples']:.2f} pp), stages {seconds / 60:.1f} min in total "
            f"(sum of the stage records):\n\n"
            f"{summary_markdown(rows, ensure_baselines(config), reports='OUT/demo/reports')}")
    publish("demo", text, argv, "python benchmarks/demo_results.py OUT --docs (from the run)")


if __name__ == "__main__":
    main(sys.argv[1:])
