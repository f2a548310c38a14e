"""Stage 05 (quantize): Convert the deployed seed to float / int8 (/ int16x8 / QAT) TFLite, audited
against TFLite Micro.

The same library call as `ser-reparam run --from 5 --to 5`; skipped when its inputs and config
are unchanged since its record in runs/<name>/stages/.

To run:
    python pipelines/05_quantize.py --config configs/demo.yaml [--set KEY=VALUE] [--force]
"""
import sys

from ser_reparam.cli import stage_main

if __name__ == "__main__":
    sys.exit(stage_main(5))
