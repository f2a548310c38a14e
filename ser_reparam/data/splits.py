"""Validation data for model selection, when the dataset protocol has none.

The paper's IEMOCAP protocol has only train (sessions 1–4) and test (session 5) and does not
say how the checkpoint was chosen; choosing it on test would leak. Rules:

  split        use the manifest's own `val` rows (error if there are none)
  speakers:N   move N training speakers to `val` (chosen by a fixed-seed shuffle of the sorted
               speaker list, the same for every training seed)
  none         no validation: the last epoch is kept (val rows, if any, stay unused)
  auto         `split` when the manifest has val rows, else speakers:K with K = 10 % of the
               training speakers (at least 1) — for IEMOCAP one of the eight training speakers
"""
from __future__ import annotations

import dataclasses
import random

from ser_reparam.data.manifest import Utterance
from ser_reparam.errors import InputError

VAL_SEED = 20240521


def assign_validation(rows: list[Utterance], rule: str) -> tuple[list[Utterance], str]:
    """Rows with the validation rule applied, and a sentence saying what was done."""
    has_val = any(u.split == "val" for u in rows)
    train_speakers = sorted({u.speaker for u in rows if u.split == "train"})
    if rule == "auto":
        rule = "split" if has_val else f"speakers:{max(1, round(0.1 * len(train_speakers)))}"
    if rule == "none":
        unused = sum(u.split == "val" for u in rows)
        return rows, f"no validation: the last epoch is kept ({unused} val rows unused)"
    if rule == "split":
        if not has_val:
            raise InputError("data.val = 'split' but the manifest has no val rows; "
                             "use 'speakers:N' to hold out training speakers")
        return rows, "validation = the manifest's val split"
    if rule.startswith("speakers:"):
        try:
            count = int(rule.split(":", 1)[1])
        except ValueError:
            raise InputError(f"data.val {rule!r}: write speakers:N with N a number of speakers") from None
        if not 1 <= count < len(train_speakers):
            raise InputError(f"data.val {rule!r}: need 1 <= N < {len(train_speakers)} training speakers")
        held = sorted(random.Random(VAL_SEED).sample(train_speakers, count))
        rows = [dataclasses.replace(u, split="val") if u.split == "train" and u.speaker in held else u
                for u in rows]
        extra = " plus the manifest's val rows" if has_val else ""
        return rows, f"validation = training speakers {', '.join(held)} held out ({rule}){extra}"
    raise InputError(f"data.val {rule!r} must be 'auto', 'split', 'speakers:N' or 'none'")


def speaker_folds(rows: list[Utterance], folds: str | int) -> list[list[str]]:
    """The test speakers of each fold: 'loso' = one fold per speaker (sorted), K = the sorted
    speakers dealt round-robin into K folds (the same for every seed and every run)."""
    speakers = sorted({u.speaker for u in rows if u.speaker})
    count = len(speakers) if folds == "loso" else int(folds)
    if len(speakers) < 2 or count > len(speakers):
        raise InputError(f"data.cv_folds {folds!r}: the manifest has {len(speakers)} speaker(s) "
                         f"({', '.join(speakers) or 'the speaker column is empty'}); speaker folds need "
                         f"at least 2 speakers and no more folds than speakers")
    return [speakers[k::count] for k in range(count)]


def assign_fold(rows: list[Utterance], folds: str | int, fold: int) -> tuple[list[Utterance], str]:
    """Rows of cross-validation fold `fold`: its speakers are `test`, every other row `train`
    (the protocol's own train / val / test split is replaced); then the validation rule applies."""
    groups = speaker_folds(rows, folds)
    if not 0 <= fold < len(groups):
        raise InputError(f"data.cv_fold {fold}: this manifest has folds 0 … {len(groups) - 1} ({folds})")
    test = set(groups[fold])
    rows = [dataclasses.replace(u, split="test" if u.speaker in test else "train") for u in rows]
    kind = "leave one speaker out" if folds == "loso" else f"{folds} speaker folds"
    return rows, f"fold {fold} of {len(groups)} ({kind}): test speakers {', '.join(groups[fold])}"
