"""Validation rules: the manifest's split, held-out training speakers, or none."""
import pytest

from ser_reparam.data.manifest import Utterance
from ser_reparam.data.splits import assign_validation


def rows(with_val=False):
    out = [Utterance(f"{s}_{k}", f"{s}/{k}.wav", "sad", "train", s) for s in "ABCDEFGHIJ" for k in range(2)]
    out += [Utterance(f"T_{k}", f"T/{k}.wav", "sad", "test", "T") for k in range(2)]
    if with_val:
        out += [Utterance("V_0", "V/0.wav", "sad", "val", "V")]
    return out


def test_auto_holds_out_ten_percent_of_training_speakers():
    result, note = assign_validation(rows(), "auto")
    val_speakers = {u.speaker for u in result if u.split == "val"}
    assert len(val_speakers) == 1 and "held out" in note
    assert len(result) == len(rows())                        # nothing dropped
    assert assign_validation(rows(), "auto")[0] == result     # the same for every call (fixed seed)


def test_speakers_rule_and_existing_val_rows_are_kept():
    result, note = assign_validation(rows(with_val=True), "speakers:3")
    assert len({u.speaker for u in result if u.split == "val"}) == 4   # 3 held out + the manifest's V
    assert "plus the manifest's val rows" in note


def test_split_and_none():
    result, _ = assign_validation(rows(with_val=True), "auto")
    assert [u.utt_id for u in result if u.split == "val"] == ["V_0"]
    result, note = assign_validation(rows(with_val=True), "none")
    assert len(result) == 23 and "1 val rows unused" in note


@pytest.mark.parametrize("rule,message", [
    ("split", "has no val rows"), ("speakers:10", r"need 1 <= N < 10"), ("speakers:x", "speakers:N"),
    ("half", "must be 'auto'"),
])
def test_bad_rules(rule, message):
    with pytest.raises(ValueError, match=message):
        assign_validation(rows(), rule)


def speaker_rows():
    return [Utterance(f"{s}_{k}", f"{s}/{k}.wav", "sad", split, s)
            for s, split in zip("DBACE", ["train", "val", "test", "train", "train"]) for k in range(2)]


def test_leave_one_speaker_out_folds():
    from ser_reparam.data.splits import assign_fold, speaker_folds

    assert speaker_folds(speaker_rows(), "loso") == [["A"], ["B"], ["C"], ["D"], ["E"]]
    assert speaker_folds(speaker_rows(), 2) == [["A", "C", "E"], ["B", "D"]]
    result, note = assign_fold(speaker_rows(), "loso", 1)
    assert {u.speaker for u in result if u.split == "test"} == {"B"}        # the protocol's val/test replaced
    assert {u.split for u in result if u.speaker != "B"} == {"train"} and len(result) == 10
    assert note == "fold 1 of 5 (leave one speaker out): test speakers B"
    # then the validation rule holds out one of the remaining training speakers
    held, _ = assign_validation(result, "speakers:1")
    assert {u.split for u in held} == {"train", "val", "test"}


@pytest.mark.parametrize("folds,fold,message", [
    (6, 0, "has 5 speaker"), ("loso", 5, "has folds 0 … 4")])
def test_bad_folds(folds, fold, message):
    from ser_reparam.data.splits import assign_fold

    with pytest.raises(ValueError, match=message):
        assign_fold(speaker_rows(), folds, fold)
