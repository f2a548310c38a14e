"""Stages 04–07 on a tiny trained run: fold, quantize (int8 / int16x8 / QAT), evaluate."""
import json

import pytest
from conftest import tiny_raw

from ser_reparam.config import parse_config
from ser_reparam.dehrf import fold_run
from ser_reparam.errors import StageError
from ser_reparam.evaluate import evaluate_run
from ser_reparam.experiment import load_run, prepare_run_manifest
from ser_reparam.layout import RunLayout
from ser_reparam.quantize import quantize_run
from ser_reparam.stages import s02_features
from ser_reparam.tflite.ops import tflm_builtin_ops
from ser_reparam.train import train_seed


def tiny(tmp_path, **quantize):
    return parse_config(tiny_raw(tmp_path, **{
        "name": "post", "data.prepare.per_class": 3, "model.hrf": "ffn2@8x1", "training.epochs": 3,
        "training.learning_rate": 0.003, "training.seeds": 2, "quantize.representative": 16,
        **{f"quantize.{key}": value for key, value in quantize.items()}}))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("post")
    config = tiny(tmp_path, int16x8=True, qat_epochs=1)
    prepare_run_manifest(config)
    s02_features.run(config)  # stage 02: features and statistics
    for seed in (0, 1):
        train_seed(config, seed, verbose=0)
    return config


def test_stages_refuse_to_run_out_of_order(tmp_path):
    config = tiny(tmp_path)
    with pytest.raises(StageError, match=r"stage 04 \(fold\): no trained model in .*train — run stage 03"):
        fold_run(config)
    with pytest.raises(StageError, match=r"no folded model in .*folded — run stage 04"):
        quantize_run(config)


def test_fold_quantize_evaluate(trained):
    config = trained
    record = fold_run(config)
    assert set(record["seeds"]) == {"0", "1"}
    for entry in record["seeds"].values():
        assert entry["max_logit_diff"] <= 1e-4
        assert entry["params_after"] == 8596 < entry["params_before"]
        assert entry["macs_after"] < entry["macs_before"]
    vals = {s: json.loads((RunLayout(config).seed_metrics(s)).read_text())["val"]["ua"]
            for s in (0, 1)}
    assert record["deployed_seed"] == max(vals, key=lambda s: (vals[s], -s))
    assert (RunLayout(config).folded_dir / f"seed-{record['deployed_seed']}.keras").exists()

    quantized = quantize_run(config)
    assert set(quantized["models"]) == {"float", "int8", "int16x8", "qat_int8"}
    for name, entry in quantized["models"].items():
        assert (RunLayout(config).quantized_dir / entry["file"]).stat().st_size == entry["bytes"]
        assert set(entry["ops"]) <= tflm_builtin_ops() and entry["float_ops"] == []
    streaming = quantized["streaming"]  # the one-block ConvTransformer streams: its pieces are there
    assert streaming["streams"] and set(streaming["pieces"]) == {"step", "attend", "classify"}
    for entry in streaming["pieces"].values():
        assert (RunLayout(config).quantized_dir / entry["file"]).stat().st_size == entry["bytes"] > 0
    # measured 0.60: the lean graph's subsampling bands add per-channel bias scales (models.lean)
    assert quantized["models"]["int8"]["bytes"] < 0.65 * quantized["models"]["float"]["bytes"]
    # QAT really fake-quantized (tfmot wrappers) and kept the epoch with the best validation metric
    qat = quantized["models"]["qat_int8"]["qat"]
    assert len(qat["val"]) == 1 + 1 and qat["wrapped_layers"] > 0  # the start + qat_epochs=1
    assert qat["kept_epoch"] == max(range(len(qat["val"])), key=lambda e: (qat["val"][e], -e))
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    from ser_reparam.qat import quantize_aware

    folded = keras.models.load_model(RunLayout(config).folded_model())
    wrapped = {layer.layer.name for layer in quantize_aware(folded).layers
               if isinstance(layer, tfmot.quantization.keras.QuantizeWrapperV2)}
    dense = {layer.name for layer in folded.layers
             if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D))}
    assert dense and dense <= wrapped

    report = evaluate_run(config)
    models, pairs = report["models"], report["pairs"]
    assert set(models) == {"keras_hrf", "keras_folded", "litert_float", "litert_int8", "tflm_int8",
                           "litert_int16x8", "tflm_int16x8", "litert_qat_int8", "tflm_qat_int8",
                           "litert_int8_streaming", "tflm_int8_streaming"}
    assert pairs["keras_hrf vs keras_folded"]["max_logit_diff"] <= 1e-4
    assert pairs["keras_folded vs litert_float"]["max_logit_diff"] <= 1e-4
    # the same int8 file on two runtimes (their int8 softmax / LayerNorm kernels round differently):
    # 11 of 12 measured on this tiny run's split, 97.9 % on the demo's 96 clips
    assert pairs["litert_int8 vs tflm_int8"]["argmax_agreement"] >= 0.9
    assert models["tflm_int8"]["arena_bytes"] > 0 and models["tflm_int8"]["ms_per_clip"] > 0
    assert models["keras_hrf"]["ua"] == models["keras_folded"]["ua"] == models["litert_float"]["ua"]
    written = config.run_dir / "reports" / f"{report['variant']}-evaluation.md"
    assert "| tflm_int8 |" in written.read_text()
    # both deployments side by side, measured: the streaming pieces' arenas + state beside the whole window's
    whole, streaming = report["deployments"]["whole_window"], report["deployments"]["streaming"]
    print("deployments", json.dumps(report["deployments"]), "agreement",
          pairs["tflm_int8 vs tflm_int8_streaming"]["argmax_agreement"])
    assert streaming["streams"] and set(streaming["arena_bytes"]) == {"step", "attend", "classify"}
    assert streaming["ram_bytes"] == sum(streaming["arena_bytes"].values()) + streaming["state_bytes"]
    assert streaming["state_bytes"] == quantized["streaming"]["state_bytes"] > 0
    assert streaming["flash_bytes"] == sum(entry["bytes"]
                                           for entry in quantized["streaming"]["pieces"].values())
    assert whole["ram_bytes"] == whole["arena_bytes"] == models["tflm_int8"]["arena_bytes"]
    assert streaming["ram_bytes"] < whole["ram_bytes"]
    versus = pairs["tflm_int8 vs tflm_int8_streaming"]  # the same int8 logits (quantize.quantize_pieces)
    assert versus["identical"] == report["test_examples"] and versus["max_logit_diff"] == 0
    assert versus["argmax_agreement"] == 1 and versus["disagreements"] == versus["disagreements_at_ties"] == 0
    assert models["tflm_int8_streaming"]["ms_per_clip"] > 0 and models["litert_int8_streaming"]["ua"] >= 0
    assert "| streaming (step / attend / classify, state " in written.read_text()


def test_run_folder_resolves_its_config(trained):
    config = load_run(RunLayout(trained).variant_dir, ["quantize.int16x8=false"])
    assert config.name == "post" and config.model.hrf == "ffn2@8x1" and not config.quantize.int16x8
    assert load_run(trained.run_dir).name == "post"
    with pytest.raises(FileNotFoundError, match="holds no trained variant"):
        load_run(trained.run_dir / "features")
