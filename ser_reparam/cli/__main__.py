"""`python -m ser_reparam.cli`: the `ser-reparam` command."""
import sys

from ser_reparam.cli import main

sys.exit(main())
