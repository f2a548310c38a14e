"""Stage 03 (train): Train the config's model (with its HRF layers) for every seed.

The same library call as `ser-reparam run --from 3 --to 3`; skipped when its inputs and config
are unchanged since its record in runs/<name>/stages/.

To run:
    python pipelines/03_train.py --config configs/demo.yaml [--set KEY=VALUE] [--force]
"""
import sys

from ser_reparam.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main(3))
