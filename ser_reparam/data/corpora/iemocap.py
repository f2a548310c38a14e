"""IEMOCAP (IEMOCAP_full_release): the paper's 4-class protocol, split by session.

Labels come from SessionN/dialog/EmoEvaluation/<dialog>.txt, one line per utterance:
`[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`; the audio is
SessionN/sentences/wav/<dialog>/<utterance>.wav. hap and exc are merged into happy; fru, sur,
fea, dis, oth and xxx are excluded (data_manifests/iemocap.yaml). Sessions 1-4 train, 5 test
(4,290 / 1,241 utterances on the full corpus); `fold=K` makes session K the test set for
leave-one-session-out. Speaker = session + the gender letter of the utterance's own speaker
(Ses01F_impro01_M003 -> Ses01_M).
"""
from __future__ import annotations

import re

from ser_reparam.errors import InputError, MissingInputError

from .collect import Collector

LAYOUT = ("IEMOCAP_full_release: SessionN/dialog/EmoEvaluation/<dialog>.txt and "
          "SessionN/sentences/wav/<dialog>/<utterance>.wav")
LINE = re.compile(r"^\[(?P<start>[\d.]+) - (?P<end>[\d.]+)\]\t(?P<utt>\S+)\t(?P<label>\S+)\t\[")


def build(col: Collector, fold: int | None = None) -> None:
    sessions = col.protocol.split["sessions"]
    test_session = col.protocol.split["test_session"] if fold is None else fold
    if test_session not in sessions:
        raise InputError(f"iemocap fold {fold!r} must be a session number, one of {sessions}")
    evaluations = [(session, path) for session in sessions
                   for path in sorted(col.root.glob(f"Session{session}/dialog/EmoEvaluation/Ses*.txt"))]
    if not evaluations:
        raise MissingInputError(f"no EmoEvaluation files under {col.root}; expected {LAYOUT}")
    for session, path in evaluations:
        split = "test" if session == test_session else "train"
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = LINE.match(line)
            if not match:
                continue
            utt = match["utt"]
            rel = f"Session{session}/sentences/wav/{path.stem}/{utt}.wav"
            label = col.label(match["label"], rel)
            if label is not None:
                col.add(utt, rel, label, split, f"{utt[:5]}_{utt.rsplit('_', 1)[-1][:1]}")
