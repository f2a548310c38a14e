"""Berlin EmoDB: wav/03a01Fa.wav = speaker (2 digits), text code (3), emotion letter, version letter."""
from __future__ import annotations

import re

from .collect import Collector
from .named_files import build_from_names

LAYOUT = "EmoDB: wav/<speaker><text><emotion><version>.wav (e.g. wav/03a01Fa.wav)"
NAME = re.compile(r"^(\d{2})[a-z]\d{2}([A-Z])[a-z]\.wav$")


def parse(name: str) -> tuple[str, str] | None:
    match = NAME.match(name)
    return None if match is None else (match[2], match[1])


def build(col: Collector, seed: int | None = None) -> None:
    build_from_names(col, "wav/*", LAYOUT, parse, seed)
