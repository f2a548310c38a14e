"""Classic baselines beside every Transformer result: what utterance statistics and a linear
model reach on the same split, and what predicting one class scores (chance).

Features: per utterance, the mean, standard deviation, minimum and maximum over its frames of
the same 78 features the models see (the cached front-end output, before normalization; the
frames of an utterance's windows pooled), 312 numbers. Models (scikit-learn, standardized
inputs, class-balanced, fitted on the training split, scored on the test split): logistic
regression and a linear SVM. The same two models on eGeMAPS v02 (openSMILE's 88 functionals of
each whole utterance: the baseline SER papers report), computed once per utterance and cached in
runs/<name>/egemaps.npz. Chance: always the training split's most frequent class, i.e.
what a collapsed model scores (UA = 1 / classes when the test split has every class).
Written to runs/<name>[/cv-<k>]/baselines.json.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ser_reparam.files import atomic_write_text, temp_name
from ser_reparam.layout import RunLayout
from ser_reparam.metrics import classification_metrics

if TYPE_CHECKING:  # the report imports BASELINES without TensorFlow
    from ser_reparam.config import ExperimentConfig

STATISTICS = ("mean", "std", "min", "max")
BASELINES = {"logreg": "Logistic regression (78-feature utterance stats)",
             "linear_svm": "Linear SVM (78-feature utterance stats)",
             "egemaps_logreg": "Logistic regression (eGeMAPS v02, 88 functionals)",
             "egemaps_svm": "Linear SVM (eGeMAPS v02, 88 functionals)",
             "chance": "Chance (majority class)"}


def utterance_statistics(store, split: str, labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std, min, max of every feature per utterance (n, 4·78), label indices (n,))."""
    from ser_reparam.data.dataset import read_features

    frames, targets = {}, {}
    for example in read_features(store.features(split)).as_numpy_iterator():
        utt = example["utt_id"].decode()
        frames.setdefault(utt, []).append(example["features"])
        targets[utt] = labels.index(example["label"].decode())
    stats = []
    for utt, parts in frames.items():
        values = np.concatenate(parts).astype(np.float64)
        stats.append(np.concatenate([values.mean(0), values.std(0), values.min(0), values.max(0)]))
    return np.array(stats), np.array([targets[utt] for utt in frames])


def egemaps_functionals(config: ExperimentConfig, split: str,
                        labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(eGeMAPS v02 functionals per utterance (n, 88), label indices (n,)) of the run manifest's
    `split`, read from runs/<name>/egemaps.npz; utterances not in it yet are computed and added."""
    from ser_reparam.data.dataset import audio_file
    from ser_reparam.data.extra_corpus import extra_roots
    from ser_reparam.data.manifest import read_manifest
    from ser_reparam.egemaps import functionals
    from ser_reparam.layout import RunLayout

    layout = RunLayout(config)
    rows = [u for u in read_manifest(layout.manifest, labels) if u.split == split]
    paths = [audio_file(u, config.data.root, layout.manifest.parent, extra_roots(config.data.extra_corpus))
             for u in rows]
    keys = [f"{u.utt_id}|{path}|{u.start}|{u.end}" for u, path in zip(rows, paths)]
    cache = layout.egemaps
    known = {}
    if cache.exists():
        with np.load(cache, allow_pickle=False) as saved:
            known = dict(zip(saved["keys"].tolist(), saved["values"]))
    missing = [{"key": key, "path": path, "start": u.start, "end": u.end}
               for key, path, u in zip(keys, paths, rows) if key not in known]
    if missing:
        known.update(functionals(missing))
        cache.parent.mkdir(parents=True, exist_ok=True)
        with open(temp_name(cache), "wb") as handle:
            np.savez(handle, keys=np.array(list(known)), values=np.array(list(known.values())))
        os.replace(temp_name(cache), cache)
    return np.array([known[key] for key in keys]), np.array([labels.index(u.label) for u in rows])


def baseline_models() -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return {"logreg": make_pipeline(StandardScaler(),
                                    LogisticRegression(max_iter=5000, class_weight="balanced")),
            "linear_svm": make_pipeline(StandardScaler(), LinearSVC(C=0.01, class_weight="balanced",
                                                                    max_iter=20000, random_state=0))}


def run_baselines(config: ExperimentConfig) -> dict:
    """Fit and score the baselines on the config's train / test split; write and return baselines.json."""
    from ser_reparam.experiment import feature_store, labels_for

    store, labels = feature_store(config), labels_for(config)
    x_train, y_train = utterance_statistics(store, "train", labels)
    x_test, y_test = utterance_statistics(store, "test", labels)
    e_train, ey_train = egemaps_functionals(config, "train", labels)
    e_test, ey_test = egemaps_functionals(config, "test", labels)
    results = {}
    for inputs, (xs, ys, xt, yt) in {"": (x_train, y_train, x_test, y_test),
                                     "egemaps_": (e_train, ey_train, e_test, ey_test)}.items():
        for name, model in baseline_models().items():
            name = inputs + ("svm" if inputs and name == "linear_svm" else name)
            model.fit(xs, ys)
            results[name] = classification_metrics(yt, model.predict(xt), len(labels))
            results[name]["params"] = int(model[-1].coef_.size + model[-1].intercept_.size)
            results[name]["macs"] = int(model[-1].coef_.size)
    majority = int(np.bincount(y_train, minlength=len(labels)).argmax())
    results["chance"] = {**classification_metrics(y_test, np.full(len(y_test), majority), len(labels)),
                         "params": 0, "macs": 0}
    record = {"experiment": config.name, "cv_fold": config.data.cv_fold, "inputs": _inputs_key(config),
              "labels": list(labels),
              "features": f"{', '.join(STATISTICS)} of the {x_train.shape[1] // len(STATISTICS)} front-end "
                          "features",
              "train_utterances": int(len(y_train)), "test_utterances": int(len(y_test)), "models": results}
    atomic_write_text(baselines_path(config), json.dumps(record, indent=1) + "\n")
    return record


def baselines_path(config: ExperimentConfig) -> Path:
    return RunLayout(config).baselines


def _inputs_key(config: ExperimentConfig) -> str:
    """What the numbers depend on: the run manifest, the front end and the window."""
    from ser_reparam.experiment import feature_store
    from ser_reparam.files import file_sha256
    from ser_reparam.layout import RunLayout

    store = feature_store(config)
    return (f"{file_sha256(RunLayout(config).manifest)[:12]}-{store.frontend.hash()}-{store.window.tag()}-"
            + "+".join(BASELINES))


def ensure_baselines(config: ExperimentConfig) -> dict:
    """baselines.json of this split: reused while its manifest, front end and window are the same."""
    path = baselines_path(config)
    if path.exists():
        record = json.loads(path.read_text())
        if record.get("inputs") == _inputs_key(config):
            return record
    return run_baselines(config)
