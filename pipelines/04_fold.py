"""Stage 04 (fold): Fold every trained seed (deHRF), verify it on the test features
and pick the deployed seed.

The same library call as `ser-reparam run --from 4 --to 4`; skipped when its inputs and config
are unchanged since its record in runs/<name>/stages/.

To run:
    python pipelines/04_fold.py --config configs/demo.yaml [--set KEY=VALUE] [--force]
"""
import sys

from ser_reparam.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main(4))
