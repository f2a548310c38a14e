"""A run folder named on the command line is the run: wherever it lies and whatever the current directory."""
import json
from pathlib import Path

import pytest

from ser_reparam.cli import main
from ser_reparam.config import config_hash, parse_config
from ser_reparam.errors import InputError
from ser_reparam.experiment import load_run, save_run_config
from ser_reparam.layout import RunLayout


def saved_run(home: Path, name: str = "demo", fold: int | None = None) -> Path:
    """A variant folder under home/runs/<name> whose config.json says `runs_dir: runs` (relative, as
    the demo writes it); returns the variant folder."""
    folds = {} if fold is None else {"cv_folds": 3, "cv_fold": fold}
    data = {"dataset": "demo", "root": "runs/demo-corpus", **folds}
    config = parse_config({"name": name, "runs_dir": str(home / "runs"), "data": data})
    save_run_config(config)
    saved = RunLayout(config).config_json
    saved.write_text(json.dumps({**json.loads(saved.read_text()), "runs_dir": "runs"}))
    return saved.parent


@pytest.mark.parametrize("fold", [None, 1])
def test_a_run_folder_is_the_run_from_any_directory(tmp_path, monkeypatch, fold):
    mine, other = saved_run(tmp_path / "a", fold=fold), saved_run(tmp_path / "b", fold=fold)
    monkeypatch.chdir(tmp_path / "b")  # holds another run of the same name at runs/demo/…
    config = load_run(mine)
    assert RunLayout(config).variant_dir == mine.resolve() and config.name == "demo"
    assert RunLayout(config).quantized_dir.is_relative_to(tmp_path / "a")
    assert RunLayout(load_run(other.relative_to(tmp_path / "b"))).variant_dir == other.resolve()


def test_a_moved_or_renamed_run_folder_is_still_the_run(tmp_path):
    variant = saved_run(tmp_path / "a")
    moved = tmp_path / "archive" / "renamed"
    moved.parent.mkdir()
    (tmp_path / "a" / "runs" / "demo").rename(moved)
    assert RunLayout(load_run(moved / variant.name)).variant_dir == (moved / variant.name).resolve()
    assert RunLayout(load_run(moved)).run_dir == moved.resolve()


def test_a_run_folder_that_is_not_where_its_config_puts_it_is_refused(tmp_path):
    variant = saved_run(tmp_path / "a")
    with pytest.raises(InputError, match=r"is not where its config.json .* puts the variant"):
        load_run(variant, ["model.hrf=ffn2@8x1"])  # would read and write another variant's folder
    renamed = variant.rename(variant.with_name("mine"))
    with pytest.raises(InputError, match=r"mine is not where its config.json"):
        load_run(renamed)


def test_a_stage_command_locks_the_named_run_not_one_under_the_current_directory(tmp_path, monkeypatch):
    variant = saved_run(tmp_path / "a")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["fold", str(variant)]) == 2  # nothing trained: refused, naming stage 03
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert (tmp_path / "a" / "runs" / "demo" / ".lock").is_file()


@pytest.mark.parametrize("fold", [None, 1])
def test_a_relative_corpus_is_found_from_any_directory_with_the_same_hashes(tmp_path, monkeypatch, fold):
    """The demo saves `runs_dir: runs` and `data.root: runs/demo-corpus`, both relative to the folder
    it ran in: loaded from elsewhere, the run reads that corpus, and its stages are not stale."""
    from ser_reparam.config import config_hash

    variant = saved_run(tmp_path / "a", fold=fold)
    monkeypatch.chdir(tmp_path / "a")
    here = load_run(variant)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    there = load_run(variant)
    assert Path(there.data.root) == tmp_path / "a" / "runs" / "demo-corpus"
    assert config_hash(there, "data") == config_hash(here, "data")


def test_a_run_saved_under_the_old_key_names_loads_quietly_and_the_same(tmp_path, capsys):
    """config.json written before data.cv_folds / cv_fold / window_seconds: the tool wrote those
    keys, so they are read without a deprecation line, and the config (and its hash) is the same."""
    variant = saved_run(tmp_path / "a", fold=1)
    now = load_run(variant)
    saved = variant / "config.json"
    raw = json.loads(saved.read_text())
    data = raw["data"]
    data["folds"], data["fold"], data["window_s"] = (data.pop("cv_folds"), data.pop("cv_fold"),
                                                     data.pop("window_seconds"))
    saved.write_text(json.dumps(raw))
    capsys.readouterr()
    old = load_run(variant)
    assert capsys.readouterr().err == ""
    assert old.to_dict() == now.to_dict() and config_hash(old) == config_hash(now)
