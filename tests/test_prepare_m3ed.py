"""M3ED: annotation.json + movie split lists; utterance WAVs, or clips of the dialog video's audio."""
import json

import pytest
import soundfile as sf
from corpus_files import corrupt, dominant_frequency, tone, video

from ser_reparam.data.manifest import read_manifest
from ser_reparam.data.prepare import prepare_manifest

LABELS = ("happy", "surprise", "sad", "disgust", "anger", "fear", "neutral")


def utterance(start, end, speaker, emotion):
    return {"StartTime": start, "EndTime": end, "Text": "你先把衣服换了", "Speaker": speaker,
            "EmoAnnotation": {"EmoAnnotator1": emotion, "EmoAnnotator2": emotion, "EmoAnnotator3": emotion,
                              "final_mul_emo": emotion, "final_main_emo": emotion}}


def dialog(names, utterances):
    info = {key: {"Name": name, "Age": "mid", "Gender": "female", "OtherName": []}
            for key, name in names.items()}
    return {"SpeakerInfo": info, "Dialog": utterances}


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "M3ED"
    annotation = {
        "anjia": {"anjia_1": dialog({"A": "房似锦", "B": "朱闪闪"}, {
            "anjia_1_1": utterance("00:00:00:01", "00:00:01:04", "A", "Neutral"),
            "anjia_1_2": utterance("00:00:01:10", "00:00:02:00", "B", "Happy"),
            "anjia_1_3": utterance("00:00:02:05", "00:00:03:00", "A", "Anger")})},          # no audio at all
        "woju": {"woju_3": dialog({"A": "郭海萍", "B": "郭海藻"}, {
            "woju_3_1": utterance("00:00:00:01", "00:00:00:10", "A", "Sad"),
            "woju_3_2": utterance("00:00:00:12", "00:00:01:02", "B", "Surprise"),
            "woju_3_3": utterance("00:00:00:12", "00:00:01:02", "A", "Other"),
            # end before start
            "woju_3_4": utterance("00:00:01:05", "00:00:01:01", "B", "Fear")})},
        "huanlesong": {"huanlesong_2": dialog({"A": "安迪", "B": "曲筱绡"}, {
            "huanlesong_2_1": utterance("00:00:00:01", "00:00:01:00", "B", "Fear"),
            "huanlesong_2_2": utterance("00:00:01:03", "00:00:02:00", "A", "Disgust")})},
        "unlisted": {"unlisted_1": dialog({"A": "x", "B": "y"}, {
            "unlisted_1_1": utterance("00:00:00:01", "00:00:01:00", "A", "Happy")})},
    }
    root.mkdir()
    (root / "annotation.json").write_text(json.dumps(annotation, ensure_ascii=False, indent=4),
                                          encoding="utf-8")
    (root / "splitInfo").mkdir()
    for split, movies in {"train": ["anjia", "shaonianpai"], "val": ["woju"], "test": ["huanlesong"]}.items():
        (root / "splitInfo" / f"movie_list_{split}.txt").write_text("\n".join(movies))
    for name in ["A_anjia_1_1", "B_anjia_1_2", "A_huanlesong_2_2", "A_unlisted_1_1"]:
        tone(root / "modality_speech" / f"{name}.wav")
    corrupt(root / "modality_speech" / "B_huanlesong_2_1.wav")
    video(root / "woju" / "woju_3.mp4", seconds=1.2, freq=440)      # only the video for this dialog
    return root


def test_m3ed_rows_from_utterance_audio_and_from_the_dialog_video(tmp_path, corpus):
    out = tmp_path / "run" / "m3ed.csv"
    report = prepare_manifest("m3ed", corpus, out)
    rows = read_manifest(out, labels=LABELS)
    dialog_audio = rows[2].audio
    assert [(u.utt_id, u.path, u.label, u.split, u.speaker, u.start, u.end, u.audio) for u in rows] == [
        ("anjia_1_1", "modality_speech/A_anjia_1_1.wav", "neutral", "train", "anjia_房似锦", None, None, ""),
        ("anjia_1_2", "modality_speech/B_anjia_1_2.wav", "happy", "train", "anjia_朱闪闪", None, None, ""),
        ("woju_3_1", "woju/woju_3.mp4", "sad", "val", "woju_郭海萍", 0.09, 0.45, dialog_audio),
        ("woju_3_2", "woju/woju_3.mp4", "surprise", "val", "woju_郭海藻", 0.53, 1.13, dialog_audio),
        ("huanlesong_2_2", "modality_speech/A_huanlesong_2_2.wav", "disgust", "test", "huanlesong_安迪",
         None, None, ""),
    ]
    signal, rate = sf.read(out.parent / dialog_audio)
    assert dialog_audio.startswith("audio_cache/") and rate == 16000 and signal.ndim == 1
    assert dominant_frequency(signal, rate) == pytest.approx(440, abs=2)
    summary = report.to_dict()
    assert {reason: entry["count"] for reason, entry in summary["excluded"].items()} == {
        "missing file": 1, "unknown label 'Other'": 1, "unusable timecode (HH:MM:SS:FF, end after start)": 1,
        "unreadable audio (corrupt or not audio)": 1, "movie not in any split list": 1}
    assert summary["excluded"]["missing file"]["items"] == [
        "modality_speech/A_anjia_1_3.wav (no dialog video anjia/anjia_1.mp4 either)"]
    assert summary["excluded"]["unusable timecode (HH:MM:SS:FF, end after start)"]["items"] == [
        "woju_3_4 (00:00:01:05 - 00:00:01:01)"]
    assert summary["notes"] == {"written to the audio cache as 16 kHz mono WAV": {
        "count": 1, "items": ["woju/woju_3.mp4"]}}

    again = prepare_manifest("m3ed", corpus, out).to_dict()
    assert again["kept"] == summary["kept"] and again["excluded"] == summary["excluded"]
    assert again["notes"] == {"reused from the audio cache": {"count": 1, "items": ["woju/woju_3.mp4"]}}


def test_a_movie_in_two_split_lists_is_refused(tmp_path, corpus):
    (corpus / "splitInfo" / "movie_list_test.txt").write_text("huanlesong\nanjia\n")
    with pytest.raises(ValueError, match="movie 'anjia' is also in the train list"):
        prepare_manifest("m3ed", corpus, tmp_path / "m.csv")


def test_missing_split_lists_say_what_layout_is_expected(tmp_path):
    (tmp_path / "M3ED").mkdir()
    with pytest.raises(FileNotFoundError, match=r"movie_list_train.txt is missing; expected M3ED: "
                                                r"annotation.json"):
        prepare_manifest("m3ed", tmp_path / "M3ED", tmp_path / "m.csv")
