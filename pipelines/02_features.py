"""Stage 02 (features): Extract the 78-dim LMFB features of every split into the cache and compute the
training statistics.

The same library call as `ser-reparam run --from 2 --to 2`; skipped when its inputs and config
are unchanged since its record in runs/<name>/stages/.

To run:
    python pipelines/02_features.py --config configs/demo.yaml [--set KEY=VALUE] [--force]
"""
import sys

from ser_reparam.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main(2))
