"""RAVDESS, CREMA-D, EmoDB: labels and speakers from file names, seeded speaker-independent split."""
import pytest
import soundfile as sf
from corpus_files import corrupt, tone, zero_bytes

from ser_reparam.data.corpora.groups import split_groups
from ser_reparam.data.manifest import read_manifest
from ser_reparam.data.prepare import prepare_manifest

FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def counts(report):
    return {reason: entry["count"] for reason, entry in report.to_dict()["excluded"].items()}


@pytest.fixture
def ravdess(tmp_path):
    root = tmp_path / "RAVDESS"
    tone(root / "Actor_01" / "03-01-05-01-02-01-01.wav", rate=48000, channels=2)      # angry, stereo
    tone(root / "Actor_01" / "03-01-01-01-01-01-01.wav", rate=48000, freq=230)        # neutral
    tone(root / "Actor_02" / "03-01-03-02-01-02-02.wav", rate=48000, freq=240)        # happy
    tone(root / "Actor_03" / "03-01-04-01-01-01-03.wav", rate=48000, freq=250)        # sad
    tone(root / "Actor_04" / "03-01-08-01-01-01-04.wav", rate=48000, freq=260)        # surprised
    tone(root / "Actor_01" / "03-02-05-01-01-01-01.wav", rate=48000)                  # song
    (root / "Actor_02" / "01-01-03-01-01-01-02.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")  # AV video
    (root / "Actor_03" / "notes.txt").write_text("not a recording")
    tone(root / "Actor_04" / "03-01-09-01-01-01-04.wav", rate=48000)                  # no emotion 09
    return root


def test_ravdess_keeps_audio_only_speech_and_converts_48k_once(tmp_path, ravdess):
    out = tmp_path / "run" / "ravdess.csv"
    report = prepare_manifest("ravdess", ravdess, out)
    rows = read_manifest(out)
    assert [(u.utt_id, u.path, u.label, u.split, u.speaker) for u in rows] == [
        ("03-01-01-01-01-01-01", "Actor_01/03-01-01-01-01-01-01.wav", "neutral", "val", "Actor_01"),
        ("03-01-05-01-02-01-01", "Actor_01/03-01-05-01-02-01-01.wav", "angry", "val", "Actor_01"),
        ("03-01-03-02-01-02-02", "Actor_02/03-01-03-02-01-02-02.wav", "happy", "train", "Actor_02"),
        ("03-01-04-01-01-01-03", "Actor_03/03-01-04-01-01-01-03.wav", "sad", "test", "Actor_03"),
        ("03-01-08-01-01-01-04", "Actor_04/03-01-08-01-01-01-04.wav", "surprised", "train", "Actor_04"),
    ]
    assert counts(report) == {"song, not speech (RAVDESS vocal channel 02)": 1,
                              "not audio-only (RAVDESS modality 01)": 1,
                              "file name does not follow the corpus convention": 1, "unknown label '09'": 1}
    for utt in rows:
        info = sf.info(out.parent / utt.audio)
        assert utt.audio.startswith("audio_cache/") and (info.samplerate, info.channels) == (16000, 1)
    stamps = {utt.audio: (out.parent / utt.audio).stat().st_mtime_ns for utt in rows}
    assert report.to_dict()["notes"]["written to the audio cache as 16 kHz mono WAV"]["count"] == 5

    again = prepare_manifest("ravdess", ravdess, out)
    assert read_manifest(out) == rows
    assert {audio: (out.parent / audio).stat().st_mtime_ns for audio in stamps} == stamps
    assert set(again.to_dict()["notes"]) == {"split by speaker", "reused from the audio cache"}
    assert again.to_dict()["notes"]["reused from the audio cache"]["count"] == 5


def test_the_seed_option_changes_the_speaker_split_deterministically(tmp_path, ravdess):
    prepare_manifest("ravdess", ravdess, tmp_path / "seed1.csv", seed=1)
    speakers = {u.speaker: u.split for u in read_manifest(tmp_path / "seed1.csv")}
    assert speakers == {"Actor_01": "val", "Actor_02": "train", "Actor_03": "train", "Actor_04": "test"}
    assert speakers == split_groups(speakers, FRACTIONS, 1)


def test_crema_d(tmp_path):
    root = tmp_path / "CREMA-D"
    for name in ["1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_DFA_SAD_XX", "1004_TIE_FEA_LO",
                 "1005_MTI_DIS_MD",
                 "1005_DFA_NEU_XX", "1006_DFA_XYZ_XX"]:
        tone(root / "AudioWAV" / f"{name}.wav")
    zero_bytes(root / "AudioWAV" / "1003_ITH_NEU_XX.wav")
    corrupt(root / "AudioWAV" / "1002_IWW_ANG_XX.wav")
    (root / "AudioWAV" / "1001_DFA_ANG.wav.bak").write_bytes(b"old")
    report = prepare_manifest("crema_d", root, tmp_path / "crema.csv")
    rows = read_manifest(tmp_path / "crema.csv")
    assert [(u.utt_id, u.label, u.split, u.speaker, u.audio) for u in rows] == [
        ("1001_DFA_ANG_XX", "anger", "val", "1001", ""), ("1001_IEO_HAP_HI", "happy", "val", "1001", ""),
        ("1002_DFA_SAD_XX", "sad", "train", "1002", ""), ("1004_TIE_FEA_LO", "fear", "test", "1004", ""),
        ("1005_DFA_NEU_XX", "neutral", "train", "1005", ""),
        ("1005_MTI_DIS_MD", "disgust", "train", "1005", "")]
    assert counts(report) == {"empty audio (no samples)": 1, "unreadable audio (corrupt or not audio)": 1,
                              "unknown label 'XYZ'": 1, "file name does not follow the corpus convention": 1}
    # only speakers with a usable file take part in the split: 1003 (an empty file) would have drawn test
    assert split_groups(["1001", "1002", "1003", "1004", "1005"], FRACTIONS, 0)["1003"] == "test"


def test_emodb(tmp_path):
    root = tmp_path / "emodb"
    for name in ["03a01Fa", "03a01Wa", "08b02Tc", "09a05Nb", "10a04La", "11b09Ea", "12a02Ac", "03a01Xa"]:
        tone(root / "wav" / f"{name}.wav")
    (root / "wav" / "03a01Fa.WAV.txt").write_text("x")
    report = prepare_manifest("emodb", root, tmp_path / "emodb.csv")
    rows = read_manifest(tmp_path / "emodb.csv", labels=("anger", "boredom", "disgust", "fear", "happiness",
                                                         "sadness", "neutral"))
    assert [(u.utt_id, u.label, u.split, u.speaker) for u in rows] == [
        ("03a01Fa", "happiness", "train", "03"), ("03a01Wa", "anger", "train", "03"),
        ("08b02Tc", "sadness", "train", "08"), ("09a05Nb", "neutral", "val", "09"),
        ("10a04La", "boredom", "train", "10"), ("11b09Ea", "disgust", "test", "11"),
        ("12a02Ac", "fear", "train", "12")]
    assert counts(report) == {"unknown label 'X'": 1, "file name does not follow the corpus convention": 1}
    assert report.to_dict()["notes"]["split by speaker"]["items"] == [
        "speakers sorted, shuffled with random.Random(0) and cut test 0.1 / val 0.1 / rest train"]


def test_no_matching_files_names_the_layout(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no files match Actor_\*/\* .* "
                                                r"Actor_01/03-01-05-01-02-01-01.wav"):
        prepare_manifest("ravdess", tmp_path / "empty", tmp_path / "r.csv")
