"""The one runner of ser_reparam/stages/: each stage recorded so that a re-run redoes only what changed.

A stage's record is `runs/<name>/stages/NN.json` for the stages every variant shares (01 prepare,
02 features) and `NN-<variant>.json` for the others: the hash of the config sections the stage
reads, the sha256 of every file it read (the outputs of the stages it depends on) and wrote,
package versions, its summary and duration. A stage is skipped when its record still holds:
same config hash, same input hashes, its outputs on disk with the recorded hashes. The record is
written last, atomically, and the library writes every artifact atomically (temp file + rename),
so a stage cut off mid-way leaves no record and no half-written file: the next run redoes it.
"""
from __future__ import annotations

import hashlib
import json
import platform
import shutil
import time
from importlib import metadata
from pathlib import Path
from typing import Callable

from ser_reparam.config import DEMO_DATASET, ExperimentConfig, config_hash
from ser_reparam.errors import InputError, StageError
from ser_reparam.experiment import refuse_overlap
from ser_reparam.files import atomic_write_text, file_sha256
from ser_reparam.layout import RunLayout, variant_name
from ser_reparam.runlock import run_lock
from ser_reparam.stages import BY_NUMBER, STAGES, Stage

PACKAGES = ("ser-reparam", "tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert",
            "tflite-micro", "numpy")


# ---- records ----

def _files(paths: list[Path]) -> list[Path]:
    """Every file under `paths` (files as they are, folders walked), sorted."""
    found = []
    for path in paths:
        if path.is_dir():
            found += [p for p in path.rglob("*") if p.is_file()]
        elif path.exists():
            found.append(path)
    return sorted(found)


def hashes(paths: list[Path], root: Path) -> dict[str, str]:
    """{path relative to the run folder (or absolute outside it): sha256} of every file."""
    def name(path: Path) -> str:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())
    return {name(p): file_sha256(p) for p in _files(paths)}


def _corpus_listing(config: ExperimentConfig) -> dict[str, str]:
    """Your corpus as stage 01 reads it: a hash of every file's path, size and mtime (hashing the
    audio itself would take minutes on a full corpus)."""
    if config.data.dataset == DEMO_DATASET:
        return {}
    root = Path(config.data.root)
    entries = [f"{p.relative_to(root).as_posix()}\t{p.stat().st_size}\t{p.stat().st_mtime_ns}"
               for p in _files([root])]
    return {f"{root} (listing of {len(entries)} files)":
            hashlib.sha256("\n".join(entries).encode()).hexdigest()}


def record_path(config: ExperimentConfig, stage: Stage) -> Path:
    return RunLayout(config).stage_record(stage.number, stage.shared)


def _inputs(config: ExperimentConfig, stage: Stage) -> dict[str, str]:
    paths = [path for number in stage.reads for path in BY_NUMBER[number].outputs(config)]
    inputs = hashes(paths, config.run_dir)
    return {**inputs, **_corpus_listing(config)} if stage.number == 1 else inputs


def _versions() -> dict[str, str | None]:
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


RECORD_KEYS = ("config_hash", "inputs", "outputs", "summary")


def read_record(path: Path) -> dict | None:
    """A stage record, or None when it is cut short, empty or lacks a key (the stage reruns)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and all(key in record for key in RECORD_KEYS) else None


def stale_reason(config: ExperimentConfig, stage: Stage) -> str | None:
    """Why the stage must run (None: its record still holds)."""
    path = record_path(config, stage)
    if not path.exists():
        return "never ran"
    record = read_record(path)
    if record is None:
        return f"its record {path.name} is unreadable or incomplete"
    if record["config_hash"] != config_hash(config, *stage.sections):
        return f"config section(s) {', '.join(stage.sections)} changed"
    if record["inputs"] != _inputs(config, stage):
        return "its inputs changed"
    if record["outputs"] != hashes(stage.outputs(config), config.run_dir):
        return "its outputs are missing or changed"
    return None


def _clear(config: ExperimentConfig, stage: Stage) -> None:
    """--force: remove what the stage wrote, so that it is recomputed rather than reused (of a
    generated demo corpus only the files the generator listed: never what a user put beside them)."""
    for path in stage.outputs(config):
        if config.data.dataset == DEMO_DATASET and path == Path(config.data.root):
            from ser_reparam.data.synthetic import remove_demo_corpus

            remove_demo_corpus(path)
        elif path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def run_stage(config: ExperimentConfig, stage: Stage, force: bool = False) -> dict:
    """Run one stage (or skip it when its record holds and not `force`); return its record."""
    reason = "--force" if force else stale_reason(config, stage)
    if reason is None:
        return {**read_record(record_path(config, stage)), "skipped": True}
    for number in stage.reads:  # never read an artifact its own stage has not vouched for
        upstream = stale_reason(config, BY_NUMBER[number])
        if upstream is not None:
            raise StageError(f"{stage.label}: {BY_NUMBER[number].label} is not up to date ({upstream}); "
                             f"run from it: ser-reparam run --config … --from {number}")
    if force:
        _clear(config, stage)
    inputs = _inputs(config, stage)
    start = time.perf_counter()
    try:
        summary = stage.run(config)
    except Exception as err:  # the CLI names the stage and logs in the run folder
        err.ser_reparam_stage, err.ser_reparam_run_dir = stage.label, config.run_dir
        raise
    record = {"stage": stage.number, "name": stage.name, "experiment": config.name,
              "variant": None if stage.shared else variant_name(config), "reason": reason,
              "config_hash": config_hash(config, *stage.sections), "sections": list(stage.sections),
              "inputs": inputs, "outputs": hashes(stage.outputs(config), config.run_dir),
              "versions": _versions(), "summary": summary, "seconds": round(time.perf_counter() - start, 1)}
    atomic_write_text(record_path(config, stage), json.dumps(record, indent=1) + "\n")
    return {**record, "skipped": False}


def run_pipeline(config: ExperimentConfig, first: int = 1, last: int = 7, force: bool = False,
                 echo: Callable[[str], None] = print) -> list[dict]:
    """Stages `first` … `last` in order; `echo` gets a line per stage and its summary."""
    if not 1 <= first <= last <= len(STAGES):
        raise InputError(f"--from {first} --to {last}: need 1 <= from <= to <= {len(STAGES)}")
    refuse_overlap(config)
    with run_lock(config.run_dir):
        return [_run_and_echo(config, stage, force, echo) for stage in STAGES[first - 1:last]]


def _run_and_echo(config: ExperimentConfig, stage: Stage, force: bool, echo: Callable[[str], None]) -> dict:
    echo(f"{stage.label} {variant_name(config) if not stage.shared else config.name} …")
    record = run_stage(config, stage, force)
    status = "skipped (unchanged)" if record["skipped"] else f"done in {record['seconds']} s"
    echo(f"{stage.label}: {status}\n" + "\n".join("    " + line for line in record["summary"].splitlines()))
    return record

