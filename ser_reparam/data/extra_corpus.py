"""data.extra_corpus: a second corpus trained on together with the run's own. Its clips whose labels
map onto the run's labels join the training split of every fold; its other clips are left out and
counted. Validation and test clips stay the run's own corpus, so every score is per corpus."""
from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from ser_reparam.errors import ConfigError

from .manifest import Utterance, read_manifest
from .prepare import prepare_manifest, summary_path
from .protocol import load_protocol


def extra_roots(extra: dict | None) -> tuple[tuple[str, Path], ...]:
    """((dataset, root),) of data.extra_corpus, for reading its rows' files; () without one."""
    return () if extra is None else ((extra["dataset"], Path(extra["root"])),)


def extra_rows(extra: dict, prepared: Path, audio_cache: Path,
               labels: tuple[str, ...]) -> tuple[list[Utterance], str]:
    """Prepare the extra corpus into `prepared` and return its clips as training rows of this run
    (labels mapped; utterance and speaker ids prefixed with the dataset, so neither can collide with
    the run's own), with a summary line of what joined and what was left out."""
    dataset, mapping = extra["dataset"], extra["labels"]
    own = load_protocol(dataset).labels
    unknown = sorted(set(mapping) - set(own)) if own is not None else []
    if unknown:
        raise ConfigError(f"data.extra_corpus.labels: {', '.join(unknown)} not among {dataset}'s labels "
                          f"({', '.join(own)})")
    foreign = sorted(set(mapping.values()) - set(labels))
    if foreign:
        raise ConfigError(f"data.extra_corpus.labels maps onto {', '.join(foreign)}, not among this run's "
                          f"labels ({', '.join(labels)})")
    report = prepare_manifest(dataset, extra["root"], prepared, audio_cache=audio_cache,
                              **extra.get("prepare", {}))
    rows, left_out = [], Counter()
    for utt in read_manifest(prepared):
        if utt.label not in mapping:
            left_out[utt.label] += 1
            continue
        rows.append(dataclasses.replace(
            utt, utt_id=f"{dataset}:{utt.utt_id}", label=mapping[utt.label], split="train",
            speaker=f"{dataset}:{utt.speaker}", corpus="" if utt.audio else dataset))
    if not rows:
        raise ConfigError(f"data.extra_corpus: no clip of {extra['root']} has a label of "
                          f"data.extra_corpus.labels ({', '.join(mapping)})")
    joined = Counter(utt.label for utt in rows)
    note = (f"extra corpus {dataset}: {len(rows)} clips join the training split ("
            + ", ".join(f"{label} {count}" for label, count in sorted(joined.items())) + ")")
    if left_out:
        note += "; left out, labels not mapped: " + ", ".join(
            f"{label} {count}" for label, count in sorted(left_out.items()))
    excluded = report.to_dict()["excluded_total"]
    if excluded:
        note += f"; {excluded} files not usable (why: {summary_path(prepared)})"
    return rows, note
