"""DAIC-WOZ: participant rows concatenated into one cached WAV, cut into fixed clips; dev -> test."""
import numpy as np
import pytest
import soundfile as sf

from ser_reparam.data.manifest import read_manifest
from ser_reparam.data.prepare import prepare_manifest

PHQ_COLUMNS = ("Participant_ID,PHQ8_Binary,PHQ8_Score,Gender,PHQ8_NoInterest,PHQ8_Depressed,PHQ8_Sleep,"
               "PHQ8_Tired,PHQ8_Appetite,PHQ8_Failure,PHQ8_Concentrating,PHQ8_Moving")


def session(root, participant, seconds, rows):
    """<id>_P/<id>_AUDIO.wav (every sample tells its position) and the tab-separated transcript."""
    folder = root / f"{participant}_P"
    folder.mkdir(parents=True)
    samples = (np.arange(round(seconds * 16000)) % 20000 - 10000).astype(np.int16)
    sf.write(folder / f"{participant}_AUDIO.wav", samples, 16000, subtype="PCM_16")
    lines = ["start_time\tstop_time\tspeaker\tvalue"] + [f"{a}\t{b}\t{who}\t{text}"
                                                         for a, b, who, text in rows]
    (folder / f"{participant}_TRANSCRIPT.csv").write_text("\n".join(lines) + "\n")
    return samples


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "daic"
    root.mkdir()
    (root / "train_split_Depression_AVEC2017.csv").write_text(
        f"{PHQ_COLUMNS}\n303,0,0,1,0,0,0,0,0,0,0,0\n321,1,20,1,3,3,3,3,2,2,2,2\n999,0,1,0,0,0,1,0,0,0,0,0\n")
    (root / "dev_split_Depression_AVEC2017.csv").write_text(
        f"{PHQ_COLUMNS}\n302,0,4,1,0,1,1,1,0,1,0,0\n310,1,11,0,1,1,2,2,1,2,1,1\n")
    samples = session(root, "303", 30.0, [
        (0.5, 0.9, "Ellie", "hi i'm ellie thanks for coming in today"),
        (1.0, 9.5, "Participant", "okay"),
        (10.0, 12.0, "Ellie", "where are you from originally"),
        (12.5, 20.0, "Participant", "i'm from los angeles"),
        (21.0, 28.5, "Participant", "yeah"),
        (28.6, 28.6, "Participant", "<laughter>")])
    session(root, "321", 14.0, [(0.2, 0.4, "Ellie", "hi"), (0.5, 11.5, "Participant", "um hello")])
    session(root, "302", 5.0, [(0.5, 4.0, "Ellie", "how are you doing today")])
    session(root, "310", 12.0, [(1.0, 6.0, "Participant", "good"), (7.0, 12.0, "Participant", "and you")])
    return root, samples


def test_daic_clips_over_participant_only_audio(tmp_path, corpus):
    root, samples = corpus
    out = tmp_path / "run" / "daic.csv"
    report = prepare_manifest("daic_woz", root, out)
    rows = read_manifest(out, labels=("not_depressed", "depressed"))
    audio = {u.speaker: u.audio for u in rows}
    assert [(u.utt_id, u.path, u.label, u.split, u.speaker, u.start, u.end, u.audio) for u in rows] == [
        ("303_clip000", "303_P/303_AUDIO.wav", "not_depressed", "train", "303", 0.0, 10.0, audio["303"]),
        ("303_clip001", "303_P/303_AUDIO.wav", "not_depressed", "train", "303", 10.0, 20.0, audio["303"]),
        ("321_clip000", "321_P/321_AUDIO.wav", "depressed", "train", "321", 0.0, 10.0, audio["321"]),
        ("310_clip000", "310_P/310_AUDIO.wav", "depressed", "test", "310", 0.0, 10.0, audio["310"]),
    ]
    participant_only, rate = sf.read(out.parent / audio["303"], dtype="int16")
    assert rate == 16000
    assert np.array_equal(participant_only, np.concatenate([samples[16000:152000], samples[200000:320000],
                                                            samples[336000:456000]]))   # 23.5 s
    summary = report.to_dict()
    assert {reason: entry["items"] for reason, entry in summary["excluded"].items()} == {
        "missing file": ["999_P/999_AUDIO.wav", "999_P/999_TRANSCRIPT.csv"],
        "tail shorter than a 10 s clip": ["303_P/303_AUDIO.wav (3.50 s)", "321_P/321_AUDIO.wav (1.00 s)"],
        "no Participant rows in the transcript": ["302_P/302_TRANSCRIPT.csv"],
        "transcript row with stop_time not after start_time": ["303_P/303_TRANSCRIPT.csv:7"]}
    assert summary["notes"]["written to the audio cache as 16 kHz mono WAV"]["count"] == 3

    again = prepare_manifest("daic_woz", root, out).to_dict()
    assert read_manifest(out) == rows and again["excluded"] == summary["excluded"]
    assert list(again["notes"]) == ["reused from the audio cache"] and again["notes"][
        "reused from the audio cache"]["count"] == 3


def test_clip_seconds_option(tmp_path, corpus):
    root, _ = corpus
    report = prepare_manifest("daic_woz", root, tmp_path / "daic.csv", clip_seconds=4)
    assert report.to_dict()["kept"] == {"test/depressed": 2, "train/depressed": 2, "train/not_depressed": 5}
    assert report.to_dict()["excluded"]["tail shorter than a 4 s clip"]["items"] == [
        "303_P/303_AUDIO.wav (3.50 s)", "321_P/321_AUDIO.wav (3.00 s)", "310_P/310_AUDIO.wav (2.00 s)"]
    with pytest.raises(ValueError, match="clip_seconds must be a positive number"):
        prepare_manifest("daic_woz", root, tmp_path / "bad.csv", clip_seconds=0)


def test_a_participant_in_both_split_files_is_refused(tmp_path, corpus):
    root, _ = corpus
    with (root / "dev_split_Depression_AVEC2017.csv").open("a") as handle:
        handle.write("303,0,0,1,0,0,0,0,0,0,0,0\n")
    with pytest.raises(ValueError, match="participant 303 is also in the train split list"):
        prepare_manifest("daic_woz", root, tmp_path / "daic.csv")


def test_unreadable_transcript_is_excluded_by_reason(tmp_path, corpus):
    root, _ = corpus
    (root / "310_P" / "310_TRANSCRIPT.csv").write_text("start_time,stop_time,speaker,value\n"
                                                       "1,2,Participant,x\n")
    report = prepare_manifest("daic_woz", root, tmp_path / "daic.csv")
    assert report.to_dict()["excluded"]["unreadable transcript"]["items"] == [
        f"{root / '310_P' / '310_TRANSCRIPT.csv'}: header lacks start_time, stop_time, speaker; "
        "expected a tab-separated transcript"]
    (root / "310_P" / "310_TRANSCRIPT.csv").write_text("start_time\tstop_time\tspeaker\tvalue\n"
                                                       "1.0\tsoon\tParticipant\tx\n")
    report = prepare_manifest("daic_woz", root, tmp_path / "daic.csv")
    assert report.to_dict()["excluded"]["unreadable transcript"]["items"] == [
        f"{root / '310_P' / '310_TRANSCRIPT.csv'}:2: times '1.0', 'soon' are not numbers"]
