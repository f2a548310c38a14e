"""Training on two corpora (data.extra_corpus): the extra corpus's mapped clips join the training
split only, its other clips are counted as left out, and its files are read from its own root
(directly, or converted into the run's audio cache)."""
import json

import pytest
from corpus_files import tone

from ser_reparam.config import config_hash, parse_config
from ser_reparam.data.dataset import read_features
from ser_reparam.data.manifest import read_manifest
from ser_reparam.errors import ConfigError, InputError
from ser_reparam.experiment import feature_store, fold_configs
from ser_reparam.layout import RunLayout
from ser_reparam.pipeline import run_pipeline
from tests.conftest import tiny_raw

DEMO_LABELS = {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry"}


@pytest.fixture
def ravdess(tmp_path):
    """Five RAVDESS speech clips of 1.2 s: two at 48 kHz (converted), three at 16 kHz (read directly)."""
    root = tmp_path / "RAVDESS"
    tone(root / "Actor_01" / "03-01-05-01-02-01-01.wav", seconds=1.2, rate=48000)     # angry
    tone(root / "Actor_01" / "03-01-01-01-01-01-01.wav", seconds=1.2, freq=230)       # neutral
    tone(root / "Actor_02" / "03-01-03-02-01-02-02.wav", seconds=1.2, freq=240)       # happy
    tone(root / "Actor_03" / "03-01-04-01-01-01-03.wav", seconds=1.2, rate=48000)     # sad
    tone(root / "Actor_04" / "03-01-08-01-01-01-04.wav", seconds=1.2, freq=260)       # surprised
    (root / "Actor_04" / "03-01-02-01-01-01-04.wav").write_bytes(b"RIFF")               # calm, unreadable
    return root


def joint_config(tmp_path, ravdess, **changes):
    extra = {"dataset": "ravdess", "root": str(ravdess), "labels": DEMO_LABELS}
    return parse_config(tiny_raw(tmp_path, **{"data.val": "none", "data.extra_corpus": extra, **changes}))


def test_the_mapped_clips_join_the_training_split_only(tmp_path, ravdess):
    config = joint_config(tmp_path, ravdess)
    records = run_pipeline(config, 1, 2, echo=lambda _: None)
    summary = records[0]["summary"]
    assert ("extra corpus ravdess: 4 clips join the training split (angry 1, happy 1, neutral 1, sad 1)"
            in summary)
    assert "left out, labels not mapped: surprised 1" in summary
    assert f"1 files not usable (why: {config.base_dir / 'extra-ravdess_summary.json'})" in summary
    rows = read_manifest(RunLayout(config).manifest)
    extra = [u for u in rows if u.utt_id.startswith("ravdess:")]
    assert sorted(u.label for u in extra) == ["angry", "happy", "neutral", "sad"]
    assert {u.split for u in extra} == {"train"} and all(u.speaker.startswith("ravdess:") for u in extra)
    # 16 kHz clips are read from the extra root, 48 kHz ones from the run's audio cache
    assert sorted((bool(u.audio), u.corpus) for u in extra) == [(False, "ravdess")] * 2 + [(True, "")] * 2
    assert RunLayout(config).extra_audio_cache.is_dir()

    alone = parse_config(tiny_raw(tmp_path / "alone", **{"data.val": "none"}))
    run_pipeline(alone, 1, 2, echo=lambda _: None)
    own = read_manifest(RunLayout(alone).manifest)
    assert [u for u in rows if not u.utt_id.startswith("ravdess:")] == [
        u for u in own]  # the run's own rows, test split included, are unchanged
    store, store_alone = feature_store(config), feature_store(alone)
    count = sum(1 for _ in read_features(store.features("train")))
    assert count == sum(1 for _ in read_features(store_alone.features("train"))) + 4
    assert sum(1 for _ in read_features(store.features("test"))) == sum(
        1 for _ in read_features(store_alone.features("test")))
    trained = run_pipeline(config, 3, 3, echo=lambda _: None)[0]  # the model and the baselines (eGeMAPS
    assert not trained["skipped"] and RunLayout(config).baselines.is_file()  # reads the extra root too)


def test_speaker_folds_keep_the_extra_clips_in_every_training_split(tmp_path, ravdess):
    config = joint_config(tmp_path, ravdess, **{"data.cv_folds": 5})
    for fold in fold_configs(config)[:2]:
        run_pipeline(fold, 1, 1, echo=lambda _: None)
        rows = read_manifest(RunLayout(fold).manifest)
        assert sum(u.utt_id.startswith("ravdess:") and u.split == "train" for u in rows) == 4
        assert not any(u.utt_id.startswith("ravdess:") and u.split != "train" for u in rows)


def test_bad_extra_corpora_are_refused_with_the_fix(tmp_path, ravdess):
    for extra, message in [
            ({"dataset": "ravdess", "root": str(ravdess)}, "data.extra_corpus.labels must map"),
            ({"dataset": "ravdess", "root": str(ravdess), "labels": DEMO_LABELS, "folds": 2},
             "unknown key 'data.extra_corpus.folds'"),
            ({"root": str(ravdess), "labels": DEMO_LABELS}, "data.extra_corpus.dataset must be a non-empty"),
            ({"dataset": "demo", "root": str(ravdess), "labels": DEMO_LABELS}, "another prepared corpus")]:
        with pytest.raises(ConfigError, match=message):
            parse_config(tiny_raw(tmp_path, **{"data.extra_corpus": extra}))
    not_theirs = joint_config(tmp_path / "a", ravdess, **{"data.extra_corpus.labels": {"anger": "angry"}})
    with pytest.raises(ConfigError, match="anger not among ravdess's labels"):
        run_pipeline(not_theirs, 1, 1, echo=lambda _: None)
    not_ours = joint_config(tmp_path / "b", ravdess, **{"data.extra_corpus.labels": {"calm": "calm"}})
    with pytest.raises(ConfigError, match="maps onto calm, not among this run's labels"):
        run_pipeline(not_ours, 1, 1, echo=lambda _: None)
    inside = joint_config(tmp_path, ravdess, runs_dir=str(ravdess / "runs"))
    with pytest.raises(InputError, match="is inside\\) data.extra_corpus.root"):
        run_pipeline(inside, 1, 1, echo=lambda _: None)


def test_runs_made_before_the_key_stay_up_to_date(tmp_path, ravdess):
    plain = parse_config(tiny_raw(tmp_path))
    assert config_hash(parse_config(tiny_raw(tmp_path, **{"data.extra_corpus": None})), "data") == \
        config_hash(plain, "data")
    assert config_hash(joint_config(tmp_path, ravdess), "data") != config_hash(plain, "data")
    assert "extra_corpus" not in json.dumps(config_hash(plain, "data"))
