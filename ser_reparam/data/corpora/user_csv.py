"""A user-supplied CSV: columns path,label and optionally split,speaker,start,end.

Paths are relative to the data root. Without a split column the usable rows are split by
speaker groups when there is a speaker column, else per label by utterance; the report says
which.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from ..manifest import SPLITS, ManifestError, Utterance, parse_seconds
from .collect import Collector, utt_id_for
from .groups import BY_SPEAKER, NO_SPEAKERS, split_groups, split_note, split_utterances, utterance_note
from .tables import read_table
from ser_reparam.errors import MissingInputError

LAYOUT = "a CSV with header path,label[,split,speaker,start,end]; paths relative to the data root"
REQUIRED = ("path", "label")


def build(col: Collector, csv_file: str, seed: int | None = None) -> None:
    rows, fields = _read(col, Path(csv_file))
    split = col.protocol.split
    seed = split["seed"] if seed is None else seed
    if "split" in fields:
        assignment = {utt.utt_id: utt.split for utt in rows}
    elif "speaker" in fields:
        by_speaker = split_groups((utt.speaker for utt in rows), split["fractions"], seed)
        assignment = {utt.utt_id: by_speaker[utt.speaker] for utt in rows}
        col.report.note(BY_SPEAKER, split_note("speakers", split["fractions"], seed))
    else:
        assignment = split_utterances({utt.utt_id: utt.label for utt in rows}, split["fractions"], seed)
        col.report.note(NO_SPEAKERS, utterance_note(split["fractions"], seed))
    for utt in rows:
        col.keep(replace(utt, split=assignment[utt.utt_id]))


def _read(col: Collector, path: Path) -> tuple[list[Utterance], list[str]]:
    """The CSV's usable rows (split '' when the CSV has no split column) and its header."""
    if not path.is_file():
        raise MissingInputError(f"CSV {path} does not exist; expected {LAYOUT}")
    fields, records = read_table(path, REQUIRED, LAYOUT)
    rows, seen = [], Counter()
    for line, record in enumerate(records, start=2):
        utt = _row(col, record, f"{path}:{line}", "split" in fields, seen)
        if utt is not None:
            rows.append(utt)
    return rows, fields


def _row(col: Collector, record: dict, where: str, has_split: bool, seen: Counter) -> Utterance | None:
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
    found = col.usable(rel)
    if found is None:
        return None
    base = utt_id_for(found[0])
    seen[base] += 1
    utt_id = base if seen[base] == 1 else f"{base}#{seen[base]}"
    speaker = (record.get("speaker") or "").strip() or utt_id
    return Utterance(utt_id, found[0], label, split, speaker, start, end, found[1])
