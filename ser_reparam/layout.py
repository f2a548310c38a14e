"""Where every artifact of a run lives: the one place that spells a path under runs/<name>/.

runs/<name>/
  manifest.csv            the run's manifest: the prepared (or demo) rows + the validation rule
  manifest-fold-<k>.csv   with speaker cross-validation (data.folds): fold k's manifest, beside
                          the shared prepared.csv and audio cache; fold-<k>/ holds the rest below
  features/<hash>/        cached features and normalization statistics (shared by all variants)
  <variant>/config.json   the resolved config the variant was trained with
  <variant>/train/seed-<k>/{best.keras,metrics.json,…}   stage 03
  <variant>/folded/{seed-<k>.keras,fold.json}            stage 04
  <variant>/quantized/{<name>.tflite,quantize.json}      stage 05
  <variant>/quantized/stream_{step,attend,classify}.tflite   stage 05: the streaming pieces
  <variant>/firmware/<board>/                            stage 06
  reports/<variant>-evaluation.{json,md}                 stage 07 (and report / demo tables)
  stages/NN[-<variant>].json                             the stage records

A variant is one model setting (architecture, preset, HRF placement, activation), so a sweep
over placements trains many variants on one manifest and one feature cache.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ser_reparam.config import ExperimentConfig
from ser_reparam.errors import StageError


def variant_name(config: ExperimentConfig) -> str:
    """e.g. 'convtransformer-lightweight-ffn2@8x1' (+ '-gelu' for a non-default activation)."""
    model = config.model
    preset = model.preset if isinstance(model.preset, str) else "x".join(map(str, model.preset))
    name = f"{model.arch}-{preset}-{model.placement.spec}"
    return name + (f"-{model.activation}" if model.activation else "")


@dataclasses.dataclass(frozen=True)
class RunLayout:
    """The artifact paths of one config (one experiment, fold and variant)."""
    config: ExperimentConfig

    @property
    def run_dir(self) -> Path:
        return self.config.run_dir

    @property
    def variant(self) -> str:
        return variant_name(self.config)

    @property
    def variant_dir(self) -> Path:
        return self.run_dir / self.variant

    @property
    def config_json(self) -> Path:
        return self.variant_dir / "config.json"

    @property
    def manifest(self) -> Path:
        """The manifest of this run (of this fold): in runs/<name>/, where the audio cache is."""
        if self.config.data.fold is None:
            return self.run_dir / "manifest.csv"
        return self.config.base_dir / f"manifest-fold-{self.config.data.fold}.csv"

    @property
    def prepared(self) -> Path:
        """The prepared manifest every fold shares (not used by the demo corpus)."""
        return self.config.base_dir / "prepared.csv"

    @property
    def egemaps(self) -> Path:
        """eGeMAPS functionals of every utterance the folds have used (baseline.py), shared by the folds."""
        return self.config.base_dir / "egemaps.npz"

    @property
    def features(self) -> Path:
        return self.run_dir / "features"

    @property
    def train_dir(self) -> Path:
        return self.variant_dir / "train"

    def seed_dir(self, seed: int) -> Path:
        return self.train_dir / f"seed-{seed}"

    def checkpoint(self, seed: int) -> Path:
        """The kept HRF model of a seed (stage 03)."""
        return self.seed_dir(seed) / "best.keras"

    def seed_metrics(self, seed: int) -> Path:
        return self.seed_dir(seed) / "metrics.json"

    @property
    def folded_dir(self) -> Path:
        return self.variant_dir / "folded"

    @property
    def fold_record(self) -> Path:
        return self.folded_dir / "fold.json"

    def deployed_seed(self) -> int:
        """The seed stage 04 chose to deploy."""
        if not self.fold_record.exists():
            raise StageError(f"stage 05+: no folded model in {self.folded_dir} — run stage 04 (ser-reparam fold)")
        return json.loads(self.fold_record.read_text())["deployed_seed"]

    def folded_model(self, seed: int | None = None) -> Path:
        """A seed's folded model (default: the deployed seed's)."""
        return self.folded_dir / f"seed-{self.deployed_seed() if seed is None else seed}.keras"

    @property
    def quantized_dir(self) -> Path:
        return self.variant_dir / "quantized"

    @property
    def quantize_record(self) -> Path:
        """Stage 05's record: bytes, ops and the streaming pieces of every file it wrote."""
        return self.quantized_dir / "quantize.json"

    def stream_piece(self, piece: str) -> Path:
        """Stage 05's int8 streaming piece (streaming.PIECES: step, attend, classify)."""
        return self.quantized_dir / f"stream_{piece}.tflite"

    def firmware_dir(self, board_key: str) -> Path:
        return self.variant_dir / "firmware" / board_key

    @property
    def reports(self) -> Path:
        return self.run_dir / "reports"

    def evaluation(self, suffix: str = "json") -> Path:
        """Stage 07's report of this variant (suffix json or md)."""
        return self.reports / f"{self.variant}-evaluation.{suffix}"

    @property
    def model_card(self) -> Path:
        """Stage 07's model card of the deployed file (model_card.py)."""
        return self.reports / f"{self.variant}-model-card.md"

    @property
    def confusion_png(self) -> Path:
        """Stage 07's confusion matrix of the deployed int8 file on TFLite Micro."""
        return self.reports / f"{self.variant}-confusion-tflm.png"

    @property
    def stages_dir(self) -> Path:
        return self.run_dir / "stages"

    def stage_record(self, number: int, shared: bool) -> Path:
        """runs/<name>/stages/NN.json (stages every variant shares) or NN-<variant>.json."""
        return self.stages_dir / f"{number:02d}{'' if shared else '-' + self.variant}.json"


def variant_configs(run_dir: str | Path) -> list[Path]:
    """The saved config.json of every variant trained in a run folder (runs/<name>[/fold-<k>])."""
    return sorted(Path(run_dir).glob("*/config.json"))
