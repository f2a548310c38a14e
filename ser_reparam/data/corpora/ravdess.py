"""RAVDESS speech: Actor_XX/03-01-EE-II-SS-RR-AA.wav
(modality-channel-emotion-intensity-statement-repetition-actor).

Only audio-only (modality 03) speech (vocal channel 01) is kept; video files (01, 02) and song
(channel 02) are excluded by reason. The 48 kHz files are converted once to 16 kHz mono.
"""
from __future__ import annotations

import re

from ser_reparam.errors import NameRejected

from .collect import Collector
from .named_files import build_from_names

LAYOUT = "RAVDESS: Actor_XX/03-01-EE-II-SS-RR-AA.wav (e.g. Actor_01/03-01-05-01-02-01-01.wav)"
NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-\d{2}-\d{2}-\d{2}-(\d{2})\.(?:wav|mp4)$", re.IGNORECASE)


def parse(name: str) -> tuple[str, str] | None:
    match = NAME.match(name)
    if not match:
        return None
    modality, channel, emotion, actor = match.groups()
    if modality != "03":
        raise NameRejected(f"not audio-only (RAVDESS modality {modality})")
    if channel != "01":
        raise NameRejected(f"song, not speech (RAVDESS vocal channel {channel})")
    return emotion, f"Actor_{actor}"


def build(col: Collector, seed: int | None = None) -> None:
    build_from_names(col, "Actor_*/*", LAYOUT, parse, seed)
