"""Shared test setup: quiet TensorFlow and seeded randomness."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def randomize_weights(model, rng, scale: float = 1.0) -> None:
    """Overwrite every weight with random values: a fold must not pass thanks to a default init.

    Kernels get N(0, scale²/fan_in), so deep stacks neither vanish nor explode; vectors
    (biases, norm scales and offsets, BatchNorm statistics) get U(0.1, 0.6), positive so that
    variances stay valid and ReLU units stay alive, which keeps every layer visible in the output.
    """
    for weight in model.weights:
        shape = tuple(weight.shape)
        if len(shape) >= 2:
            values = rng.standard_normal(shape) * scale / np.sqrt(np.prod(shape[:-1]))
        else:
            values = rng.uniform(0.1, 0.6, shape)
        weight.assign(values.astype(np.float32))


def tiny_raw(root, **changes) -> dict:
    """The tests' one tiny demo-corpus config (5 speakers, 1 s windows, 2 epochs, one seed) as a raw
    mapping under `root`; `changes` set dotted keys over it, e.g. tiny_raw(tmp, **{"data.val": "none"})."""
    raw = {"name": "tiny", "runs_dir": str(root / "runs"),
           "data": {"dataset": "demo", "root": str(root / "corpus"), "window_seconds": 1.0, "val": "split",
                    "prepare": {"speakers": 5, "per_class": 2, "min_seconds": 1.0, "max_seconds": 1.5}},
           "model": {"arch": "convtransformer", "cls_dropout": 0.1},
           "training": {"epochs": 2, "batch_size": 8, "seeds": 1}}
    for key, value in changes.items():
        *sections, name = key.split(".")
        node = raw
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = value
    return raw


def write_tiny_config(tmp_path, val: str, per_class: int, cls_dropout: float):
    """A one-epoch tiny config file for CLI tests (tiny_raw, clips of 1.0–1.2 s)."""
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_raw(tmp_path, **{
        "data.val": val, "data.prepare.per_class": per_class, "data.prepare.max_seconds": 1.2,
        "model.cls_dropout": cls_dropout, "training.epochs": 1})))
    return path


def deploy_tiny_run(root, **model):
    """A tiny demo-corpus run taken through stages 01–05 (one seed), `model` keys over the defaults."""
    from ser_reparam.config import parse_config
    from ser_reparam.dehrf import fold_run
    from ser_reparam.experiment import prepare_run_manifest
    from ser_reparam.quantize import quantize_run
    from ser_reparam.stages import s02_features
    from ser_reparam.train import train_seed

    config = parse_config(tiny_raw(root, **{"model.hrf": "ffn2@8x1", "quantize.representative": 16,
                                            **{f"model.{key}": value for key, value in model.items()}}))
    prepare_run_manifest(config)
    s02_features.run(config)  # stage 02: features and statistics
    train_seed(config, 0, verbose=0)
    fold_run(config)
    quantize_run(config)
    return config


@pytest.fixture(scope="session")
def deployed_run(tmp_path_factory):
    """The input of export tests."""
    return deploy_tiny_run(tmp_path_factory.mktemp("deployed"))


@pytest.fixture(scope="session")
def stats_pool_run(tmp_path_factory):
    """The same with the classifier head of the real-speech recipe: mean and mean-square pooling."""
    return deploy_tiny_run(tmp_path_factory.mktemp("stats_pool"), pooling="mean_sq", cls_units=[16, 16])


def full_disk(monkeypatch, folder) -> None:
    """Temporary files made in `folder` (atomic writes) go to /dev/full: writing them fails with the
    system's own ENOSPC, as on a full disk."""
    import tempfile
    from pathlib import Path

    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (Linux) to fill a disk")
    real = tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        if Path(kwargs.get("dir") or ".").resolve() != Path(folder).resolve():
            return real(*args, **kwargs)
        return os.open("/dev/full", os.O_WRONLY), str(Path(folder) / ".full.tmp")
    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
