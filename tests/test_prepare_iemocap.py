"""IEMOCAP: EmoEvaluation lines -> 4 classes (hap + exc merged), session split, excluded files by reason."""
import json

import pytest
from corpus_files import corrupt, tone, zero_bytes

from ser_reparam.data.manifest import read_manifest
from ser_reparam.data.prepare import prepare_manifest

HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"


def evaluation(root, session, dialog, turns):
    """An EmoEvaluation file in the release's format, with the per-annotator lines after each turn."""
    blocks = [f"[{2.0 * i + 1.5:.4f} - {2.0 * i + 3.1:.4f}]\t{dialog}_{turn}\t{label}\t"
              "[2.5000, 3.0000, 2.5000]\n"
              "C-E2:\tNeutral;\t()\nC-E3:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n"
              for i, (turn, label) in enumerate(turns)]
    path = root / f"Session{session}" / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "\n".join(blocks))
    (path.parent / "Categorical").mkdir(exist_ok=True)          # the release's sub-folders are not read


def wav(root, session, dialog, turn):
    return root / f"Session{session}" / "sentences" / "wav" / dialog / f"{dialog}_{turn}.wav"


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "IEMOCAP_full_release"
    evaluation(root, 1, "Ses01F_impro01", [("F000", "neu"), ("M000", "hap"), ("F001", "exc"), ("M001", "fru"),
                                           ("F002", "xxx"), ("M002", "sad"), ("F003", "ang")])
    evaluation(root, 1, "Ses01M_script01_1", [("M000", "ang"), ("F000", "sur")])
    evaluation(root, 5, "Ses05F_impro02", [("F000", "sad"), ("M000", "neu"), ("M001", "dis"), ("F001", "neu"),
                                           ("M002", "hap")])
    for session, dialog, turn in [(1, "Ses01F_impro01", "F000"), (1, "Ses01F_impro01", "M000"),
                                  (1, "Ses01F_impro01", "F001"), (1, "Ses01F_impro01", "M001"),
                                  (1, "Ses01M_script01_1", "M000"), (5, "Ses05F_impro02", "F000"),
                                  (5, "Ses05F_impro02", "M000")]:
        tone(wav(root, session, dialog, turn))
    corrupt(wav(root, 1, "Ses01F_impro01", "F003"))
    zero_bytes(wav(root, 5, "Ses05F_impro02", "F001"))
    outside = tone(tmp_path / "elsewhere" / "stolen.wav")
    wav(root, 5, "Ses05F_impro02", "M002").symlink_to(outside)        # a symlink leading out of the root
    return root


def test_iemocap_rows_and_exclusions(tmp_path, corpus):
    out = tmp_path / "run" / "manifest.csv"
    report = prepare_manifest("iemocap", corpus, out)
    rows = read_manifest(out, labels=("neutral", "happy", "sad", "angry"))
    assert [(u.utt_id, u.path, u.label, u.split, u.speaker, u.start, u.end, u.audio) for u in rows] == [
        ("Ses01F_impro01_F000", "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav",
         "neutral", "train", "Ses01_F", None, None, ""),
        ("Ses01F_impro01_M000", "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.wav",
         "happy", "train", "Ses01_M", None, None, ""),
        ("Ses01F_impro01_F001", "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F001.wav",
         "happy", "train", "Ses01_F", None, None, ""),
        ("Ses01M_script01_1_M000", "Session1/sentences/wav/Ses01M_script01_1/Ses01M_script01_1_M000.wav",
         "angry", "train", "Ses01_M", None, None, ""),
        ("Ses05F_impro02_F000", "Session5/sentences/wav/Ses05F_impro02/Ses05F_impro02_F000.wav",
         "sad", "test", "Ses05_F", None, None, ""),
        ("Ses05F_impro02_M000", "Session5/sentences/wav/Ses05F_impro02/Ses05F_impro02_M000.wav",
         "neutral", "test", "Ses05_M", None, None, ""),
    ]
    summary = json.loads((tmp_path / "run" / "manifest_summary.json").read_text())
    assert summary == report.to_dict()
    assert {reason: entry["count"] for reason, entry in summary["excluded"].items()} == {
        "excluded label 'fru'": 1, "excluded label 'xxx'": 1, "excluded label 'sur'": 1,
        "excluded label 'dis'": 1, "missing file": 1, "unreadable audio (corrupt or not audio)": 1,
        "empty audio (no samples)": 1, "path escapes the data root (absolute, '..' or a symlink out)": 1}
    assert summary["excluded"]["missing file"]["items"] == [
        "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M002.wav"]
    assert summary["kept"] == {"test/neutral": 1, "test/sad": 1, "train/angry": 1, "train/happy": 2,
                               "train/neutral": 1}
    assert summary["notes"] == {} and not (tmp_path / "run" / "audio_cache").exists()


def test_fold_k_makes_session_k_the_test_set(tmp_path, corpus):
    prepare_manifest("iemocap", corpus, tmp_path / "fold1.csv", fold=1)
    splits = {u.utt_id: u.split for u in read_manifest(tmp_path / "fold1.csv")}
    assert splits == {"Ses01F_impro01_F000": "test", "Ses01F_impro01_M000": "test",
                      "Ses01F_impro01_F001": "test",
                      "Ses01M_script01_1_M000": "test", "Ses05F_impro02_F000": "train",
                      "Ses05F_impro02_M000": "train"}
    with pytest.raises(ValueError, match=r"fold 6 must be a session number, one of \[1, 2, 3, 4, 5\]"):
        prepare_manifest("iemocap", corpus, tmp_path / "fold6.csv", fold=6)


def test_a_root_without_emoevaluation_files_says_what_it_expected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError,
                       match="no EmoEvaluation files under .*SessionN/dialog/EmoEvaluation"):
        prepare_manifest("iemocap", tmp_path / "empty", tmp_path / "m.csv")
