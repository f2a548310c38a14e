"""Experiment configs: every shipped YAML validates; typos and bad values are named."""
from pathlib import Path

import pytest

from ser_reparam.config import config_hash, load_config, parse_config
from ser_reparam.errors import ConfigError

CONFIGS = sorted(Path(__file__).parents[1].joinpath("configs").glob("*.yaml"))
MINIMAL = {"name": "x", "data": {"dataset": "demo", "root": "corpus"}}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(path):
    config = load_config(path)
    assert config.name and config.data.root


def test_defaults_are_the_papers():
    config = parse_config(MINIMAL)
    training = config.training
    assert (training.epochs, training.learning_rate, training.weight_decay, training.lr_factor,
            training.seeds) == \
        (120, 1e-3, 1e-6, 0.5, 5)
    assert config.frontend.num_features == 78 and config.data.window_seconds == 5.0


@pytest.mark.parametrize("raw,message", [
    ({**MINIMAL, "model": {"hrff": "ffn2"}}, r"unknown key 'model.hrff' \(did you mean 'hrf'\?\)"),
    ({**MINIMAL, "trainig": {}}, r"unknown key 'trainig' \(did you mean 'training'\?\)"),
    ({**MINIMAL, "training": {"select": "acc"}},
     "training.select must be one of wa, ua, wf1, mf1, got 'acc'"),
    ({**MINIMAL, "training": {"epochs": 0}}, "training.epochs must be an integer >= 1 and <= 100000, got 0"),
    ({**MINIMAL, "model": {"arch": "lstm"}}, "model.arch 'lstm' must be one of"),
    ({**MINIMAL, "model": {"hrf": "ffn_m1"}}, "model: HRF spec 'ffn_m1'"),
    ({**MINIMAL, "model": {"activation": "elu"}}, "unknown activation 'elu'"),
    ({**MINIMAL, "frontend": {"nfft": 300}}, "section 'frontend'.*power of two"),
    ({"name": "x"}, "'name' and 'data' are required"),
    ({**MINIMAL, "training": {"epochs": "ten"}}, r"training.epochs must be an integer >= 1 .*, got 'ten'"),
    ({**MINIMAL, "training": {"epochs": 2.5}}, r"training.epochs must be an integer"),
    ({**MINIMAL, "training": {"batch_size": 0}}, r"training.batch_size must be an integer >= 1"),
    ({**MINIMAL, "training": {"learning_rate": float("nan")}}, r"training.learning_rate must be positive"),
    ({**MINIMAL, "training": {"weight_decay": float("inf")}},
     r"training.weight_decay must be a finite number"),
    ({**MINIMAL, "data": {**MINIMAL["data"], "window_seconds": 0}},
     r"data.window_seconds must be a finite number > 0"),
    ({**MINIMAL, "data": {**MINIMAL["data"], "val": "bogus"}},
     r"data.val must be one of auto, split, none, speakers:N, got 'bogus'"),
    ({**MINIMAL, "model": {"dropout": 2}}, r"model.dropout must be a finite number >= 0 and < 1, got 2"),
    ({**MINIMAL, "model": {"heads": 3}}, r"heads 3 must divide the model width 16"),
    ({**MINIMAL, "model": {"hrf": "ffn2,ffn2@4x2"}}, r"place 'ffn2' is given twice"),
    ({**MINIMAL, "model": {"hrf": "ffn2@99999x1"}}, r"1 <= ratio <= 64"),
    ({**MINIMAL, "quantize": {"int16x8": "yes"}}, r"quantize.int16x8 must be true or false, got 'yes'"),
    ({**MINIMAL, "name": "../../x"}, r"name '../../x' must be one folder name"),
    ({**MINIMAL, "name": ".."}, r"name '..' must be one folder name"),
    ({**MINIMAL, "training": {"schedule": "step"}},
     "training.schedule 'step' must be one of plateau, cosine"),
    ({**MINIMAL, "training": {"mixup": -1}}, "training.mixup must be a finite number >= 0, got -1"),
    ({**MINIMAL, "training": {"mixup": float("nan")}}, "training.mixup must be a finite number >= 0, got na"),
    ({**MINIMAL, "training": {"label_smoothing": float("inf")}}, "training.label_smoothing must be a finite"),
    ({**MINIMAL, "training": {"label_smoothing": 5}}, r"training.label_smoothing must be .* < 1, got 5"),
    ({**MINIMAL, "runs_dir": None}, r"runs_dir must be a folder path, got None"),
    ({**MINIMAL, "runs_dir": ""}, r"runs_dir must be a folder path, got ''"),
    ({**MINIMAL, "data": {**MINIMAL["data"], "cv_folds": 4, "cv_fold": True}},
     r"data.cv_fold must be an int.*True"),
    ({**MINIMAL, "model": {"preset": 5}}, r"model: preset 5: give a preset name .* or three positive"),
    ({**MINIMAL, "model": {"preset": [1, True, 8]}}, r"model: preset \(1, True, 8\): give"),
    ({**MINIMAL, "data": {**MINIMAL["data"], "prepare": "x"}}, r"data.prepare must be a mapping .*got 'x'"),
    ({**MINIMAL, "training": {"time_masks": 1.5}}, "training.time_masks must be an integer >= 0"),
    ({**MINIMAL, "data": {**MINIMAL["data"], "cv_folds": 1}}, "data.cv_folds 1 must be 'loso'"),
    ({**MINIMAL, "data": {**MINIMAL["data"], "cv_fold": 0}}, "data.cv_fold 0 needs data.cv_folds"),
    ({**MINIMAL, "data": {**MINIMAL["data"], "cv_folds": 4, "cv_fold": 4}}, r"must be 0 … 3"),
])
def test_bad_configs_are_named(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, "my.yaml")


def test_overrides_and_hash(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\ndata: {dataset: demo, root: corpus}\nmodel: {hrf: ffn2@8x1}\n")
    base = load_config(path)
    changed = load_config(path, ["model.hrf=all@4x2", "training.epochs=3", "model.preset=[1, 16, 8]"])
    assert (changed.model.hrf, changed.training.epochs, changed.model.preset) == ("all@4x2", 3, (1, 16, 8))
    assert config_hash(base) == config_hash(load_config(path)) != config_hash(changed)
    assert config_hash(base, "data", "frontend") == config_hash(changed, "data", "frontend")
    with pytest.raises(ConfigError, match="must look like section.key=value"):
        load_config(path, ["model.hrf"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_a_recursive_yaml_anchor_is_named(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("name: x\ndata: {dataset: demo, root: corpus}\nexport: &loop {boards: [*loop]}\n")
    with pytest.raises(ConfigError, match=f"{path}: the config refers to itself"):
        load_config(path)


def test_every_rule_names_an_existing_key():
    from dataclasses import fields

    from ser_reparam.config import RULES, SECTIONS

    keys = {f"{name}.{f.name}" for name, cls in SECTIONS.items() for f in fields(cls)}
    assert set(RULES) <= keys


def test_a_fold_has_its_own_run_folder():
    config = parse_config({**MINIMAL, "data": {**MINIMAL["data"], "cv_folds": "loso", "cv_fold": 3}})
    assert config.run_dir == config.base_dir / "cv-3" and config.base_dir.name == "x"
    assert parse_config(MINIMAL).run_dir == parse_config(MINIMAL).base_dir


def test_the_placement_is_parsed_once_at_load_and_names_the_variant(tmp_path, monkeypatch):
    from ser_reparam.config import load_config
    from ser_reparam.layout import variant_name
    from ser_reparam.models import placement as placement_module

    config = load_config(Path(__file__).parents[1] / "ser_reparam" / "configs" / "demo.yaml",
                         [f"runs_dir={tmp_path}", "model.hrf=FFN1 & ffn2@4x2, cls"])
    calls = []
    monkeypatch.setattr(placement_module, "parse_hrf", lambda *a: calls.append(a) or {})
    assert config.model.placement.settings == (("ffn1", 4, 2), ("ffn2", 4, 2), ("cls", 8, 1))
    assert config.model.placement.mixed and not config.model.placement.is_all
    assert variant_name(config) == "convtransformer-lightweight-ffn1+ffn2@4x2,cls@8x1"
    assert calls == []  # parsed when the config was loaded, not again
    assert config.to_dict()["model"]["hrf"] == "FFN1 & ffn2@4x2, cls"  # the spec as written: hashes unchanged


def _write(tmp_path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text("name: x\ndata: {dataset: demo, root: corpus}\n" + text)
    return path


def _bomb(levels: int) -> list[str]:
    """A YAML alias bomb: each level lists the one before ten times (10**levels values, under 1 KB)."""
    items = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    items += [f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 10)}]" for level in range(1, levels + 1)]
    return items


@pytest.mark.parametrize("levels", [6, 10])
def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path, levels):
    path = tmp_path / "bomb.yaml"
    path.write_text("name: x\ndata:\n  dataset: demo\n  root: corpus\n  prepare:\n"
                    + "".join(f"    {item}\n" for item in _bomb(levels)))
    assert path.stat().st_size < 1100
    with pytest.raises(ConfigError, match=f"{path}: the config expands to more than .* values"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"override 'data.prepare=.*' expands to more than"):
        load_config(_write(tmp_path, ""), ["data.prepare={" + ", ".join(_bomb(levels)) + "}"])


def test_a_config_file_beyond_the_size_bound_is_refused(tmp_path):
    path = _write(tmp_path, "# padding\n" * 200_000)
    with pytest.raises(ConfigError, match=f"{path}: .* bytes: more than a config needs"):
        load_config(path)


@pytest.mark.parametrize("override,message", [
    ("data.root=!!python/name:os.system", r"override 'data.root=!!python/name:os.system': not a plain YAML"),
    ("data.root=[unclosed", r"override 'data.root=\[unclosed': not a plain YAML value .*quote it"),
    ("model.preset=5", r"preset 5: give a preset name"),
    ("data.prepare=x", r"data.prepare must be a mapping"),
])
def test_bad_overrides_are_named(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, ""), [override])


def test_a_config_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes("name: x\ndata: {dataset: demo, root: m\u00e4rz}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=f"{path}:2: not UTF-8 text .*save the file as UTF-8"):
        load_config(path)


def test_exponent_numbers_are_numbers_as_users_write_them(tmp_path):
    config = load_config(_write(tmp_path, "training: {learning_rate: 3e-4, min_lr: 1E-7}\n"))
    assert (config.training.learning_rate, config.training.min_lr) == (3e-4, 1e-7)
    assert load_config(_write(tmp_path, ""), ["training.learning_rate=5e-4"]).learning_rate == 5e-4
    assert load_config(_write(tmp_path, ""), ["data.root=e5"]).data.root == "e5"


def test_a_duplicate_yaml_key_is_refused_but_a_merge_may_be_overridden(tmp_path):
    path = _write(tmp_path, "training:\n  epochs: 3\n  seeds: 1\n  epochs: 30\n")
    with pytest.raises(ConfigError, match=f"{path}: not valid YAML: .*duplicate key 'epochs'.*line 6"):
        load_config(path)
    with pytest.raises(ConfigError, match="duplicate key 'speakers'"):
        load_config(_write(tmp_path, ""), ["data.prepare={speakers: 5, speakers: 6}"])
    merged = _write(tmp_path, "base: &base {epochs: 3, seeds: 1}\n", "m.yaml")
    merged.write_text(merged.read_text().replace("base: &base {epochs: 3, seeds: 1}\n", "")
                      + "training: {<<: {epochs: 3, seeds: 1}, epochs: 7}\n")
    assert load_config(merged).training.epochs == 7


def test_a_bad_override_is_one_line_and_exit_2_on_the_command_line(tmp_path, capsys):
    from ser_reparam.cli import main

    path = _write(tmp_path, f"runs_dir: {tmp_path / 'runs'}\n")
    assert main(["train", "--config", str(path), "--set", "data.root=!!python/name:os.system"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.root=!!python/name:os.system" in err
    assert not (tmp_path / "runs").exists()


def test_the_old_fold_keys_still_work_with_one_deprecation_line_each(capsys):
    old = parse_config({**MINIMAL, "data": {**MINIMAL["data"], "folds": "loso", "fold": 3}}, "old.yaml")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(line.startswith("old.yaml: data.fold") and "deprecated" in line
                                   for line in lines)
    new = parse_config({**MINIMAL, "data": {**MINIMAL["data"], "cv_folds": "loso", "cv_fold": 3}})
    assert old == new and config_hash(old) == config_hash(new) and capsys.readouterr().err == ""
    assert parse_config(MINIMAL, overrides=["data.folds=5", "data.fold=1"]).data.cv_fold == 1
    assert new.run_dir.name == "cv-3"
    with pytest.raises(ConfigError, match="data.fold and data.cv_fold are the same key"):
        parse_config({**MINIMAL, "data": {**MINIMAL["data"], "cv_folds": 4, "cv_fold": 1, "fold": 1}})


def test_the_old_window_key_still_works_with_one_deprecation_line(capsys):
    """data.window_s is data.window_seconds: in a file or a --set, hashed as before (runs stay valid)."""
    old = parse_config({**MINIMAL, "data": {**MINIMAL["data"], "window_s": 2.5}}, "old.yaml")
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("old.yaml: data.window_s is deprecated: write data.window_seconds")
    new = parse_config({**MINIMAL, "data": {**MINIMAL["data"], "window_seconds": 2.5}})
    assert old == new and config_hash(old) == config_hash(new) and new.data.window_seconds == 2.5
    overridden = parse_config(new.to_dict(), overrides=["data.window_s=1.5"])
    assert overridden.data.window_seconds == 1.5 and "deprecated" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="data.window_s and data.window_seconds are the same key"):
        parse_config({**MINIMAL, "data": {**MINIMAL["data"], "window_s": 1, "window_seconds": 1}})


def test_a_run_made_in_fold_k_keeps_its_folder(tmp_path):
    config = parse_config({**MINIMAL, "runs_dir": str(tmp_path),
                           "data": {**MINIMAL["data"], "cv_folds": 4, "cv_fold": 2}})
    assert config.run_dir == tmp_path / MINIMAL["name"] / "cv-2"
    (tmp_path / MINIMAL["name"] / "fold-2").mkdir(parents=True)
    assert config.run_dir == tmp_path / MINIMAL["name"] / "fold-2"
