"""Where every artifact of a run lives: the one place that spells a path under runs/<name>/.

runs/<name>/
  manifest.csv            the run's manifest: the prepared (or demo) rows + the validation rule
  manifest-cv-<k>.csv     with speaker cross-validation (data.cv_folds): fold k's manifest, beside
                          the shared prepared.csv and audio cache; cv-<k>/ holds the rest below
                          (runs made before: manifest-fold-<k>.csv and fold-<k>/, still read)
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
over placements trains many variants on one manifest and one feature cache. The file names below
are spelled nowhere else in the package (tests/test_one_place.py); a firmware bundle's own record
is named by firmware_export/bundle_record.py.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ser_reparam.cv_dirs import cv_dir
from ser_reparam.errors import StageError

if TYPE_CHECKING:  # the report reads run folders through the layout without starting TensorFlow
    from ser_reparam.config import ExperimentConfig

MANIFEST_CSV = "manifest.csv"
PREPARED = "prepared.csv"
EGEMAPS = "egemaps.npz"
BASELINES = "baselines.json"
VARIANT_CONFIG = "config.json"
CHECKPOINT = "best.keras"
SEED_METRICS = "metrics.json"
TRAIN_STATE = "state.json"
FOLD_RECORD = "fold.json"
QUANTIZE_RECORD = "quantize.json"
CV_GLOBS = ("cv-*", "fold-*")  # speaker cross-validation folds' run folders (fold-<k>: runs made before)


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
        return self.variant_dir / VARIANT_CONFIG

    @property
    def manifest(self) -> Path:
        """The manifest of this run (of this fold): in runs/<name>/, where the audio cache is."""
        if self.config.data.cv_fold is None:
            return self.run_dir / MANIFEST_CSV
        k, base = self.config.data.cv_fold, self.config.base_dir
        new, old = base / f"manifest-cv-{k}.csv", base / f"manifest-fold-{k}.csv"
        return old if old.exists() and not new.exists() else new

    @property
    def prepared(self) -> Path:
        """The prepared manifest every fold shares (not used by the demo corpus)."""
        return self.config.base_dir / PREPARED

    @property
    def extra_prepared(self) -> Path:
        """The prepared manifest of data.extra_corpus, shared by the folds; its converted audio is in
        `extra_audio_cache` beside it."""
        return self.config.base_dir / f"extra-{self.config.data.extra_corpus['dataset']}.csv"

    @property
    def extra_audio_cache(self) -> Path:
        return self.config.base_dir / f"audio_cache-{self.config.data.extra_corpus['dataset']}"

    @property
    def egemaps(self) -> Path:
        """eGeMAPS functionals of every utterance the folds have used (baseline.py), shared by the folds."""
        return self.config.base_dir / EGEMAPS

    @property
    def baselines(self) -> Path:
        """The classic baselines' record of this run (of this fold), baseline.py."""
        return self.run_dir / BASELINES

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
        return checkpoint_in(self.seed_dir(seed))

    def seed_metrics(self, seed: int) -> Path:
        return self.seed_dir(seed) / SEED_METRICS

    def finished_seeds(self) -> list[int]:
        """Seeds whose training finished (their metrics written), in order."""
        return sorted(int(p.parent.name.split("-")[1]) for p in self.train_dir.glob(f"seed-*/{SEED_METRICS}"))

    def teacher_train_dir(self) -> Path:
        """training.distill_from, 'EXPERIMENT/VARIANT' or 'VARIANT' (this experiment), on this run's
        speaker fold: the teacher's stage 03 folder."""
        experiment, _, variant = self.config.training.distill_from.rpartition("/")
        base = Path(self.config.runs_dir) / (experiment or self.config.name)
        fold = self.config.data.cv_fold
        return (base if fold is None else cv_dir(base, fold)) / variant / "train"

    @property
    def folded_dir(self) -> Path:
        return self.variant_dir / "folded"

    @property
    def fold_record(self) -> Path:
        return self.folded_dir / FOLD_RECORD

    def deployed_seed(self) -> int:
        """The seed stage 04 chose to deploy."""
        if not self.fold_record.exists():
            raise StageError(f"stage 05+: no folded model in {self.folded_dir} — run stage 04 (ser-reparam "
                             "fold)")
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
        return self.quantized_dir / QUANTIZE_RECORD

    def tflite(self, name: str) -> Path:
        """Stage 05's file of one mode (tflite.convert.MODES: float, int8, int16x8, qat_int8)."""
        return self.quantized_dir / f"{name}.tflite"

    def stream_piece(self, piece: str) -> Path:
        """Stage 05's int8 streaming piece (stream_geometry.PIECES: step, attend, classify)."""
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
    """The saved config.json of every variant trained in a run folder (runs/<name>[/cv-<k>])."""
    return sorted(Path(run_dir).glob(f"*/{VARIANT_CONFIG}"))


def corpus_manifest(root: str | Path) -> Path:
    """The manifest CSV at the top of a corpus folder the pipeline made (the demo corpus)."""
    return Path(root) / MANIFEST_CSV


def checkpoint_in(seed_dir: Path) -> Path:
    """The kept model in a seed folder (train.py writes it while the seed trains)."""
    return Path(seed_dir) / CHECKPOINT


def train_state_in(seed_dir: Path) -> Path:
    """The resumable training state in a seed folder (epochs done, best so far)."""
    return Path(seed_dir) / TRAIN_STATE


def seed_metrics_in(seed_dir: Path) -> Path:
    return Path(seed_dir) / SEED_METRICS


def saved_config_in(variant_dir: Path) -> Path:
    return Path(variant_dir) / VARIANT_CONFIG


def seed_metrics_files(run_dir: str | Path) -> list[Path]:
    """Every trained seed's metrics under an experiment folder, of every speaker fold."""
    run_dir = Path(run_dir)
    pattern = f"*/train/seed-*/{SEED_METRICS}"
    return sorted([*run_dir.glob(pattern), *(p for cv in CV_GLOBS for p in run_dir.glob(f"{cv}/{pattern}"))])


def variant_dir_of_seed_metrics(path: Path) -> Path:
    """The variant folder a seed's metrics.json lies in (<variant>/train/seed-<k>/metrics.json)."""
    return Path(path).parents[2]


def baselines_files(run_dir: str | Path) -> list[Path]:
    """The baselines' records under an experiment folder, of every speaker fold."""
    run_dir = Path(run_dir)
    return sorted([*run_dir.glob(BASELINES),
                   *(p for cv in CV_GLOBS for p in run_dir.glob(f"{cv}/{BASELINES}"))])
