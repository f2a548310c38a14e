"""Stages 01–07 in order, each skipped when its inputs and config are unchanged (its record in
runs/<name>/stages/ says what it last ran on). The same as `ser-reparam run`.

To run:
    python pipelines/run_all.py --config configs/demo.yaml [--from N] [--to M] [--force] [--set KEY=VALUE]
"""
import sys

from ser_reparam.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main(None))
