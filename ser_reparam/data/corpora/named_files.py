"""Corpora whose file names carry label and speaker (RAVDESS, CREMA-D, EmoDB): one shared driver.

Each corpus module gives a glob pattern and a parser; the speakers of the usable files are
split by the protocol's fractions and seed (groups.split_groups), so the same files always give
the same split.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from ser_reparam.errors import MissingInputError, NameRejected

from ..manifest import Utterance
from .collect import Collector
from .groups import BY_SPEAKER, split_groups, split_note

NOT_CONVENTION = "file name does not follow the corpus convention"


def build_from_names(col: Collector, pattern: str, layout: str,
                     parse: Callable[[str], tuple[str, str] | None], seed: int | None) -> None:
    """`parse(file name)` -> (raw label, speaker), None if the name is not the corpus's, or NameRejected."""
    files = sorted(path for path in col.root.glob(pattern) if not path.is_dir())
    if not files:
        raise MissingInputError(f"no files match {pattern} under {col.root}; expected {layout}")
    candidates = []
    for path in files:
        rel = path.relative_to(col.root).as_posix()
        try:
            parsed = parse(path.name)
        except NameRejected as err:
            col.report.exclude(str(err), rel)
            continue
        if parsed is None:
            col.report.exclude(NOT_CONVENTION, rel)
            continue
        label = col.label(parsed[0], rel)
        found = None if label is None else col.usable(rel)
        if found is not None:
            candidates.append((found, label, parsed[1]))
    split = col.protocol.split
    seed = split["seed"] if seed is None else seed
    assignment = split_groups((speaker for _, _, speaker in candidates), split["fractions"], seed)
    col.report.note(BY_SPEAKER, split_note("speakers", split["fractions"], seed))
    for (rel, audio), label, speaker in candidates:
        col.keep(Utterance(PurePosixPath(rel).stem, rel, label, assignment[speaker], speaker, audio=audio))
