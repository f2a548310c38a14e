"""A generic folder layout, root/<label>/<audio file>: the folder name is the label.

There is no speaker information, so the usable files are split per label by utterance
(groups.split_utterances) and the report says so; each utterance is its own speaker. Hidden
folders and the audio cache folder (when it lies inside the root) are not labels.
"""
from __future__ import annotations

from collections import Counter

from ser_reparam.errors import MissingInputError

from ..manifest import Utterance
from .collect import Collector, check_label_names, utt_ids_for
from .groups import NO_SPEAKERS, split_utterances, utterance_note

LAYOUT = "one folder per label: <root>/<label>/<audio file>"


AT_ROOT = "file at the data root, not in a label folder"
NESTED = "in a sub-folder of a label folder (only <root>/<label>/<file> is read)"


def build(col: Collector, seed: int | None = None, labels: list[str] | None = None) -> None:
    """`labels`: the classes you expect; without it a label that looks like a typo of another is refused."""
    cache = col.cache.folder.resolve()
    folders = sorted(path for path in col.root.iterdir()
                     if path.is_dir() and not path.name.startswith(".") and path.resolve() != cache)
    files = [(path, folder.name) for folder in folders
             for path in sorted(entry for entry in folder.iterdir() if not entry.is_dir())]
    _count_unread(col, folders)
    if not files:
        raise MissingInputError(f"no label folder with files under {col.root}; expected {LAYOUT}")
    check_label_names({label: f"{col.root / label}/" for _, label in files},
                      None if labels is None else tuple(labels), "the folder dataset",
                      Counter(label for _, label in files))
    ids = utt_ids_for(path.relative_to(col.root).as_posix() for path, _ in files)
    usable = {}
    for path, label in files:
        found = col.usable(path.relative_to(col.root).as_posix())
        if found is not None:
            usable[ids[found[0]]] = (found, label)
    split = col.protocol.split
    seed = split["seed"] if seed is None else seed
    assignment = split_utterances({utt_id: label for utt_id, (_, label) in usable.items()},
                                  split["fractions"], seed)
    col.report.note(NO_SPEAKERS, utterance_note(split["fractions"], seed))
    for utt_id, ((rel, audio), label) in usable.items():
        col.keep(Utterance(utt_id, rel, label, assignment[utt_id], utt_id, audio=audio))


def _count_unread(col: Collector, folders: list) -> None:
    """Report the files this layout does not read (at the root, or nested below a label folder);
    prepare's own outputs (manifest CSV and summary beside it) and hidden files are not candidates."""
    for path in sorted(col.root.iterdir()):
        own = path.parent.resolve() == col.cache.manifest_dir.resolve() and path.suffix in (".csv", ".json")
        if path.is_file() and not path.name.startswith(".") and not own:
            col.report.exclude(AT_ROOT, path.name)
    for folder in folders:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            for path in sorted(p for p in sub.rglob("*") if p.is_file()):
                col.report.exclude(NESTED, path.relative_to(col.root).as_posix())
