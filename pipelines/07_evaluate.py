"""Stage 07 (evaluate): Score the test split on Keras, LiteRT and the TFLite Micro interpreter, side by side.

The same library call as `ser-reparam run --from 7 --to 7`; skipped when its inputs and config
are unchanged since its record in runs/<name>/stages/.

To run:
    python pipelines/07_evaluate.py --config configs/demo.yaml [--set KEY=VALUE] [--force]
"""
import sys

from ser_reparam.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main(7))
