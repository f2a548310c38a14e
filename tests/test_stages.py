"""The stages package: seven modules in order, each declaring what it reads and writes."""
from pathlib import Path

from ser_reparam.config import TRAINING_SECTIONS, load_config
from ser_reparam.layout import RunLayout
from ser_reparam.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]


def test_the_folder_lists_the_seven_stages_in_order():
    modules = sorted(p.stem for p in (ROOT / "ser_reparam" / "stages").glob("s[0-9][0-9]_*.py"))
    assert modules == ["s01_prepare", "s02_features", "s03_train", "s04_fold", "s05_quantize", "s06_export",
                       "s07_evaluate"]
    assert [f"s{s.number:02d}_{s.name}" for s in STAGES] == modules
    assert all(set(s.reads) <= set(range(1, s.number)) for s in STAGES)  # a stage reads only earlier ones
    assert [s.shared for s in STAGES] == [True, True, False, False, False, False, False]


def test_stage_03_and_each_seed_share_one_key():
    assert STAGES[2].sections == TRAINING_SECTIONS


def test_outputs_come_from_the_run_layout(tmp_path):
    config = load_config(ROOT / "ser_reparam" / "configs" / "demo.yaml", [f"runs_dir={tmp_path}"])
    layout = RunLayout(config)
    assert STAGES[3].outputs(config) == [layout.folded_dir]
    assert STAGES[4].outputs(config) == [layout.quantized_dir]
    assert STAGES[6].outputs(config) == [layout.evaluation("json"), layout.evaluation("md"),
                                         layout.model_card,
                                         layout.confusion_png]
    assert layout.evaluation("md") == tmp_path / "demo" / "reports" / f"{layout.variant}-evaluation.md"
    assert layout.checkpoint(2) == tmp_path / "demo" / layout.variant / "train" / "seed-2" / "best.keras"


def test_stage_05_refuses_an_input_normalization_the_device_does_not_compute(tmp_path):
    import pytest

    from ser_reparam.errors import StageError
    from ser_reparam.stages import s05_quantize

    config = load_config(ROOT / "ser_reparam" / "configs" / "demo.yaml",
                         [f"runs_dir={tmp_path}", "data.norm=window"])
    with pytest.raises(StageError, match="data.norm is 'window'.*train with data.norm: global to deploy"):
        s05_quantize.run(config)
