"""Corpus tables (split lists, transcripts, user CSVs): header-checked rows, errors naming the file."""
from __future__ import annotations

import csv
from pathlib import Path
from ser_reparam.errors import InputError


def read_table(path: Path, required: tuple[str, ...], expected: str,
               delimiter: str = ",") -> tuple[list[str], list[dict]]:
    """(header, rows) of a delimited text file with a header line (UTF-8, a BOM is tolerated).

    Raises ValueError naming `path` and `expected` when a `required` column is missing.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        header = list(reader.fieldnames or [])
        missing = [column for column in required if column not in header]
        if missing:
            raise InputError(f"{path}: header lacks {', '.join(missing)}; expected {expected}")
        return header, list(reader)
