"""Experiment configs: every shipped YAML validates; typos and bad values are named."""
from pathlib import Path

import pytest

from ser_reparam.config import ConfigError, config_hash, load_config, parse_config

CONFIGS = sorted(Path(__file__).parents[1].joinpath("configs").glob("*.yaml"))
MINIMAL = {"name": "x", "data": {"dataset": "demo", "root": "corpus"}}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(path):
    config = load_config(path)
    assert config.name and config.data.root


def test_defaults_are_the_papers():
    config = parse_config(MINIMAL)
    training = config.training
    assert (training.epochs, training.learning_rate, training.weight_decay, training.lr_factor, training.seeds) == \
        (120, 1e-3, 1e-6, 0.5, 5)
    assert config.frontend.num_features == 78 and config.data.window_s == 5.0


@pytest.mark.parametrize("raw,message", [
    ({**MINIMAL, "model": {"hrff": "ffn2"}}, r"unknown key 'model.hrff' \(did you mean 'hrf'\?\)"),
    ({**MINIMAL, "trainig": {}}, r"unknown key 'trainig' \(did you mean 'training'\?\)"),
    ({**MINIMAL, "training": {"select": "acc"}}, "training.select must be one of wa, ua, wf1, mf1, got 'acc'"),
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
    ({**MINIMAL, "training": {"weight_decay": float("inf")}}, r"training.weight_decay must be a finite number"),
    ({**MINIMAL, "data": {**MINIMAL["data"], "window_s": 0}}, r"data.window_s must be a finite number > 0"),
    ({**MINIMAL, "data": {**MINIMAL["data"], "val": "bogus"}}, r"data.val must be one of auto, split, none, speakers:N, got 'bogus'"),
    ({**MINIMAL, "model": {"dropout": 2}}, r"model.dropout must be a finite number >= 0 and < 1, got 2"),
    ({**MINIMAL, "model": {"heads": 3}}, r"heads 3 must divide the model width 16"),
    ({**MINIMAL, "model": {"hrf": "ffn2,ffn2@4x2"}}, r"place 'ffn2' is given twice"),
    ({**MINIMAL, "model": {"hrf": "ffn2@99999x1"}}, r"1 <= ratio <= 64"),
    ({**MINIMAL, "quantize": {"int16x8": "yes"}}, r"quantize.int16x8 must be true or false, got 'yes'"),
    ({**MINIMAL, "name": "../../x"}, r"name '../../x' must be one folder name"),
    ({**MINIMAL, "name": ".."}, r"name '..' must be one folder name"),
    ({**MINIMAL, "training": {"schedule": "step"}}, "training.schedule 'step' must be one of plateau, cosine"),
    ({**MINIMAL, "training": {"mixup": -1}}, "training.mixup must be a number >= 0"),
    ({**MINIMAL, "training": {"time_masks": 1.5}}, "training.time_masks must be an integer >= 0"),
    ({**MINIMAL, "data": {**MINIMAL["data"], "folds": 1}}, "data.folds 1 must be 'loso'"),
    ({**MINIMAL, "data": {**MINIMAL["data"], "fold": 0}}, "data.fold 0 needs data.folds"),
    ({**MINIMAL, "data": {**MINIMAL["data"], "folds": 4, "fold": 4}}, r"must be 0 … 3"),
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
    from ser_reparam.config import RULES, SECTIONS
    from dataclasses import fields

    keys = {f"{name}.{f.name}" for name, cls in SECTIONS.items() for f in fields(cls)}
    assert set(RULES) <= keys


def test_a_fold_has_its_own_run_folder():
    config = parse_config({**MINIMAL, "data": {**MINIMAL["data"], "folds": "loso", "fold": 3}})
    assert config.run_dir == config.base_dir / "fold-3" and config.base_dir.name == "x"
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
