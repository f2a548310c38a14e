"""The firmware-bundle table (docs/results-demo.md): a run's deployed model exported for every board.

To run:  python benchmarks/firmware_bundles.py RUN [--model int8] [--docs]

RUN is a variant folder of a finished run (runs/<name>/<variant>, through stage 05). Exports
the whole-window bundle for every board of firmware_export/boards.yaml, exactly as
`ser-reparam export RUN --board <board> --deployment whole-window` does (the bundles land in
RUN/firmware/<board>), and
tabulates each manifest: model bytes, arena, front end, RAM and flash against the board's
budget. A board the model does not fit gets its BudgetError as the verdict. --docs rewrites
its `firmware-bundles` block.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from readme import docs_option, publish, shown_path  # noqa: E402

from firmware_export.boards import load_boards  # noqa: E402
from ser_reparam.bundles import export_run  # noqa: E402
from ser_reparam.errors import BudgetError  # noqa: E402
from ser_reparam.experiment import load_run  # noqa: E402


def row(board, manifest: dict) -> str:
    ram, flash = manifest["budget"]["ram"], manifest["budget"]["flash"]
    arena, frontend = manifest["arena"], manifest["frontend"]
    verdict = (f"fits, {(ram['budget_bytes'] - ram['used_bytes']) / 1024:.1f} KB of RAM budget to spare"
               if manifest["fits"] else "does not fit")
    if not board.has_fpu:
        verdict += ("; no FPU: the float front end runs in software floating point — measure its "
                    "time per 10 ms hop on the board before relying on real time (the int8 model "
                    "needs no FPU)")
    return (f"| {board.name} | {arena['measured_bytes']:,} → {arena['kTensorArenaSize']:,} | "
            f"{frontend['fft']}, {frontend['state_bytes']:,} | {ram['used_bytes']:,} / "
            f"{ram['budget_bytes']:,} | {flash['model_bytes']:,} / {flash['budget_bytes']:,} | {verdict} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="variant folder of a finished run (runs/<name>/<variant>)")
    parser.add_argument("--model", default="int8", choices=["int8", "qat_int8"])
    docs_option(parser)
    args = parser.parse_args()
    config = load_run(args.run)
    run = shown_path(args.run)  # as the block prints it
    rows, models = [], set()
    for key, board in load_boards().items():
        try:
            manifest = export_run(config, key, args.model, deployment="whole-window")
        except BudgetError as error:
            rows.append(f"| {board.name} | | | | | {error} |")
            continue
        models.add((manifest["model"]["source"], manifest["model"]["bytes"],
                    tuple(manifest["input"]["shape"])))
        rows.append(row(board, manifest))
    described = "; ".join(f"{source}, {size:,} B, input {' × '.join(map(str, shape[1:]))}"
                          for source, size, shape in sorted(models))
    text = "\n".join([
        f"`ser-reparam export {run} --board …` for every board ({described}). Arena = measured with the "
        "TFLM interpreter → exported `kTensorArenaSize` (+ 2 % + 4 KB); front end = FFT backend "
        "and its state for one window; RAM = arena + front end; RAM and flash budgets are the board's minus "
        "a stated reserve for the rest of the firmware (`firmware_export/boards.yaml`); all in bytes:", "",
        "| board | arena | front end | RAM used / budget | flash (model) used / budget | verdict |",
        "|---|---|---|---|---|---|", *rows])
    publish("firmware-bundles", text, sys.argv, f"python benchmarks/firmware_bundles.py {run} --docs")


if __name__ == "__main__":
    main()
