"""Stage 01 (prepare): Build the run's manifest from your corpus (or generate the demo corpus) and apply
the validation rule.

The same library call as `ser-reparam run --from 1 --to 1`; skipped when its inputs and config
are unchanged since its record in runs/<name>/stages/.

To run:
    python pipelines/01_prepare.py --config configs/demo.yaml [--set KEY=VALUE] [--force]
"""
import sys

from ser_reparam.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main(1))
