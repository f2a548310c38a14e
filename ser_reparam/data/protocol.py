"""Dataset protocols: the YAML files in data_manifests/ (label set, raw-label map, split rule).

The files live in the repository's top-level data_manifests/ folder; `ser_reparam/data_manifests`
links to it, so an editable install reads them live and a regular install ships them as
package data (setup.cfg `package_data`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import yaml

from ser_reparam.errors import InputError

PROTOCOL_DIR = resources.files("ser_reparam") / "data_manifests"
KNOWN_KEYS = ("dataset", "labels", "label_map", "excluded", "split")


@dataclass(frozen=True)
class Protocol:
    """One dataset's protocol. `labels` None means the labels are the data's own (generic layouts)."""

    name: str
    labels: tuple[str, ...] | None
    label_map: dict[str, str]
    excluded: tuple[str, ...]
    split: dict
    details: dict = field(default_factory=dict)   # corpus-specific numbers (clip length, timecodes)


def protocol_names() -> tuple[str, ...]:
    return tuple(sorted(entry.name[:-len(".yaml")] for entry in PROTOCOL_DIR.iterdir()
                        if entry.name.endswith(".yaml")))


def load_protocol(name: str) -> Protocol:
    """Read and check data_manifests/<name>.yaml (yaml.safe_load)."""
    entry = PROTOCOL_DIR / f"{name}.yaml"
    if not entry.is_file():
        raise InputError(f"no protocol file {name}.yaml in {PROTOCOL_DIR}; known: "
                         f"{', '.join(protocol_names())}")
    where = f"protocol {entry}"
    data = yaml.safe_load(entry.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("dataset") != name:
        raise InputError(f"{where}: expected a mapping with `dataset: {name}`")
    labels = None if data.get("labels") is None else tuple(str(label) for label in data["labels"])
    label_map = {str(raw): str(label) for raw, label in (data.get("label_map") or {}).items()}
    excluded = tuple(str(raw) for raw in data.get("excluded") or ())
    split = data.get("split")
    if labels is not None and len(set(labels)) != len(labels):
        raise InputError(f"{where}: labels {list(labels)} repeat a name")
    if labels is not None and not set(label_map.values()) <= set(labels):
        raise InputError(f"{where}: label_map targets {sorted(set(label_map.values()) - set(labels))} "
                         f"are not in labels {list(labels)}")
    if set(excluded) & set(label_map):
        raise InputError(f"{where}: raw labels {sorted(set(excluded) & set(label_map))} are both mapped and "
                         "excluded")
    if not isinstance(split, dict) or "rule" not in split:
        raise InputError(f"{where}: `split` must be a mapping with a `rule`")
    fractions = split.get("fractions")
    if fractions is not None and (set(fractions) != {"train", "val", "test"}
                                  or abs(sum(fractions.values()) - 1.0) > 1e-9):
        raise InputError(f"{where}: split fractions {fractions} must give train, val and test, summing to 1")
    details = {key: value for key, value in data.items() if key not in KNOWN_KEYS}
    return Protocol(name, labels, label_map, excluded, split, details)
