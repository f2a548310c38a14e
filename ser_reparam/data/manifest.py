"""The manifest: one CSV row per utterance (or clip), the contract between prepare and training.

Columns (header required, in any order):
  utt_id   unique id of the utterance or clip
  path     the source audio file, relative to the data root (the user's copy of the corpus)
  label    class name, one of the dataset protocol's labels
  split    train, val or test
  speaker  speaker id (speaker-independent splits and held-out validation use it)
  start    clip start in seconds within the audio the pipeline reads (`audio` when set, else
           `path`); empty = start of file
  end      clip end in seconds, same timeline; empty = end of file
  audio    empty when `path` is read directly (16 kHz mono WAV); otherwise the converted
           16 kHz mono WAV the pipeline reads, relative to the manifest's folder
  corpus   optional: empty = `path` is under data.root; else the dataset of data.extra_corpus, whose
           root `path` is under (written only when a row has one)

Reading validates every row and names the row (file and line) of the first problem.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ser_reparam.errors import ManifestError
from ser_reparam.files import atomic_write_text

COLUMNS = ("utt_id", "path", "label", "split", "speaker", "start", "end", "audio")
EXTRA_COLUMN = "corpus"  # after COLUMNS, only in a manifest with rows of data.extra_corpus
REQUIRED = ("utt_id", "path", "label", "split", "speaker")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Utterance:
    utt_id: str
    path: str
    label: str
    split: str
    speaker: str
    start: float | None = None
    end: float | None = None
    audio: str = ""
    corpus: str = ""

    def row(self) -> dict:
        return {"utt_id": self.utt_id, "path": self.path, "label": self.label, "split": self.split,
                "speaker": self.speaker, "start": _seconds_text(self.start),
                "end": _seconds_text(self.end), "audio": self.audio, EXTRA_COLUMN: self.corpus}


def _seconds_text(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def safe_relative(path: str) -> bool:
    """True for a relative POSIX path that stays inside its root (no absolute path, no '..')."""
    pure = PurePosixPath(path.replace("\\", "/"))
    return bool(path) and not pure.is_absolute() and ".." not in pure.parts and ":" not in pure.parts[0]


def parse_seconds(text: str, column: str, where: str) -> float | None:
    """A start/end cell: None when empty, else non-negative finite seconds (ManifestError naming `where`)."""
    if text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ManifestError(f"{where}: column '{column}' must be seconds (a number) or empty, got "
                            f"{text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ManifestError(f"{where}: column '{column}' must be a non-negative number of seconds, got "
                            f"{text!r}")
    return value


def check_row(utt: Utterance, where: str, labels: tuple[str, ...] | None = None) -> None:
    """Raise ManifestError naming `where` if the row breaks the schema."""
    for column in REQUIRED:
        if not str(getattr(utt, column)).strip():
            raise ManifestError(f"{where}: column '{column}' is empty")
    if utt.split not in SPLITS:
        raise ManifestError(f"{where}: split {utt.split!r} is not one of {', '.join(SPLITS)}")
    if labels is not None and utt.label not in labels:
        raise ManifestError(f"{where}: label {utt.label!r} is not in the protocol's labels "
                            f"({', '.join(labels)}); fix the row or the label map")
    for column in ("path", "audio"):
        value = getattr(utt, column)
        if value and not safe_relative(value):
            raise ManifestError(f"{where}: {column} {value!r} must be relative and stay inside its root")
    if utt.start is not None and utt.end is not None and utt.end <= utt.start:
        raise ManifestError(f"{where}: end {utt.end} must be after start {utt.start}")


def read_manifest(path: str | os.PathLike, labels: tuple[str, ...] | None = None) -> list[Utterance]:
    """Read and validate a manifest; `labels` (if given) is the closed set of allowed labels."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist; build it with `ser-reparam prepare`")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{path}: header lacks column(s) {', '.join(missing)}; "
                                f"expected {','.join(COLUMNS)}")
        rows, seen = [], {}
        for line, record in enumerate(reader, start=2):
            where = f"{path}:{line}"
            utt = Utterance(
                utt_id=(record.get("utt_id") or "").strip(), path=(record.get("path") or "").strip(),
                label=(record.get("label") or "").strip(), split=(record.get("split") or "").strip(),
                speaker=(record.get("speaker") or "").strip(),
                start=parse_seconds(record.get("start") or "", "start", where),
                end=parse_seconds(record.get("end") or "", "end", where),
                audio=(record.get("audio") or "").strip(),
                corpus=(record.get(EXTRA_COLUMN) or "").strip())
            check_row(utt, where, labels)
            if utt.utt_id in seen:
                raise ManifestError(f"{where}: duplicate utt_id {utt.utt_id!r} (first on line "
                                    f"{seen[utt.utt_id]})")
            seen[utt.utt_id] = line
            rows.append(utt)
    if not rows:
        raise ManifestError(f"{path}: no rows")
    return rows


def write_manifest(rows: list[Utterance], path: str | os.PathLike,
                   labels: tuple[str, ...] | None = None) -> None:
    """Validate and write rows atomically (duplicate utt_ids and bad rows are refused)."""
    seen = set()
    for index, utt in enumerate(rows, start=1):
        check_row(utt, f"row {index} ({utt.utt_id})", labels)
        if utt.utt_id in seen:
            raise ManifestError(f"row {index}: duplicate utt_id {utt.utt_id!r}")
        seen.add(utt.utt_id)
    text = io.StringIO()
    columns = COLUMNS + (EXTRA_COLUMN,) if any(utt.corpus for utt in rows) else COLUMNS
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(utt.row() for utt in rows)
    atomic_write_text(path, text.getvalue())


@dataclass
class PrepareReport:
    """What prepare kept, excluded and converted, by reason: nothing is dropped silently."""

    dataset: str
    root: str
    kept: Counter = field(default_factory=Counter)          # "split/label" -> count
    excluded: dict = field(default_factory=dict)            # reason -> [items]
    notes: dict = field(default_factory=dict)               # reason -> [items] (kept, but changed)

    def keep(self, utt: Utterance) -> None:
        self.kept[f"{utt.split}/{utt.label}"] += 1

    def exclude(self, reason: str, item: str) -> None:
        self.excluded.setdefault(reason, []).append(item)

    def note(self, reason: str, item: str) -> None:
        self.notes.setdefault(reason, []).append(item)

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "root": self.root, "kept_total": sum(self.kept.values()),
                "kept": dict(sorted(self.kept.items())),
                "excluded_total": sum(len(v) for v in self.excluded.values()),
                "excluded": {k: {"count": len(v), "items": v} for k, v in sorted(self.excluded.items())},
                "notes": {k: {"count": len(v), "items": v} for k, v in sorted(self.notes.items())}}

    def write(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def table(self) -> str:
        """A short plain-text summary for the terminal."""
        lines = [f"{self.dataset}: kept {sum(self.kept.values())} rows from {self.root}"]
        lines += [f"  kept     {key:<32}{count:>7}" for key, count in sorted(self.kept.items())]
        lines += [f"  excluded {reason:<32}{len(items):>7}  e.g. {items[0]}"
                  for reason, items in sorted(self.excluded.items())]
        lines += [f"  note     {reason:<32}{len(items):>7}  e.g. {items[0]}"
                  for reason, items in sorted(self.notes.items())]
        return "\n".join(lines)
