"""The demo corpus: deterministic, speaker-independent, and its classes differ as designed."""
import hashlib
import json

import numpy as np
import pytest
import soundfile as sf

from ser_reparam.data.manifest import read_manifest
from ser_reparam.data.synthetic import LABELS, make_demo_corpus, make_speakers, synthesize


def digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path):
    first = make_demo_corpus(tmp_path / "a", seed=5, speakers=6, per_class=2, min_seconds=1.0,
                             max_seconds=2.0)
    make_demo_corpus(tmp_path / "b", seed=5, speakers=6, per_class=2, min_seconds=1.0, max_seconds=2.0)
    make_demo_corpus(tmp_path / "c", seed=6, speakers=6, per_class=2, min_seconds=1.0, max_seconds=2.0)
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert a == b
    assert a["manifest.csv"] != c["manifest.csv"] or any(a[k] != c[k] for k in a if k.endswith(".wav"))
    assert len([k for k in a if k.endswith(".wav")]) == 6 * 4 * 2
    rows = read_manifest(first, LABELS)
    assert len(rows) == 48
    info = sf.info(str(tmp_path / "a" / rows[0].path))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert "SYNTHETIC" in (tmp_path / "a" / "README.txt").read_text()


@pytest.mark.parametrize("count", [5, 8, 10, 12])
def test_speaker_independent_split_with_both_sexes(count):
    speakers = make_speakers(count, seed=0)
    splits = {s: [spk for spk in speakers if spk.split == s] for s in ("train", "val", "test")}
    assert all(splits.values()), splits
    assert sum(map(len, splits.values())) == count
    for split in ("val", "test") if count % 2 == 0 else ():  # an odd count leaves one voice unpaired
        assert {spk.f0 > 160 for spk in splits[split]} == {True, False}


def _features(signal):
    spectrum = np.abs(np.fft.rfft(signal)) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1 / 16000)
    high = spectrum[freqs > 2000].sum() / spectrum.sum()
    return np.sqrt(np.mean(signal ** 2)), high


def test_classes_differ_as_the_literature_reports():
    speaker = make_speakers(10, seed=0)[1]
    stats = {label: np.mean([_features(synthesize(label, speaker, 3.0, np.random.default_rng([9, i, k])))
                             for k in range(12)], axis=0)
             for i, label in enumerate(LABELS)}
    loudness = {label: stats[label][0] for label in LABELS}
    high_band = {label: stats[label][1] for label in LABELS}
    assert loudness["angry"] > loudness["happy"] > loudness["neutral"] > loudness["sad"]
    assert high_band["angry"] > high_band["neutral"] > high_band["sad"]


def test_too_few_speakers_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 5 speakers"):
        make_demo_corpus(tmp_path, speakers=4)


def test_never_generates_into_a_foreign_folder_nor_removes_what_it_did_not_write(tmp_path):
    from ser_reparam.data.synthetic import MARKER, remove_demo_corpus

    mine = tmp_path / "mine"
    (mine / "notes").mkdir(parents=True)
    (mine / "notes" / "thesis.txt").write_text("years of work")
    with pytest.raises(ValueError, match=r"mine is not empty and holds files ser-reparam did not generate "
                                         r"\(e.g. notes/thesis.txt\)"):
        make_demo_corpus(mine, speakers=5, per_class=1, min_seconds=1.0, max_seconds=1.2)
    assert sorted(p.name for p in mine.rglob("*")) == ["notes", "thesis.txt"]

    corpus = tmp_path / "corpus"
    make_demo_corpus(corpus, speakers=5, per_class=1, min_seconds=1.0, max_seconds=1.2)
    (corpus / "spk01" / "my_recording.wav").write_bytes(b"mine")  # a user's file beside generated ones
    kept = remove_demo_corpus(corpus)
    assert (kept == ["spk01/my_recording.wav"]
            and (corpus / "spk01" / "my_recording.wav").read_bytes() == b"mine")
    assert not list(corpus.rglob("*_000.wav")) and not (corpus / "manifest.csv").exists()
    # its own folder: fine
    make_demo_corpus(corpus, speakers=5, per_class=1, min_seconds=1.0, max_seconds=1.2)
    assert (corpus / "manifest.csv").exists() and (corpus / MARKER).exists()
    assert (corpus / "spk01" / "my_recording.wav").read_bytes() == b"mine"
    remove_demo_corpus(corpus)
    assert sorted(p.name for p in corpus.rglob("*")) == sorted([MARKER, "spk01", "my_recording.wav"])


def test_no_utterances_per_class_is_refused_not_an_empty_corpus(tmp_path):
    with pytest.raises(ValueError, match="per_class 0: the demo corpus needs at least 1 utterance"):
        make_demo_corpus(tmp_path / "corpus", per_class=0)
    assert not (tmp_path / "corpus").exists()


@pytest.mark.parametrize("forged", ["../victim/important.txt", "ABSOLUTE", "out/important.txt", 7])
def test_a_forged_marker_never_deletes_outside_the_corpus(tmp_path, forged):
    """The marker is a file anyone can edit: only plain files inside the corpus folder go."""
    from ser_reparam.data.synthetic import MARKER, remove_demo_corpus

    victim = tmp_path / "victim" / "important.txt"
    victim.parent.mkdir()
    victim.write_text("keep me")
    corpus = tmp_path / "corpus"
    make_demo_corpus(corpus, speakers=5, per_class=1, min_seconds=1.0, max_seconds=1.2)
    (corpus / "out").symlink_to(victim.parent)  # a folder link out of the corpus
    (corpus / "link.txt").symlink_to(victim)
    listed = str(victim) if forged == "ABSOLUTE" else forged
    (corpus / MARKER).write_text(json.dumps({"files": ["manifest.csv", listed, "link.txt"]}))
    remove_demo_corpus(corpus)
    assert victim.read_text() == "keep me" and (corpus / "link.txt").is_symlink()
    assert not (corpus / "manifest.csv").exists()
