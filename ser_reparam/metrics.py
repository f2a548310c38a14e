"""The paper's metrics, computed with scikit-learn (the reference implementation everyone uses).

WA = accuracy; UA = mean per-class recall (unweighted accuracy); WF1 = support-weighted F1;
MF1 = macro F1. Every class of the label set counts, present in the data or not.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score


def classification_metrics(y_true, y_pred, num_classes: int) -> dict:
    """WA, UA, WF1, MF1 (floats) and the confusion matrix (rows = true class) as lists."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(num_classes))
    return {
        "wa": float(accuracy_score(y_true, y_pred)),
        "ua": float(recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "wf1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "mf1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "count": int(len(y_true)),
    }
