"""From corpus candidates to manifest rows: label map, path safety, pipeline audio.

Every candidate that does not become a row goes to the report under its reason, so a corpus
module only says what the corpus lists; the Collector decides what is kept.
"""
from __future__ import annotations

import difflib
from collections import Counter
from pathlib import Path, PurePosixPath

from ser_reparam.errors import AudioError, InputError

from ..audio import AudioCache
from ..manifest import PrepareReport, Utterance, safe_relative
from ..protocol import Protocol

MISSING = "missing file"
ESCAPES = "path escapes the data root (absolute, '..' or a symlink out)"
LOOP = "symlink loop (the link leads back to itself; point it at the audio file)"
NOT_A_FILE = "not a regular file (a FIFO, socket or device; copy the audio into a file)"


def utt_id_for(rel: str) -> str:
    """An utterance id from a root-relative path: folders joined by '__', suffix dropped."""
    return "__".join(PurePosixPath(rel).with_suffix("").parts)


def utt_ids_for(rels) -> dict[str, str]:
    """{path: utterance id} for several paths; files that differ only by suffix (clip.flac,
    clip.mp3) keep their suffix in the id, so neither replaces the other."""
    rels = list(dict.fromkeys(rels))
    bases = Counter(utt_id_for(rel) for rel in rels)
    return {rel: utt_id_for(rel) if bases[utt_id_for(rel)] == 1
            else f"{utt_id_for(rel)}_{PurePosixPath(rel).suffix.lstrip('.').lower()}" for rel in rels}


def check_label_names(first_seen: dict[str, str], listed: tuple[str, ...] | None, where: str,
                      counts: Counter | None = None) -> None:
    """Refuse labels the user did not mean: with `listed`, any label outside it; without, a label
    that looks like a typo of another (angyr / angry; the rarer one is named).
    `first_seen` maps label -> where it first occurs, `counts` label -> how often."""
    if listed is not None:
        unknown = sorted(set(first_seen) - set(listed))
        if unknown:
            raise InputError(f"{first_seen[unknown[0]]}: label {unknown[0]!r} is not one of the listed "
                             f"labels ({', '.join(listed)}); fix the label or add it to `labels`")
        return
    names = sorted(first_seen)
    for name in sorted(names, key=lambda n: ((counts or {}).get(n, 0), n)):
        close = difflib.get_close_matches(name, [n for n in names if n != name], n=1, cutoff=0.75)
        if close:
            raise InputError(f"{first_seen[name]}: labels {name!r} and {close[0]!r} (at "
                             f"{first_seen[close[0]]}) look like one class spelled two ways; fix the typo, "
                             "or if both are real classes list them: prepare option labels (--labels "
                             f"{','.join(names)} / data.prepare.labels) in {where}")


class Collector:
    """Holds the rows of one prepare run; corpus modules feed it candidates."""

    def __init__(self, root: Path, protocol: Protocol, report: PrepareReport, cache: AudioCache):
        self.root = Path(root)
        self.protocol = protocol
        self.report = report
        self.cache = cache
        self.rows: list[Utterance] = []
        self._kept: dict[str, str] = {}
        self._real_root = self.root.resolve()

    def labels(self) -> tuple[str, ...]:
        """The protocol's labels, or (generic layouts) the labels kept, sorted."""
        return self.protocol.labels or tuple(sorted({utt.label for utt in self.rows}))

    def label(self, raw: str, item: str) -> str | None:
        """The class of a raw label, or None (reported as excluded or unknown, by raw label)."""
        raw = raw.strip()
        if self.protocol.labels is None:
            if not raw:
                self.report.exclude("empty label", item)
            return raw or None
        if raw in self.protocol.label_map:
            return self.protocol.label_map[raw]
        kind = "excluded label" if raw in self.protocol.excluded else "unknown label"
        self.report.exclude(f"{kind} {raw!r}", item)
        return None

    def source(self, rel: str) -> Path | None:
        """The file `rel` inside the root, or None (reported) when it escapes the root, is missing
        or is no file to read."""
        rel = rel.strip().replace("\\", "/")
        if not rel:
            self.report.exclude("empty path", "(a row without a path)")
            return None
        path = self.root / rel
        reason = self._refusal(rel, path)
        if reason is not None:
            self.report.exclude(reason, rel)
            return None
        return path

    def _refusal(self, rel: str, path: Path) -> str | None:
        """Why `path` cannot be read as a corpus file, or None. A FIFO is never opened (it would
        block the run)."""
        if not safe_relative(rel):
            return ESCAPES
        try:
            real = path.resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
            return LOOP
        if not real.is_relative_to(self._real_root):
            return ESCAPES
        if path.is_file():
            return None
        return NOT_A_FILE if path.exists() else MISSING

    def usable(self, rel: str) -> tuple[str, str] | None:
        """(root-relative path, `audio` cell: '' = read directly) of a safe, present, decodable file.

        None (and the reason in the report) otherwise.
        """
        path = self.source(rel)
        if path is None:
            return None
        try:
            audio = self.cache.pipeline_audio(path)
        except AudioError as err:
            self.report.exclude(err.reason, rel)
            return None
        return path.relative_to(self.root).as_posix(), audio

    def keep(self, utt: Utterance) -> None:
        if utt.utt_id in self._kept:  # never let one row silently replace another
            raise InputError(f"{utt.path} and {self._kept[utt.utt_id]} both become utterance {utt.utt_id!r}; "
                             "rename one of them")
        self._kept[utt.utt_id] = utt.path
        self.rows.append(utt)
        self.report.keep(utt)

    def add(self, utt_id: str, rel: str, label: str, split: str, speaker: str,
            start: float | None = None, end: float | None = None) -> None:
        """Keep one utterance of an already mapped `label` if its file is usable."""
        found = self.usable(rel)
        if found is not None:
            self.keep(Utterance(utt_id, found[0], label, split, speaker, start, end, found[1]))
