"""Paired differences between two result rows: the same (fold, seed) runs of each, subtracted.

Two recipes trained on the same folds with the same seeds share the fold's difficulty and the
seed's luck; their per-run difference has a far smaller spread than either row's own std, so a
change is judged by the mean difference and its 95 % confidence interval (Student's t over the
pairs, which treats the pairs as independent draws — a fold's seeds are not quite, so read a CI
that barely excludes 0 with care). A baseline has one result per fold: it is paired with the
model's mean over seeds in that fold.
"""
from __future__ import annotations

import math

import numpy as np


def _t975(dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def difference(values: dict, reference: dict) -> dict | None:
    """mean, 95 % CI half-width and count of values[k] - reference[k] over the keys both hold
    (None when they share none)."""
    keys = sorted(set(values) & set(reference), key=str)
    if not keys:
        return None
    diffs = np.array([values[k] - reference[k] for k in keys], float)
    half = _t975(len(diffs) - 1) * diffs.std(ddof=1) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan
    return {"mean": float(diffs.mean()), "ci95": float(half), "n": len(diffs), "values": diffs.tolist()}


def per_run(runs: list[dict], metric: str) -> dict:
    """(fold, seed) → test metric of a model row's runs."""
    return {(m.get("cv_fold"), m["seed"]): m["test"][metric] for m in runs}


def per_fold(by_run: dict) -> dict:
    """fold → mean over that fold's seeds (to pair with a baseline's one result per fold)."""
    folds: dict = {}
    for (fold, _), value in by_run.items():
        folds.setdefault(fold, []).append(value)
    return {fold: float(np.mean(values)) for fold, values in folds.items()}


def cell(diff: dict | None) -> str:
    """'+0.031 ± 0.012 (24)': mean difference ± 95 % CI half-width (pairs); '—' without pairs."""
    if diff is None:
        return "—"
    half = "n/a" if math.isnan(diff["ci95"]) else f"{diff['ci95']:.3f}"
    return f"{diff['mean']:+.3f} ± {half} ({diff['n']})"
