"""Experiment configs: YAML in (safe_load, strict: see _Loader), validated frozen dataclasses out.

Unknown keys are refused with their dotted path and the keys that exist, so a typo never
silently falls back to a default. `load_config(path, overrides=["model.hrf=ffn2@8x1", …])`
applies command-line / sweep overrides before validation; `config_hash` keys stage records.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from yaml.constructor import ConstructorError

from ser_reparam.cv_dirs import cv_dir
from ser_reparam.errors import ConfigError
from ser_reparam.features import FrontendConfig

if TYPE_CHECKING:
    from ser_reparam.models.placement import Placement


DEMO_DATASET = "demo"  # data.dataset of the generated SYNTHETIC corpus (data.synthetic)


@dataclass(frozen=True)
class DataConfig:
    dataset: str                       # a `ser-reparam prepare` dataset, or "demo" (generated corpus)
    root: str                          # your copy of the corpus (for demo: where it is generated)
    labels: tuple[str, ...] | None = None   # None = the dataset protocol's labels
    window_seconds: float = 5.0        # seconds per example (paper: 5 IEMOCAP, 4 M3ED, 10 DAIC-WOZ)
    split_long: bool = False           # False = truncate (paper); True = windows, averaged per utterance
    val: str = "auto"                  # "split", "speakers:N", "none" or "auto" (see data.splits)
    prepare: dict = field(default_factory=dict)   # dataset options of `ser-reparam prepare`
    cv_folds: str | int | None = None  # speaker cross-validation: "loso" or K speaker folds; None = the
                                       # protocol's own split (see data.splits.assign_fold)
    cv_fold: int | None = None         # the cross-validation fold this config runs (0 … cv_folds-1);
                                       # None = every fold
    norm: str = "global"               # model input normalization (data.normalization.normalize): "global",
                                       # "window" or "causal" (training and test scoring only so far)
    speeds: tuple[float, ...] = ()     # one extra training copy of every clip per speed factor, e.g.
                                       # [0.9, 1.1] (data.augment)
    noise_snr_db: tuple[float, float] | None = None  # one extra training copy with white noise at an SNR
                                       # drawn per clip from [low, high] dB, e.g. [10, 30] (data.augment)
    extra_corpus: dict | None = None   # a second corpus whose clips join every training split:
                                       # {dataset, root, labels: {its label: this run's label}, prepare}
                                       # (data.extra_corpus)


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "convtransformer"
    preset: str | tuple[int, int, int] = "lightweight"
    hrf: str | None = None             # placement spec, e.g. "ffn2@8x1"; None = no HRF
    activation: str | None = None      # None = the architecture's default
    heads: int = 4
    dropout: float = 0.1
    cls_dropout: float = 0.0           # dropout after the classifier's dim/2 and dim/4 layers: 0.5 on the
                                       # lightweight models' 8 and 4 units made every real-speech run collapse
    cls_bias: float = 0.5              # initial bias of those two ReLU layers: at 0, all their units went
                                       # dead early in some seeds on real speech
                                       # (docs/notes/real-speech-recipe.md)
    pool_norm: bool = False            # batch-normalize the time average before the classifier (folded into
                                       # cls1 at deHRF: the deployed graph is the same)
    hrf_init: str = "factors"          # HRF factors' start: "factors" (each its own Glorot) or "matched"
                                       # (the folded kernel starts with a plain Glorot kernel's variance)
    hrf_step: float = 1.0              # each HRF factor trains as step × a variable (its own learning rate)
    pooling: str = "mean"              # over time before the classifier: "mean", or "mean_sq" (mean and
                                       # mean of squares, concatenated: second-order statistics pooling)
    cls_units: tuple[int, int] | None = None  # the classifier's two hidden widths; None = (dim/2, dim/4)

    @functools.cached_property
    def placement(self) -> Placement:
        """`hrf` parsed for `arch` — once: the config check at load time makes it (not a field: the
        config's dict and hashes keep the spec as written)."""
        from ser_reparam.models.placement import Placement  # the models package imports TensorFlow

        return Placement.parse(self.hrf, self.arch)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 120
    batch_size: int = 32
    learning_rate: float | dict = 1e-3  # or per preset, e.g. {original: 1e-3, lightweight: 5e-4}
    weight_decay: float = 1e-6         # AdamW
    lr_factor: float = 0.5             # learning rate × factor when the training loss stops decreasing
    lr_patience: int = 3               # epochs without a lower training loss before that
    min_lr: float = 1e-6
    warmup_epochs: float = 2.0         # linear warmup from 0 (not in the paper: without it the 8-block
                                       # post-LN original collapsed to constant predictions in our runs)
    seeds: int = 5                     # seeds 0 … seeds-1 (paper: five, averaged)
    select: str = "ua"                 # validation metric that picks the kept checkpoint: wa, ua, wf1, mf1
    threads: int = 0                   # TensorFlow threads per run; 0 = TensorFlow's default
    schedule: str = "plateau"          # "plateau" (× lr_factor when the training loss stalls, the paper's)
                                       # or "cosine" (decays to min_lr over the epochs after warmup)
    label_smoothing: float = 0.0
    class_weights: bool = False        # loss weighted by inverse training-class frequency
    mixup: float = 0.0                 # Beta(α, α) mixup of examples and labels; 0 = off
    time_masks: int = 0                # SpecAugment: masks of up to 10 % of the frames per example
    freq_masks: int = 0                # SpecAugment: masks of up to 4 of the 26 filterbank bands per example
    gain_db: float = 0.0               # random gain in ±gain_db dB per example (shifts the log-Mel energies)
    distill_from: str | None = None    # knowledge distillation: the teacher, "EXPERIMENT/VARIANT" or
                                       # "VARIANT" (this experiment), trained on the same speaker fold;
                                       # its seeds' mean soft labels join the loss (ser_reparam.distill)
    distill_weight: float = 0.5        # the teacher's share of the loss
    distill_temperature: float = 2.0   # softmax temperature of teacher and student in that share
    collapse_epochs: int = 5           # one predicted class for this many epochs in a row = collapse
                                       # (warned, flagged in metrics.json, the schedule restarts)


@dataclass(frozen=True)
class QuantizeConfig:
    representative: int = 200          # training examples (class-balanced) that calibrate int8
    per_channel_dense: bool = False    # conv weights are always per channel; dense per tensor by default
                                       # (docs/streaming.md: 2.6 KB smaller for the lightweight
                                       # ConvTransformer)
    int16x8: bool = False
    qat_epochs: int = 0


@dataclass(frozen=True)
class ExportConfig:
    boards: tuple[str, ...] = ("esp32s3", "stm32f4")
    # which deployment the bundles run: "streaming" (the step / attend / classify pieces, a label every
    # label_hop_s over the last data.window_seconds: sliding windows), "whole-window" (the model once per
    # non-overlapping window) or "auto" = streaming when stage 05 wrote streaming pieces (the model
    # streams exactly: one-block ConvTransformer), else whole-window
    deployment: str = "auto"
    label_hop_s: float = 1.0           # streaming: seconds between labels (a whole number of encoder steps)


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    data: DataConfig
    model: ModelConfig = ModelConfig()
    frontend: FrontendConfig = FrontendConfig()
    training: TrainConfig = TrainConfig()
    quantize: QuantizeConfig = QuantizeConfig()
    export: ExportConfig = ExportConfig()
    runs_dir: str = "runs"

    @property
    def base_dir(self) -> Path:
        """runs/<name>: the experiment (all folds of a cross-validation)."""
        return Path(self.runs_dir) / self.name

    @property
    def run_dir(self) -> Path:
        """runs/<name>, or runs/<name>/cv-<k> for one fold of a speaker cross-validation."""
        return self.base_dir if self.data.cv_fold is None else cv_dir(self.base_dir, self.data.cv_fold)

    @property
    def learning_rate(self) -> float:
        """The initial learning rate for this config's preset (the paper uses one per preset)."""
        rate = self.training.learning_rate
        if isinstance(rate, dict):
            return float(rate[_preset_key(self.model.preset)])
        return float(rate)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _preset_key(preset) -> str:
    return preset if isinstance(preset, str) else "custom"


SECTIONS = {"data": DataConfig, "model": ModelConfig, "frontend": FrontendConfig,
            "training": TrainConfig, "quantize": QuantizeConfig, "export": ExportConfig}


METRICS = ("wa", "ua", "wf1", "mf1")
SCHEDULES = ("plateau", "cosine")


# Keys added later: at their default they are hashed as absent, so runs made before them stay up to date
ADDED_KEYS = ("data.speeds", "data.noise_snr_db", "data.extra_corpus", "training.distill_from",
              "training.distill_weight", "training.distill_temperature")
# Renamed keys of the data section (old: new): the old spelling still works, with one line saying so
RENAMED_KEYS = {"folds": "cv_folds", "fold": "cv_fold", "window_s": "window_seconds"}
WHY_RENAMED = {"folds": '"fold" now means deHRF only', "fold": '"fold" now means deHRF only',
               "window_s": "one name for the window length: window_seconds, window_frames"}


def _deprecated(old: str, where: str) -> None:
    print(f"{where}: data.{old} is deprecated: write data.{RENAMED_KEYS[old]} ({WHY_RENAMED[old]})",
          file=sys.stderr)


def renamed(data, where: str, quiet: bool = False):
    """The data section with the old key names moved to the new ones, each with a deprecation line
    unless `quiet` (a run's saved config.json: the tool wrote the old names, not the user)."""
    if not isinstance(data, dict):
        return data
    for old, new in RENAMED_KEYS.items():
        if old in data:
            if new in data:
                raise ConfigError(f"{where}: data.{old} and data.{new} are the same key (data.{old} is its "
                                  f"old name); keep data.{new}")
            if not quiet:
                _deprecated(old, where)
            data[new] = data.pop(old)
    return data


def _renamed_override(override: str, where: str) -> str:
    """`data.<old>=value` as `data.<new>=value` (with the deprecation line): an old spelling on the
    command line sets the key the config file spells the new way."""
    key, equals, value = override.partition("=")
    section, _, name = key.strip().partition(".")
    if not equals or section != "data" or name not in RENAMED_KEYS:
        return override
    _deprecated(name, where)
    return f"data.{RENAMED_KEYS[name]}={value}"


def _check_folds(data: DataConfig, where: str) -> None:
    folds, fold = data.cv_folds, data.cv_fold
    if folds is not None and folds != "loso" and not (isinstance(folds, int) and not isinstance(folds, bool)
                                                      and folds >= 2):
        raise ConfigError(f"{where}: data.cv_folds {folds!r} must be 'loso' (leave one speaker out), "
                          "a number of speaker folds >= 2, or absent (the protocol's split)")
    if fold is not None and (folds is None or (isinstance(folds, int) and fold >= folds)):
        raise ConfigError(f"{where}: data.cv_fold {fold!r} needs data.cv_folds and must be 0 … "
                          f"{'cv_folds-1' if folds is None or folds == 'loso' else folds - 1}")


EXTRA_CORPUS_KEYS = ("dataset", "root", "labels", "prepare")


def _check_extra_corpus(data: DataConfig, where: str) -> None:
    """data.extra_corpus's shape; its dataset's labels are checked by stage 01, which reads them."""
    extra = data.extra_corpus
    if extra is None:
        return
    example = ("e.g. {dataset: ravdess, root: /data/RAVDESS, labels: {angry: anger, happy: happiness}}")
    for key in extra:
        if key not in EXTRA_CORPUS_KEYS:
            raise _unknown(f"data.extra_corpus.{key}", EXTRA_CORPUS_KEYS, where)
    for key in ("dataset", "root"):
        if not isinstance(extra.get(key), str) or not extra[key].strip():
            raise ConfigError(f"{where}: data.extra_corpus.{key} must be a non-empty string; {example}")
    labels = extra.get("labels")
    if (not isinstance(labels, dict) or not labels
            or not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in labels.items())):
        raise ConfigError(f"{where}: data.extra_corpus.labels must map the extra corpus's labels to this "
                          f"run's (its other labels are left out), got {labels!r}; {example}")
    if not isinstance(extra.get("prepare", {}), dict):
        raise ConfigError(f"{where}: data.extra_corpus.prepare must be a mapping of the dataset's prepare "
                          f"options, got {extra['prepare']!r}")
    if extra["dataset"] == DEMO_DATASET or (extra["dataset"] == data.dataset
                                      and Path(extra["root"]).resolve() == Path(data.root).resolve()):
        raise ConfigError(f"{where}: data.extra_corpus must be another prepared corpus than data.dataset "
                          f"{data.dataset!r} at {data.root} (its clips would train twice, or be test clips)")


# ---- value rules: one line per key; a new key joins with one line (keys without a rule are free) ----

@dataclass(frozen=True)
class Rule:
    """What a config value may be: its kind (int, number, bool, str, str_list, number_list), a range,
    choices."""
    kind: str
    low: float | None = None           # inclusive lower bound
    high: float | None = None          # inclusive upper bound
    above: float | None = None         # exclusive lower bound
    below: float | None = None         # exclusive upper bound
    choices: tuple = ()
    optional: bool = False             # null (None) allowed

    def problem(self, value) -> str | None:
        """Why `value` breaks the rule (None: it is fine); the text says what is allowed."""
        if value is None:
            return None if self.optional else f"must be {self.describe()}, not empty (null)"
        if self.kind == "bool":
            ok = isinstance(value, bool)
        elif self.kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind == "number":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        elif self.kind == "mapping":
            ok = isinstance(value, dict)
        elif self.kind == "number_list":
            each = _number(low=self.low, high=self.high)
            ok = isinstance(value, (list, tuple)) and all(each.problem(v) is None for v in value)
            return None if ok else f"must be {self.describe()}, got {value!r}"
        elif self.kind == "str_list":
            ok = (isinstance(value, (list, tuple)) and all(isinstance(v, str) and v for v in value)
                  and bool(value))
        else:
            ok = isinstance(value, str)
        if ok and self.kind in ("int", "number"):
            ok = ((self.low is None or value >= self.low) and (self.high is None or value <= self.high)
                  and (self.above is None or value > self.above)
                  and (self.below is None or value < self.below))
        if ok and self.choices and not any(re.fullmatch(choice, value) for choice in self.choices):
            ok = False
        return None if ok else f"must be {self.describe()}, got {value!r}"

    def describe(self) -> str:
        what = {"int": "an integer", "number": "a finite number", "bool": "true or false",
                "str": "a string", "str_list": "a non-empty list of names",
                "mapping": "a mapping (key: value, …)", "number_list": "a list of numbers"}[self.kind]
        if self.kind == "number_list":
            return f"{what} from {self.low:g} to {self.high:g}{' or null' if self.optional else ''}"
        bounds = [f">= {self.low:g}" if self.low is not None else "",
                  f"> {self.above:g}" if self.above is not None else "",
                  f"<= {self.high:g}" if self.high is not None else "",
                  f"< {self.below:g}" if self.below is not None else ""]
        bounds = " and ".join(b for b in bounds if b)
        if self.choices:
            what = "one of " + ", ".join(c.replace(r"[1-9][0-9]*", "N") for c in self.choices)
        return f"{what}{' ' + bounds if bounds else ''}{' or null' if self.optional else ''}"


def _int(low=None, high=None, **kw):
    return Rule("int", low=low, high=high, **kw)


def _number(**kw):
    return Rule("number", **kw)


RULES = {
    "data.dataset": Rule("str"), "data.root": Rule("str"),
    "data.labels": Rule("str_list", optional=True),
    "data.window_seconds": _number(above=0, high=600),
    "data.split_long": Rule("bool"),
    "data.val": Rule("str", choices=("auto", "split", "none", r"speakers:[1-9][0-9]*")),
    "data.prepare": Rule("mapping"), "data.cv_fold": _int(0, optional=True),
    "model.arch": Rule("str"),
    "model.activation": Rule("str", optional=True),
    "model.heads": _int(1, 64),
    "model.dropout": _number(low=0, below=1),
    "model.cls_dropout": _number(low=0, below=1),
    "model.cls_bias": _number(low=0), "model.pool_norm": Rule("bool"),
    "model.hrf_init": Rule("str", choices=("factors", "matched")),
    "model.pooling": Rule("str", choices=("mean", "mean_sq")),
    "data.norm": Rule("str", choices=("global", "window", "causal")),
    "data.speeds": Rule("number_list", low=0.5, high=2.0),
    "data.noise_snr_db": Rule("number_list", low=-20, high=80, optional=True),
    "data.extra_corpus": Rule("mapping", optional=True),
    "model.hrf_step": _number(above=0, below=1000),
    "frontend.sample_rate": _int(1000, 192000),
    "frontend.frame_length_ms": _number(above=0), "frontend.frame_step_ms": _number(above=0),
    "frontend.nfft": _int(16, 65536),
    "frontend.preemphasis": _number(low=0, below=1),
    "frontend.num_filters": _int(1, 256),
    "frontend.low_hz": _number(low=0), "frontend.high_hz": _number(above=0, optional=True),
    "frontend.delta_window": _int(1, 10),
    "frontend.log_floor": _number(above=0),
    "training.epochs": _int(1, 100000),
    "training.batch_size": _int(1, 65536),
    "training.weight_decay": _number(low=0, below=1),
    "training.lr_factor": _number(above=0, below=1),
    "training.lr_patience": _int(0),
    "training.min_lr": _number(low=0),
    "training.warmup_epochs": _number(low=0),
    "training.seeds": _int(1, 1000),
    "training.select": Rule("str", choices=METRICS),
    "training.threads": _int(0, 1024),
    "training.label_smoothing": _number(low=0, below=1), "training.mixup": _number(low=0),
    "training.gain_db": _number(low=0),
    "training.distill_from": Rule("str", optional=True),
    "training.distill_weight": _number(low=0, high=1),
    "training.distill_temperature": _number(above=0, high=100),
    "training.time_masks": _int(0), "training.freq_masks": _int(0), "training.collapse_epochs": _int(0),
    "quantize.representative": _int(1),
    "quantize.per_channel_dense": Rule("bool"),
    "quantize.int16x8": Rule("bool"),
    "quantize.qat_epochs": _int(0, 10000),
    "export.boards": Rule("str_list"),
    "export.deployment": Rule("str", choices=("auto", "streaming", "whole-window")),
    "export.label_hop_s": _number(above=0, high=600),
}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # one folder below runs_dir, nothing more
TEACHER = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._@+-]*")  # [experiment/]variant


def _check_values(prefix: str, values: dict, where: str) -> None:
    for key, value in values.items():
        rule = RULES.get(f"{prefix}.{key}")
        problem = rule.problem(value) if rule else None
        if problem:
            raise ConfigError(f"{where}: {prefix}.{key} {problem}")


def _unknown(key: str, allowed, where: str) -> ConfigError:
    close = difflib.get_close_matches(key.split(".")[-1], list(allowed), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return ConfigError(f"{where}: unknown key '{key}'{hint}; keys here: {', '.join(allowed)}")


def _section(cls, values, prefix: str, where: str):
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: '{prefix}' must be a mapping, got {values!r}")
    names = [f.name for f in fields(cls)]
    for key in values:
        if key not in names:
            raise _unknown(f"{prefix}.{key}", names, where)
    _check_values(prefix, values, where)
    converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        return cls(**converted)
    except TypeError as err:
        raise ConfigError(f"{where}: section '{prefix}': {err}") from None
    except ValueError as err:
        raise ConfigError(f"{where}: section '{prefix}': {err}") from None


class _Loader(yaml.SafeLoader):
    """safe_load with two differences users expect: `3e-4` is a number (YAML 1.1 wants `3.0e-4`),
    and a key given twice in one mapping is refused (YAML would keep the last one silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` then a key of base: allowed
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float)):  # SafeConstructor refuses unhashable keys itself
                continue
            if key in seen:
                raise ConstructorError(None, None, f"found duplicate key {key!r}; keep one",
                                       key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
                              list("-+.0123456789"))

MAX_CONFIG_BYTES = 1_000_000   # configs are a few KB; a bigger file is not a config
MAX_VALUES = 100_000           # values once YAML aliases are written out (an alias bomb holds billions)


def _expanded_size(value, sizes: dict, open_ids: set) -> int:
    """How many values `value` holds with every alias written out; a shared part counts each time
    it is used, but is walked once. ValueError when it contains itself."""
    if not isinstance(value, (dict, list)):
        return 1
    if id(value) in open_ids:
        raise ValueError("recursive")
    if id(value) not in sizes:
        open_ids.add(id(value))
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        sizes[id(value)] = 1 + sum(_expanded_size(item, sizes, open_ids) for item in items)
        open_ids.discard(id(value))
    return sizes[id(value)]


def _plain(value, what: str):
    """A deep copy of `value` as plain data (what the hashes write out), refused first when it refers
    to itself or its aliases expand beyond MAX_VALUES. `what` names it in the error."""
    try:
        size = _expanded_size(value, {}, set())
    except (ValueError, RecursionError):
        raise ConfigError(f"{what} refers to itself (a recursive YAML anchor/alias); "
                          "write the values out instead") from None
    if size > MAX_VALUES:
        raise ConfigError(f"{what} expands to more than {MAX_VALUES:,} values ({size:.3g}: YAML aliases "
                          "repeating aliases); write the values out instead")
    try:
        return json.loads(json.dumps(value))
    except TypeError as err:
        raise ConfigError(f"{what}: a value YAML cannot hand over as plain data ({err}); "
                          "use numbers, strings, lists and mappings") from None


def _apply_override(raw: dict, override: str, where: str) -> None:
    if "=" not in override:
        raise ConfigError(f"{where}: override {override!r} must look like section.key=value")
    key, text = override.split("=", 1)
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{where}: override {override!r}: '{part}' is not a section")
    try:
        value = yaml.load(text, Loader=_Loader)  # noqa: S506  (_Loader is a SafeLoader)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or " ".join(str(err).split())
        raise ConfigError(f"{where}: override {override!r}: not a plain YAML value ({problem}); "
                          f"to mean the text, quote it: {key}='{text}'") from None
    node[parts[-1]] = _plain(value, f"{where}: override {override!r}")


def parse_config(raw: dict, where: str = "config", overrides: list[str] | tuple = ()) -> ExperimentConfig:
    """Validate a config mapping (as read from YAML) after applying `overrides`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the config must be a YAML mapping")
    raw = _plain(raw, f"{where}: the config")  # a deep copy that overrides may change
    for override in overrides:
        _apply_override(raw, _renamed_override(override, where), where)
    top = ["name", "runs_dir", *SECTIONS]
    for key in raw:
        if key not in top:
            raise _unknown(key, top, where)
    if "name" not in raw or "data" not in raw:
        raise ConfigError(f"{where}: 'name' and 'data' are required")
    raw["data"] = renamed(raw["data"], where)
    sections = {name: _section(cls, raw.get(name), name, where) for name, cls in SECTIONS.items()}
    name, runs_dir = raw["name"], raw.get("runs_dir", "runs")
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(f"{where}: name {name!r} must be one folder name (letters, digits, '.', '_', '-', "
                          f"no '/' or '..'): runs are written to <runs_dir>/<name>")
    if not isinstance(runs_dir, str) or not runs_dir.strip():
        raise ConfigError(f"{where}: runs_dir must be a folder path, got {runs_dir!r}; "
                          "leave it out for runs/")
    config = ExperimentConfig(name=name, runs_dir=runs_dir, **sections)
    _check(config, where)
    return config


def _check(config: ExperimentConfig, where: str) -> None:
    from ser_reparam.models import ARCHITECTURES, resolve_preset
    from ser_reparam.models.activations import get_activation

    training, model = config.training, config.model
    if training.schedule not in SCHEDULES:
        raise ConfigError(f"{where}: training.schedule {training.schedule!r} must be one of "
                          f"{', '.join(SCHEDULES)}")
    _check_folds(config.data, where)
    teacher = training.distill_from
    if teacher is not None and not TEACHER.fullmatch(teacher):
        raise ConfigError(f"{where}: training.distill_from {teacher!r} must name the teacher's run as "
                          "EXPERIMENT/VARIANT or VARIANT (folder names under runs_dir), e.g. "
                          "emodb-convtransformer/convtransformer-lightweight-none")
    snr = config.data.noise_snr_db
    if snr is not None and (len(snr) != 2 or snr[0] > snr[1]):
        raise ConfigError(f"{where}: data.noise_snr_db {list(snr)!r} must be [low, high] in dB, low <= high, "
                          "e.g. [10, 30]")
    _check_extra_corpus(config.data, where)
    if model.arch not in ARCHITECTURES:
        raise ConfigError(f"{where}: model.arch {model.arch!r} must be one of {', '.join(ARCHITECTURES)}")
    try:
        _blocks, dim, _ffn = resolve_preset(model.arch, model.preset)
        if dim % model.heads:
            raise ValueError(f"heads {model.heads} must divide the model width {dim} of preset "
                             f"{model.preset!r}")
        model.placement  # noqa: B018  (parsed and checked here, once)
        units = model.cls_units
        if units is not None and not (isinstance(units, tuple) and len(units) == 2 and all(
                isinstance(u, int) and not isinstance(u, bool) and 1 <= u <= 256 for u in units)):
            raise ValueError(f"cls_units {units!r} must be two widths 1 … 256, e.g. [16, 16]")
        if model.activation is not None:
            get_activation(model.activation)
    except ValueError as err:
        raise ConfigError(f"{where}: model: {err}") from None
    rate, preset = training.learning_rate, _preset_key(model.preset)
    rates = rate if isinstance(rate, dict) else {"any": rate}
    if isinstance(rate, dict) and preset not in rates:
        raise ConfigError(f"{where}: training.learning_rate has no entry for preset '{preset}'; "
                          "give one per preset (original, lightweight, custom)")
    if not all(_number(above=0, high=10).problem(r) is None for r in rates.values()):
        raise ConfigError(f"{where}: training.learning_rate must be positive, got {rate}")


def load_config(path: str | os.PathLike, overrides: list[str] | tuple = ()) -> ExperimentConfig:
    """Read a YAML experiment config (safe_load, see _Loader) and validate it."""
    from ser_reparam.data.corpora.tables import utf8_text

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; see configs/ for examples")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size:,} bytes: more than a config needs "
                          f"(at most {MAX_CONFIG_BYTES:,}); is it the right file?")
    try:
        raw = yaml.load(utf8_text(path.read_bytes(), path, ConfigError), Loader=_Loader)  # noqa: S506
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    except RecursionError:
        raise ConfigError(f"{path}: the config refers to itself (a recursive YAML anchor/alias); "
                          "write the values out instead") from None
    return parse_config(raw, str(path), overrides)


# what a trained seed depends on: the key of its metrics.json and of stage 03's record alike
TRAINING_SECTIONS = ("data", "frontend", "model", "training")


def config_hash(config: ExperimentConfig, *sections: str) -> str:
    """Short hash of the whole config, or of the named sections only (what a stage depends on).
    data.root (and data.extra_corpus.root) counts as the folder it names (a run loaded from its folder
    elsewhere holds it absolute)."""
    data = config.to_dict()
    data["data"]["root"] = os.path.abspath(os.path.expanduser(data["data"]["root"]))
    if data["data"]["extra_corpus"] is not None:  # its root likewise
        extra = data["data"]["extra_corpus"]
        extra["root"] = os.path.abspath(os.path.expanduser(extra["root"]))
    for old, new in RENAMED_KEYS.items():  # hashed under the old names: runs made before stay up to date
        data["data"][old] = data["data"].pop(new)
    for key in ADDED_KEYS:
        section, name = key.split(".")
        if data[section][name] == next(f.default for f in fields(SECTIONS[section]) if f.name == name):
            del data[section][name]
    if sections:
        data = {name: data[name] for name in sections}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:12]
