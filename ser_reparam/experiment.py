"""The data steps every model variant shares: the run's manifest (stage 01), its labels, its
feature store, fold configs, and loading a trained variant's saved config. Paths: layout.py."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from ser_reparam.config import DEMO_DATASET, ExperimentConfig, parse_config, renamed
from ser_reparam.data.augment import copies_of
from ser_reparam.data.dataset import FeatureStore, Window
from ser_reparam.data.extra_corpus import extra_roots, extra_rows
from ser_reparam.data.manifest import read_manifest, write_manifest
from ser_reparam.data.prepare import prepare_manifest
from ser_reparam.data.protocol import load_protocol
from ser_reparam.data.splits import assign_fold, assign_validation, speaker_folds
from ser_reparam.data.synthetic import LABELS, make_demo_corpus
from ser_reparam.errors import ConfigError, InputError, MissingInputError
from ser_reparam.files import atomic_write_text
from ser_reparam.layout import RunLayout, corpus_manifest, saved_config_in, variant_configs


def fold_configs(config: ExperimentConfig) -> list[ExperimentConfig]:
    """The config of every fold to run: [config] without speaker cross-validation or with one
    fold chosen (data.cv_fold), else one per fold (prepares the shared manifest to count them)."""
    if config.data.cv_folds is None or config.data.cv_fold is not None:
        return [config]
    source = _prepared(config)
    count = len(speaker_folds(read_manifest(source), config.data.cv_folds))
    return [dataclasses.replace(config, data=dataclasses.replace(config.data, cv_fold=k))
            for k in range(count)]


def _prepared(config: ExperimentConfig) -> Path:
    """runs/<name>/prepared.csv (or the demo corpus manifest), made when missing; shared by the folds."""
    data = config.data
    if data.dataset == DEMO_DATASET:
        source = corpus_manifest(data.root)
        if not source.exists():
            make_demo_corpus(Path(data.root), **data.prepare)
        return source
    source = RunLayout(config).prepared
    if not source.exists():
        print(prepare_manifest(data.dataset, Path(data.root), source, **data.prepare).table())
    return source


def refuse_overlap(config: ExperimentConfig) -> None:
    """InputError when the run folder (<runs_dir>/<name>) is the corpus, lies inside it or holds the
    user's CSV: the stages write there, and --force deletes what they wrote."""
    run = config.base_dir.resolve()
    extra = [("data.extra_corpus.root", str(root)) for _, root in extra_roots(config.data.extra_corpus)]
    for key, root in [("data.root", config.data.root), *extra]:
        if run.is_relative_to(Path(root).resolve()):
            raise InputError(f"run folder {config.base_dir} is (or is inside) {key} {root}: the stages "
                             "write and --force deletes files there; choose a runs_dir outside the corpus")
    csv_file = config.data.prepare.get("csv_file") if isinstance(config.data.prepare, dict) else None
    if csv_file is not None and Path(str(csv_file)).resolve().is_relative_to(run):
        raise InputError(f"data.prepare.csv_file {csv_file} lies in the run folder {config.base_dir}, where "
                         "stage 01 writes manifest.csv (and --force deletes it): keep your CSV outside "
                         "<runs_dir>/<name>, or choose another runs_dir / name")


def labels_for(config: ExperimentConfig, rows: list | None = None) -> tuple[str, ...]:
    """The class list, in the order of the model's outputs (`rows`: the run manifest's rows, when
    stage 01 has not written it yet)."""
    if config.data.labels:
        return tuple(config.data.labels)
    if config.data.dataset == DEMO_DATASET:
        return LABELS
    labels = load_protocol(config.data.dataset).labels
    if labels is None:  # generic layouts: the labels found in the data, sorted
        rows = read_manifest(RunLayout(config).manifest) if rows is None else rows
        labels = tuple(sorted({u.label for u in rows}))
    return labels


def prepare_run_manifest(config: ExperimentConfig) -> str:
    """Stage 01: build the dataset manifest (or generate the demo corpus), apply the validation
    rule, write runs/<name>/manifest.csv. Returns a summary: prepare's table and the rule's effect."""
    data = config.data
    root = Path(data.root)
    summary = [f"{data.dataset}: demo corpus in {root}"]
    if data.dataset == DEMO_DATASET:
        source = _prepared(config)
    else:  # every fold prepares again (the audio cache makes it cheap): never a stale prepared.csv
        source = RunLayout(config).prepared
        summary = [prepare_manifest(data.dataset, root, source, **data.prepare).table()]
    rows = read_manifest(source)
    if data.cv_fold is not None:
        rows, fold_note = assign_fold(rows, data.cv_folds, data.cv_fold)
        summary.append(fold_note)
    rows, note = assign_validation(rows, data.val)
    summary.append(note)
    if data.extra_corpus is not None:  # after the validation rule: validation speakers are the run's own
        layout = RunLayout(config)
        extra, extra_note = extra_rows(data.extra_corpus, layout.extra_prepared, layout.extra_audio_cache,
                                       labels_for(config, rows))
        rows += extra
        summary.append(extra_note)
    write_manifest(rows, RunLayout(config).manifest)
    return "\n".join(summary)


def feature_store(config: ExperimentConfig) -> FeatureStore:
    data = config.data
    layout = RunLayout(config)
    return FeatureStore(layout.manifest, Path(data.root), layout.features, config.frontend,
                        Window(data.window_seconds, data.split_long, data.norm),
                        copies_of(data.speeds, data.noise_snr_db), extra_roots(data.extra_corpus))


def save_run_config(config: ExperimentConfig) -> None:
    """Keep the resolved config (overrides applied) in the variant folder, so later stages can be
    pointed at the folder alone (`ser-reparam fold runs/<name>/<variant>`)."""
    atomic_write_text(RunLayout(config).config_json, json.dumps(config.to_dict(), indent=1) + "\n")


def _saved_config(path: Path) -> dict:
    """A variant's saved config.json as data, keys an older version wrote under their old names
    renamed quietly (the tool wrote them, the user has nothing to change); ConfigError naming it when
    it is not JSON text."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"{path} is not a readable config ({type(error).__name__}: {error}): stage 03 "
                          "writes it; restore it, or re-run stage 03 (ser-reparam train --config <your "
                          "config>)") from None
    if isinstance(raw, dict) and "data" in raw:
        raw["data"] = renamed(raw["data"], str(path), quiet=True)
    return raw


def _root_from(config: ExperimentConfig, runs_dir: Path) -> str:
    """data.root as seen from anywhere: a relative root and a relative runs_dir were both relative to
    the folder the run was made in, which is `runs_dir` less the saved runs_dir's parts."""
    root, saved = Path(config.data.root), Path(config.runs_dir)
    if root.is_absolute() or saved.is_absolute() or runs_dir.parts[-len(saved.parts):] != saved.parts:
        return config.data.root
    return str(Path(*runs_dir.parts[:-len(saved.parts)]) / root)


def _placed_at(config: ExperimentConfig, variant_dir: Path) -> ExperimentConfig:
    """`config` with the runs_dir and name that make `variant_dir` its variant folder: the folder a
    user names is the run (its saved runs_dir was relative to wherever the run was made)."""
    variant_dir = variant_dir.resolve()
    base = variant_dir.parent if config.data.cv_fold is None else variant_dir.parent.parent
    placed = dataclasses.replace(config, runs_dir=str(base.parent), name=base.name,
                                 data=dataclasses.replace(config.data, root=_root_from(config, base.parent)))
    expected = RunLayout(placed).variant_dir
    if expected != variant_dir:
        raise InputError(f"{variant_dir} is not where its config.json (with the --set overrides) puts the "
                         f"variant ({expected}): keep the folder names the run was given, and do not --set "
                         "values that change the variant (model.*, data.cv_fold)")
    return placed


def load_run(path: str | os.PathLike, overrides: list[str] | tuple = ()) -> ExperimentConfig:
    """The config of a variant folder, or of the only variant of an experiment folder (+ overrides)."""
    path = Path(path)
    saved = saved_config_in(path)
    if saved.is_file():
        return _placed_at(parse_config(_saved_config(saved), str(saved), overrides), path)
    variants = [p.parent for p in variant_configs(path)]
    if len(variants) == 1:
        return load_run(variants[0], overrides)
    if not variants:
        raise MissingInputError(f"{path} holds no trained variant (no config.json): run stage 03 "
                                "(ser-reparam train --config …) first, or pass --config")
    raise InputError(f"{path} holds several variants; name one: " + ", ".join(str(v) for v in variants))
