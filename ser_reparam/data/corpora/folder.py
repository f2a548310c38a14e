"""A generic folder layout, root/<label>/<audio file>: the folder name is the label.

There is no speaker information, so the usable files are split per label by utterance
(groups.split_utterances) and the report says so; each utterance is its own speaker. Hidden
folders and the audio cache folder (when it lies inside the root) are not labels.
"""
from __future__ import annotations

from ..manifest import Utterance
from .collect import Collector, utt_id_for
from .groups import NO_SPEAKERS, split_utterances, utterance_note
from ser_reparam.errors import MissingInputError

LAYOUT = "one folder per label: <root>/<label>/<audio file>"


def build(col: Collector, seed: int | None = None) -> None:
    cache = col.cache.folder.resolve()
    folders = sorted(path for path in col.root.iterdir()
                     if path.is_dir() and not path.name.startswith(".") and path.resolve() != cache)
    files = [(path, folder.name) for folder in folders
             for path in sorted(entry for entry in folder.iterdir() if not entry.is_dir())]
    if not files:
        raise MissingInputError(f"no label folder with files under {col.root}; expected {LAYOUT}")
    usable = {}
    for path, label in files:
        found = col.usable(path.relative_to(col.root).as_posix())
        if found is not None:
            usable[utt_id_for(found[0])] = (found, label)
    split = col.protocol.split
    seed = split["seed"] if seed is None else seed
    assignment = split_utterances({utt_id: label for utt_id, (_, label) in usable.items()},
                                  split["fractions"], seed)
    col.report.note(NO_SPEAKERS, utterance_note(split["fractions"], seed))
    for utt_id, ((rel, audio), label) in usable.items():
        col.keep(Utterance(utt_id, rel, label, assignment[utt_id], utt_id, audio=audio))
