"""A user-supplied CSV: columns path,label and optionally split,speaker,start,end.

Paths are relative to the data root. Without a split column the usable rows are split by
speaker groups when there is a speaker column, else per label by utterance; the report says
which.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from ser_reparam.errors import InputError, ManifestError, MissingInputError

from ..manifest import SPLITS, Utterance, parse_seconds
from .collect import Collector, check_label_names, utt_id_for, utt_ids_for
from .groups import BY_SPEAKER, NO_SPEAKERS, split_groups, split_note, split_utterances, utterance_note
from .tables import read_table

LAYOUT = "a CSV with header path,label[,split,speaker,start,end,utt_id]; paths relative to the data root"
REQUIRED = ("path", "label")


def build(col: Collector, csv_file: str, seed: int | None = None, labels: list[str] | None = None) -> None:
    """`labels`: the classes you expect; without it a label that looks like a typo of another is refused."""
    rows, fields = _read(col, Path(csv_file), None if labels is None else tuple(labels))
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


def _read(col: Collector, path: Path, labels: tuple[str, ...] | None) -> tuple[list[Utterance], list[str]]:
    """The CSV's usable rows (split '' when the CSV has no split column) and its header."""
    if not path.is_file():
        raise MissingInputError(f"CSV {path} does not exist; expected {LAYOUT}")
    fields, records = read_table(path, REQUIRED, LAYOUT)
    unknown = [name for name in fields if name not in COLUMNS]
    if unknown or len(set(fields)) != len(fields):
        repeated = sorted({name for name in fields if fields.count(name) > 1})
        raise InputError(f"{path}: header column(s) {', '.join(unknown + repeated)} "
                         f"{'unknown' if unknown else 'repeated'}; the columns are {', '.join(COLUMNS)} "
                         "(each once): rename or remove the others")
    first_seen = {}
    for line, record in enumerate(records, start=2):
        first_seen.setdefault((record.get("label") or "").strip(), f"{path}:{line}")
    first_seen.pop("", None)
    check_label_names(first_seen, labels, f"csv {path}",
                      Counter((r.get("label") or "").strip() for r in records))
    ids = utt_ids_for((record.get("path") or "").strip().replace("\\", "/") for record in records)
    rows, seen, lines, id_lines = [], Counter(), {}, {}
    for line, record in enumerate(records, start=2):
        utt = _row(col, record, f"{path}:{line}", "split" in fields, seen, ids)
        if utt is None:
            continue
        key = (utt.path, utt.start, utt.end)
        if key in lines:
            first, earlier = lines[key]
            if (earlier.label, earlier.split) != (utt.label, utt.split) or (
                    "speaker" in fields and earlier.speaker != utt.speaker):
                def cells(u: Utterance) -> str:
                    return "/".join([u.label, u.split or "-", *([u.speaker] if "speaker" in fields else [])])
                raise InputError(f"{path}:{line} and line {first} list {utt.path} (same segment) with "
                                 f"different label/split{'/speaker' if 'speaker' in fields else ''} "
                                 f"({cells(earlier)} vs {cells(utt)}): one file in two classes or splits "
                                 "leaks between training and test; keep one row")
            col.report.exclude(DUPLICATE, f"{path}:{line} (= line {first})")
            continue
        if utt.utt_id in id_lines:
            raise InputError(f"{path}:{line}: utt_id {utt.utt_id!r} is also on line {id_lines[utt.utt_id]}; "
                             "ids must be unique")
        lines[key], id_lines[utt.utt_id] = (line, utt), line
        rows.append(utt)
    return rows, fields


DUPLICATE = "duplicate row (same file and segment as an earlier line)"
COLUMNS = ("path", "label", "split", "speaker", "start", "end", "utt_id")


def _row(col: Collector, record: dict, where: str, has_split: bool, seen: Counter,
         ids: dict[str, str]) -> Utterance | None:
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
    own = (record.get("utt_id") or "").strip()
    base = own or ids.get(rel.replace("\\", "/"), utt_id_for(found[0]))
    seen[base] += 1
    utt_id = base if seen[base] == 1 or own else f"{base}#{seen[base]}"
    speaker = (record.get("speaker") or "").strip() or utt_id
    return Utterance(utt_id, found[0], label, split, speaker, start, end, found[1])
