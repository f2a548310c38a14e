"""CREMA-D: AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav, e.g. 1001_DFA_ANG_XX.wav (16 kHz mono)."""
from __future__ import annotations

import re

from .collect import Collector
from .named_files import build_from_names

LAYOUT = "CREMA-D: AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav (e.g. AudioWAV/1001_DFA_ANG_XX.wav)"
NAME = re.compile(r"^(\d{4})_[A-Z]{3}_([A-Z]{3})_[A-Z]{1,2}\.wav$", re.IGNORECASE)


def parse(name: str) -> tuple[str, str] | None:
    match = NAME.match(name)
    return None if match is None else (match[2].upper(), match[1])


def build(col: Collector, seed: int | None = None) -> None:
    build_from_names(col, "AudioWAV/*", LAYOUT, parse, seed)
