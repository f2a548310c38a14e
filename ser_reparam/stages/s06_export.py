"""Stage 06 (export): a firmware bundle per board of the config (C arrays, settings, op resolver,
front end, projects) of the deployment export.deployment chooses (streaming pieces or the model
once per window); <variant>/firmware/<board>/ (library: firmware_export/)."""
from __future__ import annotations

from pathlib import Path

from ser_reparam.config import ExperimentConfig
from ser_reparam.layout import RunLayout

NUMBER = 6
NAME = "export"
SECTIONS = ("export",)  # config sections it reads: a change reruns it
READS = (2, 4, 5)  # stages whose outputs it reads: a change there reruns it
SHARED = False  # one run per experiment (True) or one per variant


def run(config: ExperimentConfig) -> str:
    from firmware_export.bundle_record import summary_line
    from ser_reparam.bundles import export_run

    return "\n".join(summary_line(board, export_run(config, board)) for board in config.export.boards)


def outputs(config: ExperimentConfig) -> list[Path]:
    return [RunLayout(config).firmware_dir(board) for board in config.export.boards]
