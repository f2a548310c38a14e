"""The record a firmware bundle carries about itself (board, budget, arena, deployment, its files):
the one place that names its file, written by the export and read by verify, profile and the
stage summaries."""
from __future__ import annotations

import json
from pathlib import Path

NAME = "manifest.json"


def record_path(folder: Path) -> Path:
    return Path(folder) / NAME


def has_record(folder: Path) -> bool:
    return record_path(folder).exists()


def read_record(folder: Path) -> dict:
    return json.loads(record_path(folder).read_text())


def write_record(folder: Path, record: dict) -> None:
    record_path(folder).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def summary_line(board: str, record: dict) -> str:
    """One line of a bundle: its board, deployment and budget verdict (stage 06's summary)."""
    return f"{board} ({record['deployment']}): {record['verdict']}"
