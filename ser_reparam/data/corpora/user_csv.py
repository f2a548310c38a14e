"""A user-supplied CSV: columns path,label and optionally split,speaker,start,end.

Paths are relative to the data root. Without a split column the split is by speaker groups
when there is a speaker column, else per label by utterance; the report says which.
"""
from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from ..manifest import SPLITS, ManifestError, parse_seconds
from .collect import Collector, utt_id_for
from .groups import BY_SPEAKER, NO_SPEAKERS, split_groups, split_note, split_utterances, utterance_note

LAYOUT = "a CSV with header path,label[,split,speaker,start,end]; paths relative to the data root"
REQUIRED = ("path", "label")


def build(col: Collector, csv_file: str, seed: int | None = None) -> None:
    rows, has_split, has_speaker = _read(col, Path(csv_file))
    split = col.protocol.split
    seed = split["seed"] if seed is None else seed
    if has_split:
        assignment = {row["utt_id"]: row["split"] for row in rows}
    elif has_speaker:
        by_speaker = split_groups((row["speaker"] for row in rows), split["fractions"], seed)
        assignment = {row["utt_id"]: by_speaker[row["speaker"]] for row in rows}
        col.report.note(BY_SPEAKER, split_note("speakers", split["fractions"], seed))
    else:
        assignment = split_utterances({row["utt_id"]: row["label"] for row in rows}, split["fractions"], seed)
        col.report.note(NO_SPEAKERS, utterance_note(split["fractions"], seed))
    for row in rows:
        col.add(row["utt_id"], row["path"], row["label"], assignment[row["utt_id"]], row["speaker"],
                row["start"], row["end"])


def _read(col: Collector, path: Path) -> tuple[list[dict], bool, bool]:
    if not path.is_file():
        raise FileNotFoundError(f"CSV {path} does not exist; expected {LAYOUT}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        missing = [column for column in REQUIRED if column not in fields]
        if missing:
            raise ValueError(f"{path}: header lacks {', '.join(missing)}; expected {LAYOUT}")
        rows, seen = [], Counter()
        for line, record in enumerate(reader, start=2):
            row = _row(col, record, f"{path}:{line}", "split" in fields, seen)
            if row is not None:
                rows.append(row)
    return rows, "split" in fields, "speaker" in fields


def _row(col: Collector, record: dict, where: str, has_split: bool, seen: Counter) -> dict | None:
    rel = (record.get("path") or "").strip()
    label = col.label(record.get("label") or "", rel or where)
    if label is None:
        return None
    try:
        start = parse_seconds(record.get("start") or "", "start", where)
        end = parse_seconds(record.get("end") or "", "end", where)
        if start is not None and end is not None and end <= start:
            raise ManifestError(f"{where}: end {end} must be after start {start}")
    except ManifestError as err:
        col.report.exclude("bad start/end", str(err))
        return None
    split = (record.get("split") or "").strip()
    if has_split and split not in SPLITS:
        col.report.exclude(f"split not one of {', '.join(SPLITS)}", f"{where} ({split!r})")
        return None
    base = utt_id_for(rel)
    seen[base] += 1
    utt_id = base if seen[base] == 1 else f"{base}#{seen[base]}"
    speaker = (record.get("speaker") or "").strip() or utt_id
    return {"utt_id": utt_id, "path": rel, "label": label, "split": split, "speaker": speaker,
            "start": start, "end": end}
