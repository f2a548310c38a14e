"""prepare_manifest's contract: choices, options, errors, summary; manifest validation; shipped protocols."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus_files import corrupt, tone

from ser_reparam.data.corpora import CORPORA
from ser_reparam.data.manifest import read_manifest
from ser_reparam.data.prepare import dataset_options, prepare_manifest
from ser_reparam.data.protocol import load_protocol, protocol_names
from ser_reparam.errors import ManifestError

REPO = Path(__file__).resolve().parents[1]


def test_every_corpus_has_a_protocol_file():
    assert sorted(CORPORA) == list(protocol_names())
    for name in CORPORA:
        protocol = load_protocol(name)
        assert protocol.name == name
        assert protocol.labels is None or set(protocol.label_map.values()) == set(protocol.labels)
    assert load_protocol("iemocap").excluded == ("fru", "sur", "fea", "dis", "oth", "xxx")
    assert load_protocol("daic_woz").details["clips"] == {"speaker": "Participant", "seconds": 10}


def test_unknown_dataset_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'iemocap4'; choose one of iemocap, m3ed, daic_woz, "
                                         "ravdess, crema_d, emodb, folder, csv"):
        prepare_manifest("iemocap4", tmp_path, tmp_path / "m.csv")


def test_missing_root_names_the_path_and_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data root .*no_such_dir does not exist .* for "
                                                r"daic_woz it must hold DAIC-WOZ \(AVEC 2017\): "
                                                r"train_split_Depression_AVEC2017.csv"):
        prepare_manifest("daic_woz", tmp_path / "no_such_dir", tmp_path / "m.csv")


def test_options_are_checked_per_dataset(tmp_path):
    assert dataset_options("iemocap") == {"fold": None}
    assert dataset_options("m3ed") == {}
    with pytest.raises(ValueError, match="dataset emodb does not take option\\(s\\) fold; it takes: seed"):
        prepare_manifest("emodb", tmp_path, tmp_path / "m.csv", fold=2)
    with pytest.raises(ValueError, match="dataset csv needs option\\(s\\) csv_file"):
        prepare_manifest("csv", tmp_path, tmp_path / "m.csv", seed=3)
    with pytest.raises(FileNotFoundError, match="no label folder"):     # None = not given: passes the check
        prepare_manifest("folder", tmp_path, tmp_path / "m.csv", seed=None)


def test_nothing_usable_writes_the_summary_and_refuses_an_empty_manifest(tmp_path):
    root = tmp_path / "data"
    corrupt(root / "angry" / "a.wav")
    with pytest.raises(ValueError, match="no usable folder data .*/m_summary.json lists what was excluded"):
        prepare_manifest("folder", root, tmp_path / "m.csv")
    summary = json.loads((tmp_path / "m_summary.json").read_text())
    assert summary["kept_total"] == 0 and summary["excluded"]["unreadable audio (corrupt or not audio)"] == {
        "count": 1, "items": ["angry/a.wav"]}
    assert not (tmp_path / "m.csv").exists()


def test_summary_json_and_table(tmp_path):
    root = tmp_path / "data"
    tone(root / "happy" / "h.wav")
    report = prepare_manifest("folder", root, tmp_path / "run" / "demo.csv")
    assert json.loads((tmp_path / "run" / "demo_summary.json").read_text()) == report.to_dict()
    assert report.table().splitlines()[:2] == [f"folder: kept 1 rows from {root}",
                                               f"  kept     {'train/happy':<32}{1:>7}"]


def test_read_manifest_names_the_row_with_an_unknown_label_or_a_duplicate_id(tmp_path):
    root = tmp_path / "data"
    tone(root / "happy" / "h.wav")
    tone(root / "sad" / "s.wav", freq=300)
    out = tmp_path / "m.csv"
    prepare_manifest("folder", root, out)
    header, happy, sad = out.read_text().splitlines()
    out.write_text("\n".join([header, happy, sad.replace(",sad,", ",bored,")]) + "\n")
    with pytest.raises(ManifestError, match=r"m.csv:3: label 'bored' is not in the protocol's labels "
                                            r"\(happy, sad\)"):
        read_manifest(out, labels=("happy", "sad"))
    out.write_text("\n".join([header, happy, sad, happy]) + "\n")
    with pytest.raises(ManifestError, match=r"m.csv:4: duplicate utt_id 'happy__h' \(first on line 2\)"):
        read_manifest(out)


def test_protocol_files_ship_in_a_regular_install(tmp_path):
    """`pip install --target` of a copy of the project holds every protocol file as real files."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.py", "setup.cfg", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("ser_reparam", "data_manifests"):
        shutil.copytree(REPO / name, source / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    target = tmp_path / "target"
    # else pip fetches it
    offline = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *offline,
                    "--target", str(target), str(source)], check=True, capture_output=True)
    shipped = target / "ser_reparam" / "data_manifests"
    assert not shipped.is_symlink()
    assert sorted(path.name for path in shipped.iterdir()) == sorted(
        [f"{name}.yaml" for name in CORPORA] + ["README.md"])
    probe = ("from ser_reparam.data.protocol import PROTOCOL_DIR, load_protocol;"
             "print(PROTOCOL_DIR); print(load_protocol('m3ed').labels)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(target)}, cwd=tmp_path)
    assert done.stdout.splitlines() == [str(shipped),
                                        "('happy', 'surprise', 'sad', 'disgust', 'anger', 'fear', 'neutral')"]


def test_the_audio_cache_folder_can_be_chosen_inside_the_manifest_folder(tmp_path):
    root = tmp_path / "data"
    tone(root / "happy" / "h.wav", rate=44100)
    prepare_manifest("folder", root, tmp_path / "run" / "m.csv", audio_cache=tmp_path / "run" / "wav16k")
    (row,) = read_manifest(tmp_path / "run" / "m.csv")
    assert row.audio.startswith("wav16k/") and (tmp_path / "run" / row.audio).is_file()
    with pytest.raises(ValueError, match="audio cache .*elsewhere must be inside the manifest's folder"):
        prepare_manifest("folder", root, tmp_path / "run" / "m.csv", audio_cache=tmp_path / "elsewhere")
