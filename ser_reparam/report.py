"""Seed-aggregated result tables in the paper's format, as markdown + JSON, and PNG plots.

Rows: Original, Lightweight, then each HRF placement (named as in the paper: FFN1, FFN2,
FFN1 & FFN2, QKV, Project, CLS, ALL, …, with ratio r and HRF depth N when not the default
r=8, N=1, and the activation when not the architecture's own), then the classic baselines and
chance (ser_reparam.baseline) fitted on the same splits. Columns: WA, UA, WF1, MF1 as mean ±
std over seeds — over folds × seeds for a speaker cross-validation (runs/<name>/cv-<k>/) —,
Params and MACs of the deployed (folded) model, and each row's paired difference from a
reference row (ser_reparam.paired: same fold, same seed). A row with collapsed runs (metrics.json
`collapsed`) is marked and counted. Several run folders (one per config) give one row per
experiment and variant, so two recipes on the same folds and seeds are compared pair by pair.
Plots: the confusion matrix per row (summed over seeds, rows normalized) and metric vs expansion
ratio, HRF depth and activation wherever a sweep varied them (the paper's Figures 4–12).
"""
from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from ser_reparam import paired
from ser_reparam.errors import MissingInputError
from ser_reparam.files import atomic_write_text
from ser_reparam.layout import (
    SEED_METRICS,
    baselines_files,
    saved_config_in,
    seed_metrics_files,
    variant_dir_of_seed_metrics,
)
from ser_reparam.models.placement import DEFAULT_DEPTH, DEFAULT_RATIO, PLACES, Placement

METRIC_KEYS = ("wa", "ua", "wf1", "mf1")
PAPER_NAMES = {"qkv": "QKV", "proj": "Project", "ffn1": "FFN1", "ffn2": "FFN2", "ffn_m1": "FFN_M1",
               "ffn_m2": "FFN_M2", "cls": "CLS"}


def variant_info(model: dict) -> dict:
    """A variant's row facts from the model section of its saved config.json: arch, preset,
    places, ratio, depth (of the first group), activation, mixed (groups of different r / N).
    The placement is parsed by models.placement, as training did — never from a folder name."""
    arch = model["arch"]
    preset = model["preset"] if isinstance(model["preset"], str) else "x".join(map(str, model["preset"]))
    placement = Placement.parse(model.get("hrf"), arch)
    _, ratio, depth = placement.settings[0] if placement.settings else (None, 0, 0)
    return {"arch": arch, "preset": preset, "places": placement.places, "ratio": ratio, "depth": depth,
            "activation": model.get("activation") or "", "mixed": placement.mixed, "all": placement.is_all}


def row_name(info: dict) -> str:
    if not info["places"]:
        name = "Original" if info["preset"] == "original" else ("Lightweight"
                                                                if info["preset"] == "lightweight"
                                                                 else f"No HRF [{info['preset']}]")
    else:
        name = "ALL" if info["all"] else " & ".join(PAPER_NAMES[p] for p in info["places"])
        if (info["ratio"], info["depth"]) != (DEFAULT_RATIO, DEFAULT_DEPTH) or info["mixed"]:
            name += f" (r={info['ratio']}, N={info['depth']})"
    return name + (f" [{info['activation']}]" if info["activation"] else "")


def with_cv_fold(record: dict) -> dict:
    """A metrics.json / baselines.json record with its speaker fold under "cv_fold" (records written
    before the rename say "fold")."""
    legacy = record.pop("fold", None)
    record.setdefault("cv_fold", legacy)
    return record


def collect(run_dirs: list[str | os.PathLike]) -> dict[str, list[dict]]:
    """variant → metrics.json contents of its seeds (of every fold), from every run folder given,
    each with "info": variant_info of the variant folder's saved config.json. With several run
    folders the key is "<experiment folder>/<variant>" (two configs' rows stay apart)."""
    found = defaultdict(list)
    for run_dir in run_dirs:
        prefix = f"{Path(run_dir).name}/" if len(run_dirs) > 1 else ""
        paths = seed_metrics_files(run_dir)
        if not paths:
            raise MissingInputError(f"no trained seeds (*/train/seed-*/{SEED_METRICS}) under {run_dir}; "
                                    "run `ser-reparam train` or `sweep` first")
        for path in paths:
            metrics = with_cv_fold(json.loads(path.read_text()))
            config = saved_config_in(variant_dir_of_seed_metrics(path))
            if not config.is_file():
                raise MissingInputError(f"{config} is missing: the report reads each variant's saved config; "
                                        f"train the variant again (ser-reparam train) to write it")
            metrics["info"] = {**variant_info(json.loads(config.read_text())["model"]),
                               "experiment": prefix[:-1]}
            found[prefix + metrics["variant"]].append(metrics)
    return dict(found)


def _order(info: dict) -> tuple:
    """Original, Lightweight, single placements, combinations, ALL; then ratio, depth."""
    kind = (0 if info["preset"] == "original" else 1) if not info["places"] else 2
    places = [PLACES.index(p) for p in info["places"]]
    is_all = row_name(info).startswith("ALL")
    return (kind, info["activation"], is_all, len(places), places, info["ratio"], info["depth"])


def collect_baselines(run_dirs: list[str | os.PathLike]) -> dict[str, list[dict]]:
    """baseline name → its metrics on every split (fold) found (baselines.json files); several run
    folders over the same corpus hold the same fold's baselines: the first folder's count once."""
    found, seen = defaultdict(list), set()
    for run_dir in run_dirs:
        for path in baselines_files(run_dir):
            record = with_cv_fold(json.loads(path.read_text()))
            for name, metrics in record["models"].items():
                if (name, record["cv_fold"]) not in seen:
                    seen.add((name, record["cv_fold"]))
                    found[name].append({**metrics, "cv_fold": record["cv_fold"], "labels": record["labels"]})
    return dict(found)


def _cv_folds(runs: list[dict]) -> list[int]:
    return sorted({m["cv_fold"] for m in runs if m["cv_fold"] is not None})


def _metric_cells(row: dict, values: dict[str, list[float]]) -> None:
    for key in METRIC_KEYS:
        row[key] = {"mean": float(np.mean(values[key])), "std": float(np.std(values[key])),
                    "values": values[key]}


def aggregate(found: dict[str, list[dict]], baselines: dict[str, list[dict]] | None = None,
              against: str | None = None, metric: str = "ua") -> list[dict]:
    """One row per variant: mean and std of each metric over (fold, seed) runs, deployed size,
    how many runs collapsed; then one row per baseline (mean and std over folds). Each row holds
    "paired": its `metric` minus the reference row's (`against`, a variant key; default the
    Lightweight row, else the first), pair by pair (ser_reparam.paired)."""
    from ser_reparam.baseline import BASELINES

    rows = []
    for variant in sorted(found, key=lambda v: _order(found[v][0]["info"])):
        runs = sorted(found[variant],
                      key=lambda m: (m["cv_fold"] if m["cv_fold"] is not None else -1, m["seed"]))
        info = runs[0]["info"]
        name = f"{info['experiment']}: {row_name(info)}" if info.get("experiment") else row_name(info)
        row = {"variant": variant, "name": name, "info": info, "seeds": sorted({m["seed"] for m in runs}),
               "cv_folds": _cv_folds(runs), "runs": len(runs),
               "collapsed": sum(bool(m.get("collapsed")) for m in runs),
               "params": runs[0]["params"], "macs": runs[0]["macs"], "labels": runs[0]["labels"],
               "confusion": np.sum([m["test"]["confusion"] for m in runs], axis=0).tolist()}
        _metric_cells(row, {key: [m["test"][key] for m in runs] for key in METRIC_KEYS})
        row["by_run"] = paired.per_run(runs, metric)
        rows.append(row)
    for name in [n for n in BASELINES if n in (baselines or {})]:
        runs = baselines[name]
        row = {"variant": name, "name": BASELINES[name], "baseline": True, "seeds": [],
               "cv_folds": _cv_folds(runs), "runs": len(runs),
               "collapsed": 0, "params": runs[0]["params"], "macs": runs[0]["macs"],
               "labels": runs[0]["labels"],
               "confusion": np.sum([m["confusion"] for m in runs], axis=0).tolist()}
        _metric_cells(row, {key: [m[key] for m in runs] for key in METRIC_KEYS})
        row["by_cv_fold"] = {m["cv_fold"]: m[metric] for m in runs}
        rows.append(row)
    _pair_with_reference(rows, against, metric)
    return rows


def _pair_with_reference(rows: list[dict], against: str | None, metric: str) -> None:
    models = [row for row in rows if not row.get("baseline")]
    if against is not None and against not in {row["variant"] for row in models}:
        raise MissingInputError(f"report --against {against!r}: no such variant; the runs hold "
                                f"{', '.join(row['variant'] for row in models)}")
    reference = next((row for row in models if row["variant"] == against), None) if against else None
    reference = reference or next((row for row in models if row_name(row["info"]) == "Lightweight"),
                                  models[0] if models else None)
    for row in rows:
        row["against"] = reference["name"] if reference else None
        by_fold = row.pop("by_cv_fold", None)
        if reference is None or row is reference:
            row["paired"] = None
        elif row.get("baseline"):
            row["paired"] = paired.difference(by_fold, paired.per_fold(reference["by_run"]))
        else:
            row["paired"] = paired.difference(row["by_run"], reference["by_run"])
    for row in models:
        row["by_run"] = [[fold, seed, value]
                         for (fold, seed), value in sorted(row["by_run"].items(), key=str)]


def _size(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"


def _over(rows: list[dict]) -> str:
    """'3 seeds' or '8 folds × 3 seeds' (several counts joined by '/')."""
    models = [r for r in rows if not r.get("baseline")] or rows
    seeds = "/".join(map(str, sorted({len(r["seeds"]) for r in models})))
    folds = "/".join(map(str, sorted({len(r["cv_folds"]) for r in models})))
    return f"{seeds} seeds" if folds == "0" else f"{folds} speaker folds × {seeds} seeds"


def markdown(rows: list[dict], title: str, metric: str = "ua") -> str:
    against = next((row["against"] for row in rows if row.get("against")), None)
    lines = [f"### {title}", "",
             f"Test metrics, mean ± std over {_over(rows)}; Params and MACs of the deployed (folded) model. "
             "Baselines: utterance mean / std / min / max of the 78 features, or eGeMAPS v02's 88 "
             "functionals (openSMILE), fitted on each training split; "
             "chance = always the training split's most frequent class. runs = the (fold, seed) runs "
             f"behind a row (a baseline: one per fold). Δ{metric.upper()}: the row minus "
             f"{against or 'the reference'} "
             "on the same fold and seed (a baseline: per fold, against the seeds' mean), mean ± 95 % CI "
             "(pairs); a CI that holds 0 is no difference.", "",
             f"| which modules use HRF | WA | UA | WF1 | MF1 | Params | MACs | runs | Δ{metric.upper()} (95 "
             "% CI) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = " | ".join(f"{row[k]['mean']:.3f} ± {row[k]['std']:.3f}" for k in METRIC_KEYS)
        name = row["name"] + (f" ⚠ {row['collapsed']}/{row['runs']} runs collapsed"
                              if row["collapsed"] else "")
        size = ("—", "—") if row.get("baseline") and not row["params"] else (_size(row["params"]),
                                                                             _size(row["macs"]))
        delta = "reference" if row.get("against") == row["name"] else paired.cell(row.get("paired"))
        lines.append(f"| {name} | {cells} | {size[0]} | {size[1]} | {row['runs']} | {delta} |")
    if any(row["collapsed"] for row in rows):
        lines += ["", "⚠ collapsed: the run did not learn beyond the class prior (one predicted class, or a "
                  "final training loss at the label-prior entropy: `collapse_reasons` in its metrics.json); "
                  "its numbers are in the mean."]
    return "\n".join(lines) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def _plot_confusions(rows: list[dict], folder: Path) -> list[Path]:
    plt = _pyplot()
    paths = []
    for row in rows:
        counts = np.asarray(row["confusion"], float)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        fig, ax = plt.subplots(figsize=(4.2, 3.8))
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        labels = row["labels"]
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for i, j in np.ndindex(share.shape):
            ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{row['name']}\n(sum over {row['runs']} runs)", fontsize=9)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", row["variant"])  # "experiment/variant" rows included
        paths.append(_save(fig, folder / f"confusion-{name}.png"))
    return paths


def _plot_ablations(rows: list[dict], folder: Path, metric: str) -> list[Path]:
    """Metric vs ratio / depth / activation for each placement a sweep varied them for."""
    plt = _pyplot()
    parsed = [(row, row["info"]) for row in rows if not row.get("baseline")]
    paths = []
    for axis in ("ratio", "depth", "activation"):
        lines = defaultdict(list)
        for row, info in parsed:
            if info["places"]:
                fixed = tuple(v for k, v in info.items()
                              if k in ("ratio", "depth", "activation") and k != axis)
                lines[(" & ".join(PAPER_NAMES[p] for p in info["places"]), fixed)].append(
                    (info[axis] or "default", row[metric]["mean"], row[metric]["std"]))
        lines = {key: sorted(points, key=lambda p: str(p[0]) if axis == "activation" else p[0])
                 for key, points in lines.items() if len({p[0] for p in points}) > 1}
        if not lines:
            continue
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for (name, _), points in lines.items():
            xs = [str(p[0]) for p in points]
            ax.errorbar(xs, [p[1] for p in points], yerr=[p[2] for p in points], marker="o", capsize=3,
                        label=name)
        ax.set_xlabel({"ratio": "expansion ratio r", "depth": "HRF depth (extra layers)",
                       "activation": "activation"}[axis])
        ax.set_ylabel(metric.upper())
        ax.legend(fontsize=7)
        paths.append(_save(fig, folder / f"{metric}-vs-{axis}.png"))
    return paths


def write_report(run_dirs: list[str | os.PathLike], out_dir: str | os.PathLike | None = None,
                 metric: str = "ua", against: str | None = None) -> dict:
    """Aggregate every trained seed under `run_dirs` into out_dir (default <first run>/reports),
    each row paired with `against` (aggregate)."""
    rows = aggregate(collect(run_dirs), collect_baselines(run_dirs), against, metric)
    out = Path(out_dir) if out_dir else Path(run_dirs[0]) / "reports"
    out.mkdir(parents=True, exist_ok=True)
    title = ", ".join(Path(d).name for d in run_dirs)
    text = markdown(rows, title, metric)
    atomic_write_text(out / "results.md", text)
    atomic_write_text(out / "results.json", json.dumps(rows, indent=1) + "\n")
    plots = _plot_confusions(rows, out) + _plot_ablations(rows, out, metric)
    return {"markdown": text, "rows": rows, "files": [out / "results.md", out / "results.json", *plots]}
