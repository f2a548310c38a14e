"""Deterministic splits by group (speaker, or utterance when a corpus has no speaker information)."""
from __future__ import annotations

import random

from ser_reparam.errors import InputError

BY_SPEAKER = "split by speaker"
NO_SPEAKERS = "split made without speaker information"


def split_groups(groups, fractions: dict[str, float], seed: int) -> dict[str, str]:
    """group -> split: groups sorted, shuffled with random.Random(seed), then cut test, val, train.

    test and val get round(n * fraction) groups each, at least one when there are 3 or more
    groups; train gets the rest. Fewer than 3 groups all go to train.
    """
    ordered = sorted(set(groups))
    random.Random(seed).shuffle(ordered)
    n = len(ordered)
    n_test, n_val = round(n * fractions["test"]), round(n * fractions["val"])
    if n >= 3:
        n_test, n_val = max(1, n_test), max(1, n_val)
    if n and n - n_test - n_val < 1:
        raise InputError(f"split fractions {fractions} leave no training group among {n}")
    cuts = ["test"] * n_test + ["val"] * n_val + ["train"] * (n - n_test - n_val)
    return dict(zip(ordered, cuts))


def split_utterances(labels: dict[str, str], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """utt_id -> split when there is no speaker information: each label's utterances split on their own."""
    by_label: dict[str, list[str]] = {}
    for utt_id, label in labels.items():
        by_label.setdefault(label, []).append(utt_id)
    return {utt_id: split for label in sorted(by_label)
            for utt_id, split in split_groups(by_label[label], fractions, seed).items()}


def split_note(groups: str, fractions: dict[str, float], seed: int) -> str:
    """How split_groups cut `groups`, for the report."""
    return (f"{groups} sorted, shuffled with random.Random({seed}) and cut test {fractions['test']:g} / "
            f"val {fractions['val']:g} / rest train")


def utterance_note(fractions: dict[str, float], seed: int) -> str:
    """How split_utterances split, for the report: speaker-independence cannot be promised."""
    return split_note("per label, utterances", fractions, seed) + "; speaker = the utterance id"
