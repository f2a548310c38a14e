"""Scoring models on a split of the feature cache: arrays in cache order, per-utterance averaging
of window logits, the paper's metrics.

Used by training (validation and test of the Keras model), QAT, stage 04 (fold check) and stage
07, which runs the same examples through Keras, LiteRT and the TFLite Micro interpreter.
"""
from __future__ import annotations

import numpy as np

from ser_reparam.data.dataset import FeatureStore, batches
from ser_reparam.metrics import classification_metrics


def split_arrays(store: FeatureStore, split: str, labels: tuple[str, ...]):
    """(features (n, frames, 78), label indices (n,), utterance ids (n,)) of a split, in cache order."""
    xs, ys, ids = [], [], []
    for x, y, utt in batches(store, split, labels, batch_size=256, with_ids=True):
        xs.append(x.numpy())
        ys.append(y.numpy())
        ids.extend(i.decode() for i in utt.numpy())
    return np.concatenate(xs), np.concatenate(ys), np.array(ids)


def per_utterance(logits: np.ndarray, y: np.ndarray, ids: np.ndarray):
    """Average the logits of an utterance's windows (one row each when utterances were truncated)."""
    order = list(dict.fromkeys(ids))
    index = {utt: k for k, utt in enumerate(order)}
    rows = np.array([index[i] for i in ids])
    total = np.zeros((len(order), logits.shape[1]))
    np.add.at(total, rows, logits)
    counts = np.bincount(rows, minlength=len(order))[:, None]
    labels = np.zeros(len(order), dtype=int)
    labels[rows] = y
    return total / counts, labels


def score(logits: np.ndarray, y: np.ndarray, ids: np.ndarray, num_classes: int) -> dict:
    """The paper's metrics of per-utterance predictions."""
    averaged, labels = per_utterance(logits, y, ids)
    return classification_metrics(labels, averaged.argmax(axis=1), num_classes)
