"""Stage 06 (export): Write the firmware bundle of the int8 model for each of the config's boards.

The same library call as `ser-reparam run --from 6 --to 6`; skipped when its inputs and config
are unchanged since its record in runs/<name>/stages/.

To run:
    python pipelines/06_export.py --config configs/demo.yaml [--set KEY=VALUE] [--force]
"""
import sys

from ser_reparam.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main(6))
