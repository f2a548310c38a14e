"""prepare_manifest: a user's copy of a corpus -> manifest CSV + a summary of what was kept and why not.

The manifest is written atomically (write_manifest); `<out stem>_summary.json` beside it holds
the PrepareReport: rows kept per split/label, every excluded file or clip by reason, and the
sources converted into (or reused from) the audio cache.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path

from ser_reparam.errors import InputError, MissingInputError

from .audio import AudioCache, find_ffmpeg
from .corpora import CORPORA
from .corpora.collect import Collector
from .manifest import PrepareReport, write_manifest
from .protocol import load_protocol


def dataset_options(dataset: str) -> dict[str, object]:
    """The options `dataset` takes, with their defaults (inspect.Parameter.empty = required)."""
    parameters = list(inspect.signature(_corpus(dataset).build).parameters.values())[1:]
    return {parameter.name: parameter.default for parameter in parameters}


def prepare_manifest(dataset: str, root: str | os.PathLike, out: str | os.PathLike, *,
                     audio_cache: str | os.PathLike | None = None, **options) -> PrepareReport:
    """Build `out` (manifest CSV) for `dataset` from the data under `root`; return the report.

    `audio_cache` (default <out folder>/audio_cache) must lie inside the manifest's folder.
    `options` are the dataset's own (dataset_options); an option given as None takes its default.
    """
    corpus = _corpus(dataset)
    options = {name: value for name, value in options.items() if value is not None}
    _check_options(dataset, options)
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise MissingInputError(f"data root {root} does not exist or is not a folder; "
                                f"for {dataset} it must hold {corpus.LAYOUT}")
    summary = summary_path(out)
    _refuse_writing_over(options.get("csv_file"), out, summary)
    cache = AudioCache(out.parent / "audio_cache" if audio_cache is None else audio_cache, out.parent,
                       find_ffmpeg())
    report = PrepareReport(dataset, str(root))
    collector = Collector(root, load_protocol(dataset), report, cache)
    corpus.build(collector, **options)
    for reason, sources in (("written to the audio cache as 16 kHz mono WAV", cache.converted),
                            ("reused from the audio cache", cache.reused)):
        for source in sources:
            report.note(reason, source.relative_to(root).as_posix())
    report.write(summary)
    if not collector.rows:
        raise InputError(f"no usable {dataset} data under {root} (expected {corpus.LAYOUT}); "
                         f"{summary} lists what was excluded and why")
    write_manifest(collector.rows, out, labels=collector.labels())
    return report


def summary_path(out: Path) -> Path:
    """The JSON report prepare writes beside the manifest `out`: what it kept, excluded and why."""
    return out.with_name(f"{out.stem}_summary.json")


def _refuse_writing_over(csv_file, out: Path, summary: Path) -> None:
    """The user's CSV is read, never replaced by the manifest or its summary."""
    if csv_file is not None and Path(csv_file).resolve() in (out.resolve(), summary.resolve()):
        raise InputError(f"--out {out} would write over the CSV it reads ({csv_file}): give the manifest "
                         "another name or folder")


def _corpus(dataset: str):
    if dataset not in CORPORA:
        raise InputError(f"unknown dataset {dataset!r}; choose one of {', '.join(CORPORA)}")
    return CORPORA[dataset]


def _check_options(dataset: str, options: dict) -> None:
    accepted = dataset_options(dataset)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(f"dataset {dataset} does not take option(s) {', '.join(unknown)}; "
                         f"it takes: {', '.join(accepted) or 'no options'}")
    missing = [name for name, default in accepted.items() if default is inspect.Parameter.empty
               and name not in options]
    if missing:
        raise InputError(f"dataset {dataset} needs option(s) {', '.join(missing)}")
