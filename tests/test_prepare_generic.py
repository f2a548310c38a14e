"""Generic layouts: root/<label>/*.wav and a user CSV; escaping paths, splits without speakers."""
import pytest
from corpus_files import corrupt, tone

from ser_reparam.data.manifest import read_manifest
from ser_reparam.data.prepare import prepare_manifest

ESCAPES = "path escapes the data root (absolute, '..' or a symlink out)"


def counts(report):
    return {reason: entry["count"] for reason, entry in report.to_dict()["excluded"].items()}


def test_folder_layout(tmp_path):
    root = tmp_path / "data"
    for name, freq in [("a1", 200), ("a2", 210), ("a3", 220)]:
        tone(root / "angry" / f"{name}.wav", freq=freq)
    tone(root / "calm" / "c1.wav", freq=300)
    tone(root / "calm" / "c2.wav", rate=44100, freq=310)
    tone(root / "calm" / "c3.wav", freq=320)
    corrupt(root / "calm" / "broken.wav")
    tone(root / ".trash" / "old.wav")
    tone(root / "sad" / "s1.wav", freq=400)
    (root / "sad" / "link.wav").symlink_to(tone(tmp_path / "outside" / "x.wav"))
    out = root / "manifest.csv"                        # the manifest and its audio cache inside the root
    report = prepare_manifest("folder", root, out)
    rows = read_manifest(out)
    expected = [("angry__a1", "angry/a1.wav", "angry", "test", "angry__a1"),
                ("angry__a2", "angry/a2.wav", "angry", "train", "angry__a2"),
                ("angry__a3", "angry/a3.wav", "angry", "val", "angry__a3"),
                ("calm__c1", "calm/c1.wav", "calm", "test", "calm__c1"),
                ("calm__c2", "calm/c2.wav", "calm", "train", "calm__c2"),
                ("calm__c3", "calm/c3.wav", "calm", "val", "calm__c3"),
                ("sad__s1", "sad/s1.wav", "sad", "train", "sad__s1")]
    assert [(u.utt_id, u.path, u.label, u.split, u.speaker) for u in rows] == expected
    assert [u.audio != "" for u in rows] == [False, False, False, False, True, False, False]
    assert counts(report) == {"unreadable audio (corrupt or not audio)": 1, ESCAPES: 1}
    assert report.to_dict()["notes"]["split made without speaker information"]["items"] == [
        "per label, utterances sorted, shuffled with random.Random(0) and cut test 0.1 / val 0.1 / "
        "rest train; speaker = the utterance id"]

    again = prepare_manifest("folder", root, out)        # audio_cache/ now exists in the root: not a label
    assert [(u.utt_id, u.path, u.label, u.split, u.speaker) for u in read_manifest(out)] == expected
    assert again.to_dict()["notes"]["reused from the audio cache"]["items"] == ["calm/c2.wav"]


@pytest.fixture
def csv_root(tmp_path):
    root = tmp_path / "data"
    tone(root / "a.wav", seconds=0.5)
    tone(root / "b.wav", freq=300)
    tone(root / "sub" / "c.wav", freq=330)
    tone(root / "d.wav", freq=350)
    tone(root / "e.wav", freq=370)
    tone(tmp_path / "outside.wav")
    (root / "link.wav").symlink_to(tmp_path / "outside.wav")
    return root


def test_user_csv_with_split_column(tmp_path, csv_root):
    listing = tmp_path / "list.csv"
    listing.write_text("path,label,split,speaker,start,end\n"
                       "a.wav,happy,train,s1,,\n"
                       "a.wav,happy,train,s1,0.1,0.2\n"
                       "sub/c.wav,sad,test,s2,,\n"
                       "../outside.wav,sad,train,s3,,\n"
                       f"{tmp_path / 'outside.wav'},sad,train,s3,,\n"
                       "link.wav,sad,train,s3,,\n"
                       "b.wav,sad,dev,s4,,\n"
                       "d.wav,,train,s4,,\n"
                       "e.wav,sad,train,s4,0.5,0.2\n"
                       "missing.wav,happy,val,s5,,\n")
    report = prepare_manifest("csv", csv_root, tmp_path / "out" / "m.csv", csv_file=listing)
    rows = read_manifest(tmp_path / "out" / "m.csv", labels=("happy", "sad"))
    assert [(u.utt_id, u.path, u.label, u.split, u.speaker, u.start, u.end) for u in rows] == [
        ("a", "a.wav", "happy", "train", "s1", None, None),
        ("a#2", "a.wav", "happy", "train", "s1", 0.1, 0.2),
        ("sub__c", "sub/c.wav", "sad", "test", "s2", None, None)]
    assert counts(report) == {ESCAPES: 3, "split not one of train, val, test": 1, "empty label": 1,
                              "bad start/end": 1, "missing file": 1}
    assert report.to_dict()["excluded"][ESCAPES]["items"] == ["../outside.wav", str(tmp_path / "outside.wav"),
                                                             "link.wav"]
    assert report.to_dict()["excluded"]["bad start/end"]["items"] == [
        f"{listing}:10: end 0.2 must be after start 0.5"]
    assert report.to_dict()["notes"] == {}


def test_user_csv_split_by_speaker_or_by_utterance(tmp_path, csv_root):
    with_speakers = tmp_path / "speakers.csv"
    with_speakers.write_text("path,label,speaker\na.wav,happy,s1\nb.wav,sad,s2\nsub/c.wav,sad,s3\nd.wav,sad,s3\n")
    report = prepare_manifest("csv", csv_root, tmp_path / "s.csv", csv_file=with_speakers)
    assert {u.utt_id: u.split for u in read_manifest(tmp_path / "s.csv")} == {
        "a": "test", "b": "train", "sub__c": "val", "d": "val"}
    assert list(report.to_dict()["notes"]) == ["split by speaker"]

    plain = tmp_path / "plain.csv"
    plain.write_text("label,path\nhappy,a.wav\nsad,b.wav\nsad,sub/c.wav\nsad,d.wav\n")
    report = prepare_manifest("csv", csv_root, tmp_path / "p.csv", csv_file=plain)
    assert {u.utt_id: (u.split, u.speaker) for u in read_manifest(tmp_path / "p.csv")} == {
        "a": ("train", "a"), "b": ("test", "b"), "sub__c": ("val", "sub__c"), "d": ("train", "d")}
    assert list(report.to_dict()["notes"]) == ["split made without speaker information"]


def test_user_csv_header_and_file_errors(tmp_path, csv_root):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,emotion\na.wav,happy\n")
    with pytest.raises(ValueError, match="bad.csv: header lacks path, label"):
        prepare_manifest("csv", csv_root, tmp_path / "m.csv", csv_file=bad)
    with pytest.raises(FileNotFoundError, match="CSV .*nope.csv does not exist"):
        prepare_manifest("csv", csv_root, tmp_path / "m.csv", csv_file=tmp_path / "nope.csv")


def test_folder_counts_every_candidate_and_keeps_same_stem_files_apart(tmp_path):
    root = tmp_path / "data"
    tone(root / "angry" / "clip.wav", freq=200)
    tone(root / "angry" / "clip.flac", freq=210, subtype="PCM_16")
    tone(root / "angry" / "more" / "deep.wav")
    tone(root / "calm" / "c1.wav", freq=300)
    tone(root / "stray.wav")
    report = prepare_manifest("folder", root, tmp_path / "out" / "m.csv")
    ids = sorted(u.utt_id for u in read_manifest(tmp_path / "out" / "m.csv"))
    assert ids == ["angry__clip_flac", "angry__clip_wav", "calm__c1"]
    excluded = report.to_dict()["excluded"]
    assert excluded["file at the data root, not in a label folder"]["items"] == ["stray.wav"]
    assert excluded["in a sub-folder of a label folder (only <root>/<label>/<file> is read)"]["items"] == \
        ["angry/more/deep.wav"]


def test_label_typos_are_refused_unless_the_labels_are_listed(tmp_path, csv_root):
    listing = tmp_path / "typo.csv"
    listing.write_text("path,label\na.wav,angry\nb.wav,angry\nd.wav,angyr\ne.wav,sad\n")
    with pytest.raises(ValueError, match=r"typo.csv:4: labels 'angyr' and 'angry' \(at .*typo.csv:2\) "
                                         r"look like one class spelled two ways"):
        prepare_manifest("csv", csv_root, tmp_path / "m.csv", csv_file=listing)
    with pytest.raises(ValueError, match=r"typo.csv:4: label 'angyr' is not one of the listed labels "
                                         r"\(angry, sad\)"):
        prepare_manifest("csv", csv_root, tmp_path / "m.csv", csv_file=listing, labels=["angry", "sad"])
    prepare_manifest("csv", csv_root, tmp_path / "m.csv", csv_file=listing, labels=["angry", "angyr", "sad"])
    assert {u.label for u in read_manifest(tmp_path / "m.csv")} == {"angry", "angyr", "sad"}


def test_csv_duplicates_conflicts_ids_and_encoding(tmp_path, csv_root):
    same = tmp_path / "same.csv"
    same.write_text("path,label,split\na.wav,happy,train\nb.wav,sad,test\na.wav,happy,train\n")
    report = prepare_manifest("csv", csv_root, tmp_path / "m.csv", csv_file=same)
    assert [u.utt_id for u in read_manifest(tmp_path / "m.csv")] == ["a", "b"]
    assert (report.to_dict()["excluded"]["duplicate row (same file and segment as an earlier line)"]["items"]
            == [f"{same}:4 (= line 2)"])

    leak = tmp_path / "leak.csv"
    leak.write_text("path,label,split\na.wav,happy,train\nb.wav,sad,test\na.wav,sad,test\n")
    with pytest.raises(ValueError, match=r"leak.csv:4 and line 2 list a.wav \(same segment\) with different "
                                         r"label/split \(happy/train vs sad/test\)"):
        prepare_manifest("csv", csv_root, tmp_path / "m.csv", csv_file=leak)

    ids = tmp_path / "ids.csv"
    ids.write_text("utt_id,path,label\nx1,a.wav,happy\nx1,b.wav,sad\n")
    with pytest.raises(ValueError, match=r"ids.csv:3: utt_id 'x1' is also on line 2"):
        prepare_manifest("csv", csv_root, tmp_path / "m.csv", csv_file=ids)
    twice = tmp_path / "twice.csv"
    twice.write_text("path,label,utt_id,utt_id\na.wav,happy,x1,x2\n")
    with pytest.raises(ValueError, match=r"twice.csv: header column\(s\) utt_id repeated"):
        prepare_manifest("csv", csv_root, tmp_path / "m.csv", csv_file=twice)

    latin = tmp_path / "latin.csv"
    latin.write_bytes("path,label\na.wav,happy\nb.wav,tr\u00e4ge\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.csv:3: not UTF-8 text \(byte 0xe4\)"):
        prepare_manifest("csv", csv_root, tmp_path / "m.csv", csv_file=latin)
    quote = tmp_path / "quote.csv"
    quote.write_text('path,label\n"a.wav,happy\nb.wav,sad\nd.wav,sad\n')
    with pytest.raises(ValueError, match=r"quote.csv:2: a quote is not closed"):
        prepare_manifest("csv", csv_root, tmp_path / "m.csv", csv_file=quote)


@pytest.mark.parametrize("text,message", [
    ('path,label\nb.wav,sad\na.wav,"sad,s01\n', r"last.csv:3: a quote is not closed"),
    ('path,label\nb.wav,sad\na.wav,"sad,s01', r"last.csv:3: a quote is not closed"),
    ("path,label\na.wav,happy\nb.wav,sad,s01\n", r"last.csv:3: 3 cells but the header names 2 columns"),
])
def test_csv_unclosed_last_quote_and_extra_cells_are_refused(tmp_path, csv_root, text, message):
    path = tmp_path / "last.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        prepare_manifest("csv", csv_root, tmp_path / "m.csv", csv_file=path)
    assert not (tmp_path / "m.csv").exists()


@pytest.mark.parametrize("csv_name", ["list.csv", "list_summary.json"])
def test_prepare_never_writes_over_the_input_csv(tmp_path, csv_root, csv_name):
    """Neither the manifest (--out) nor its summary beside it may be the CSV being read."""
    listing = tmp_path / csv_name
    listing.write_text("path,label\na.wav,happy\nb.wav,sad\nd.wav,happy\ne.wav,sad\n")
    with pytest.raises(ValueError, match=r"--out .*list.csv would write over the CSV it reads .*list"):
        prepare_manifest("csv", csv_root, tmp_path / "list.csv", csv_file=listing)
    assert listing.read_text().startswith("path,label\na.wav,happy")


def test_fifos_and_symlink_loops_are_excluded_by_their_reason(tmp_path):
    """A FIFO is not a missing file (and is never opened: that would block); a symlink loop is reported,
    not a crash."""
    import os

    root = tmp_path / "data"
    for label in ("calm", "tense"):
        tone(root / label / f"{label}.wav")
    os.mkfifo(root / "calm" / "pipe.wav")
    (root / "calm" / "self.wav").symlink_to("self.wav")
    (root / "tense" / "a.wav").symlink_to("b.wav")
    (root / "tense" / "b.wav").symlink_to("a.wav")
    report = prepare_manifest("folder", root, tmp_path / "out" / "m.csv")
    assert [u.path for u in read_manifest(tmp_path / "out" / "m.csv")] == ["calm/calm.wav", "tense/tense.wav"]
    excluded = report.to_dict()["excluded"]
    assert excluded["not a regular file (a FIFO, socket or device; copy the audio into a file)"]["items"] == \
        ["calm/pipe.wav"]
    assert excluded["symlink loop (the link leads back to itself; point it at the audio file)"]["items"] == \
        ["calm/self.wav", "tense/a.wav", "tense/b.wav"]
