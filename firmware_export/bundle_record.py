"""The record a firmware bundle carries about itself (board, budget, arena, deployment, its files):
the one place that names its file, written by the export and read by verify, profile and the
stage summaries. Bundles exported before the record was named bundle.json hold manifest.json
(the word the data CSV uses): they are still read, with a one-line note to re-export."""
from __future__ import annotations

import json
import sys
from pathlib import Path

NAME = "bundle.json"
OLD_NAME = "manifest.json"


def record_path(folder: Path) -> Path:
    """The folder's record: bundle.json, or manifest.json in a bundle exported under that name."""
    path, old = Path(folder) / NAME, Path(folder) / OLD_NAME
    return old if not path.exists() and old.exists() else path


def has_record(folder: Path) -> bool:
    return record_path(folder).exists()


def read_record(folder: Path) -> dict:
    path = record_path(folder)
    if path.name == OLD_NAME:
        print(f"note: {path} is the record of an older export (now {NAME}); re-export the bundle "
              "(ser-reparam export) to rename it", file=sys.stderr)
    return json.loads(path.read_text())


def write_record(folder: Path, record: dict) -> None:
    (Path(folder) / NAME).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def summary_line(board: str, record: dict) -> str:
    """One line of a bundle: its board, deployment and budget verdict (stage 06's summary)."""
    return f"{board} ({record['deployment']}): {record['verdict']}"
