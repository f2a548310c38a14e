"""DAIC-WOZ, AVEC 2017 depression protocol: participant speech in fixed-length clips, binary PHQ-8.

Layout under the data root: train_split_Depression_AVEC2017.csv and
dev_split_Depression_AVEC2017.csv (columns include Participant_ID and PHQ8_Binary), and one
folder per session, <id>_P/<id>_AUDIO.wav with <id>_P/<id>_TRANSCRIPT.csv (tab-separated
start_time, stop_time, speaker, value; speaker is Ellie or Participant).

The Participant's rows are cut from the session audio and concatenated into one
participant-only 16 kHz WAV in the audio cache (the manifest's `audio` column); that file is
cut into clips of `clips.seconds` (10 s) given by start/end rows, and the shorter tail is
dropped and counted in the report (the paper: 5,084 train and 1,931 dev clips from 107 / 35
participants). The dev split becomes the manifest split `test`: the paper reports MF1 on dev,
the test split's labels are not public.
"""
from __future__ import annotations

import math
from pathlib import Path

from ser_reparam.errors import AudioError, InputError, MissingInputError

from ..manifest import Utterance
from .collect import Collector
from .tables import read_table

LAYOUT = ("DAIC-WOZ (AVEC 2017): train_split_Depression_AVEC2017.csv, dev_split_Depression_AVEC2017.csv "
          "and <id>_P/<id>_AUDIO.wav with <id>_P/<id>_TRANSCRIPT.csv per participant")
SPLIT_COLUMNS = ("Participant_ID", "PHQ8_Binary")
TRANSCRIPT_COLUMNS = ("start_time", "stop_time", "speaker")


def build(col: Collector, clip_seconds: float | None = None) -> None:
    clips = col.protocol.details["clips"]
    seconds = float(clips["seconds"] if clip_seconds is None else clip_seconds)
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(f"daic_woz clip_seconds must be a positive number of seconds, got {clip_seconds!r}")
    seen: dict[str, str] = {}
    for split, rel in col.protocol.split["files"].items():
        for participant, raw_label in _split_rows(col.root / rel):
            if participant in seen:
                raise InputError(f"{col.root / rel}: participant {participant} is also in the "
                                 f"{seen[participant]} split list")
            seen[participant] = split
            label = col.label(raw_label, f"{participant}_P")
            if label is not None:
                _add_participant(col, participant, label, split, clips["speaker"], seconds)


def _split_rows(path: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        raise MissingInputError(f"DAIC-WOZ split file {path} is missing; expected {LAYOUT}")
    _, rows = read_table(path, SPLIT_COLUMNS, "the AVEC 2017 split file")
    return [(row["Participant_ID"].strip(), row["PHQ8_Binary"].strip()) for row in rows]


def _add_participant(col: Collector, participant: str, label: str, split: str, role: str,
                     seconds: float) -> None:
    audio_rel = f"{participant}_P/{participant}_AUDIO.wav"
    transcript_rel = f"{participant}_P/{participant}_TRANSCRIPT.csv"
    audio, transcript = col.source(audio_rel), col.source(transcript_rel)
    if audio is None or transcript is None:
        return
    try:
        segments, empty_lines = _speaker_segments(transcript, role)
    except ValueError as err:
        col.report.exclude("unreadable transcript", str(err))
        return
    for line in empty_lines:
        col.report.exclude("transcript row with stop_time not after start_time", f"{transcript_rel}:{line}")
    if not segments:
        col.report.exclude(f"no {role} rows in the transcript", transcript_rel)
        return
    try:
        cached, total = col.cache.excerpt(audio, segments)
    except AudioError as err:
        col.report.exclude(err.reason, audio_rel)
        return
    count = math.floor(total / seconds + 1e-9)
    for index in range(count):
        col.keep(Utterance(f"{participant}_clip{index:03d}", audio_rel, label, split, participant,
                           index * seconds, (index + 1) * seconds, cached))
    tail = total - count * seconds
    if tail > 1e-6:
        col.report.exclude(f"tail shorter than a {seconds:g} s clip", f"{audio_rel} ({tail:.2f} s)")


def _speaker_segments(path: Path, role: str) -> tuple[list[tuple[float, float]], list[int]]:
    """(start, stop) seconds of the rows spoken by `role`, in file order, and the lines with no duration."""
    _, rows = read_table(path, TRANSCRIPT_COLUMNS, "a tab-separated transcript", delimiter="\t")
    segments, empty_lines = [], []
    for line, row in enumerate(rows, start=2):
        if (row["speaker"] or "").strip() != role:
            continue
        try:
            start, stop = float(row["start_time"]), float(row["stop_time"])
        except (TypeError, ValueError):
            raise InputError(f"{path}:{line}: times {row['start_time']!r}, {row['stop_time']!r} "
                             f"are not numbers") from None
        if stop > start:
            segments.append((start, stop))
        else:
            empty_lines.append(line)
    return segments, empty_lines
