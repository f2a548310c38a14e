"""The deployed .tflite carries its own labels, front end and statistics (tflite.metadata)."""
import shutil

import numpy as np
import pytest
from test_export import digest

from firmware_export.export import export_model
from ser_reparam.bundles import export_run
from ser_reparam.errors import InputError
from ser_reparam.experiment import feature_store, labels_for
from ser_reparam.layout import RunLayout
from ser_reparam.tflite.convert import slim_tflite
from ser_reparam.tflite.flatbuffer import pack, unpack
from ser_reparam.tflite.interpreters import TFLMModel, quantization, tflm_arena_bytes
from ser_reparam.tflite.metadata import embed_metadata, has_metadata, read_metadata, strip_metadata


@pytest.fixture(scope="module", autouse=True)
def without_kernel_trees():
    with pytest.MonkeyPatch.context() as patch:  # the arena estimate: quick (as in test_export)
        patch.delenv("TFLM_DIR", raising=False)
        patch.delenv("ESP_TFLM_DIR", raising=False)
        yield


def test_every_deployed_file_describes_itself(deployed_run):
    stats = feature_store(deployed_run).norm_stats()
    for name in ("float", "int8"):
        blob = (RunLayout(deployed_run).quantized_dir / f"{name}.tflite").read_bytes()
        meta = read_metadata(blob)
        assert meta["labels"] == list(labels_for(deployed_run))
        assert meta["frontend"] == deployed_run.frontend.to_dict()
        assert meta["normalization"]["mean"] == stats["mean"] and meta["normalization"]["std"] == stats["std"]
        assert meta["window"]["seconds"] == deployed_run.data.window_seconds == 1.0
        assert meta["window"]["frames"] == 99 == meta["quantization"]["input"]["shape"][1]
        assert meta["variant"] == RunLayout(deployed_run).variant and meta["model"] == name
        assert meta["quantization"] == quantization(blob)
    assert read_metadata(blob)["quantization"]["input"]["dtype"] == "int8"


def test_slimming_keeps_it_and_tflm_ignores_it(deployed_run):
    blob = (RunLayout(deployed_run).quantized_dir / "int8.tflite").read_bytes()
    assert slim_tflite(blob) == blob                      # already slim: nothing left to drop, metadata kept
    renamed = {**read_metadata(blob), "experiment": "renamed"}
    again = slim_tflite(embed_metadata(blob, renamed))    # replaced entry, not a second one
    assert read_metadata(again) == renamed and [m.name for m in unpack(again).metadata] == [b"ser_reparam"]
    stripped = strip_metadata(blob)
    # 4,168 measured: mostly the statistics
    assert not has_metadata(stripped) and 3500 < len(blob) - len(stripped) < 5000
    assert tflm_arena_bytes(blob) == tflm_arena_bytes(stripped)
    x = np.random.default_rng(0).normal(size=(2, 99, 78)).astype(np.float32)
    np.testing.assert_array_equal(TFLMModel(blob).predict(x), TFLMModel(stripped).predict(x))
    with pytest.raises(InputError, match="no 'ser_reparam' metadata.*re-run stage 05"):
        read_metadata(stripped, "old.tflite")


def test_a_bundle_from_the_tflite_alone_equals_the_run_bundle(deployed_run, tmp_path):
    export_run(deployed_run, "stm32f4", deployment="whole-window")
    from_run = digest(RunLayout(deployed_run).firmware_dir("stm32f4"))
    alone = tmp_path / "elsewhere" / "int8.tflite"
    alone.parent.mkdir()
    shutil.copyfile(RunLayout(deployed_run).quantized_dir / "int8.tflite", alone)
    export_model(alone, tmp_path / "bundle", "stm32f4")
    assert digest(tmp_path / "bundle") == from_run


def test_cli_exports_from_a_tflite(deployed_run, tmp_path, capsys):
    from ser_reparam.cli import main

    model = RunLayout(deployed_run).quantized_dir / "int8.tflite"
    assert main(["export", str(model), "--board", "stm32f4", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "stm32f4" / "bundle.json").is_file() and "stm32f4" in capsys.readouterr().out
    assert main(["export", str(model), "--board", "stm32f4"]) == 2
    assert "--out FOLDER" in capsys.readouterr().err


def test_export_takes_the_qat_model_when_the_config_runs_qat(deployed_run):
    import dataclasses

    from ser_reparam.errors import StageError
    from ser_reparam.quantize import deployed_model_name

    qat = dataclasses.replace(deployed_run, quantize=dataclasses.replace(deployed_run.quantize, qat_epochs=2))
    assert deployed_model_name(deployed_run) == "int8" and deployed_model_name(qat) == "qat_int8"
    with pytest.raises(StageError, match="no qat_int8.tflite in"):  # the fixture ran no QAT
        export_run(qat, "stm32f4")


def test_slim_files_store_equal_shapes_and_quantization_once(deployed_run):
    """tflite.schedule.pack_shared: the same model as a plain pack, smaller (measured on this
    1 s model: 12 % smaller), and TFLM computes the same logits from it."""
    from ser_reparam.tflite.flatbuffer import pack, unpack

    blob = (RunLayout(deployed_run).quantized_dir / "int8.tflite").read_bytes()
    plain = pack(unpack(blob))
    model, again = unpack(blob), unpack(plain)
    assert [t.quantization.scale.tolist() for t in model.subgraphs[0].tensors
            if t.quantization.scale is not None] == \
        [t.quantization.scale.tolist() for t in again.subgraphs[0].tensors
         if t.quantization.scale is not None]
    assert len(blob) < 0.95 * len(plain)
    x = np.random.default_rng(1).normal(size=(2, 99, 78)).astype(np.float32)
    assert np.array_equal(TFLMModel(blob).predict(x), TFLMModel(plain).predict(x))


def _int8(run) -> bytes:
    return (RunLayout(run).quantized_dir / "int8.tflite").read_bytes()


def _tampered(blob: bytes, **changes) -> bytes:
    """The model with its metadata's top-level keys changed (None: the key removed)."""
    meta = {**read_metadata(blob), **changes}
    return embed_metadata(blob, {key: value for key, value in meta.items()
                                 if value is not None and key != "format"})


def _with_raw_metadata(blob: bytes, data: bytes) -> bytes:
    """The model with `data` as the bytes of its metadata entry: forged JSON or not text at all."""
    model = unpack(blob)
    entry = next(m for m in model.metadata if m.name == b"ser_reparam")
    model.buffers[entry.buffer].data = np.frombuffer(data, np.uint8)
    return pack(model)


def _nested(blob: bytes, key: str, **changes) -> dict:
    return {key: {**read_metadata(blob)[key], **changes}}


TAMPERED = {  # name: (change to the metadata of the 4-class, 99 × 78 model, what the error says)
    "2 labels": (lambda b: _tampered(b, labels=["a", "b"]), "labels: 2 for the model's 4 outputs"),
    "10 labels": (lambda b: _tampered(b, labels=[f"l{i}" for i in range(10)]),
                  "labels: 10 for the model's 4"),
    "labels text": (lambda b: _tampered(b, labels="abcd"), "labels: str for the model's 4 outputs"),
    "newline label": (lambda b: _tampered(b, labels=["a", "b\n#error INJECTED", "c", "d"]),
                      "control characters"),
    "repeated label": (lambda b: _tampered(b, labels=["a", "a", "c", "d"]), "labels repeat"),
    "window frames": (lambda b: _tampered(b, **_nested(b, "window", frames=50)), "frames = the model's 99"),
    "negative window": (lambda b: _tampered(b, **_nested(b, "window", seconds=-1)), "positive seconds"),
    "short mean": (lambda b: _tampered(b, **_nested(b, "normalization", mean=[0.0] * 3)),
                   "normalization.mean is not 78 finite numbers"),
    "zero std": (lambda b: _tampered(b, **_nested(b, "normalization", std=[0.0] * 78)),
                 "std has values <= 0"),
    "text std": (lambda b: _tampered(b, **_nested(b, "normalization", std="1")),
                 "normalization.std is not 78"),
    "1 Hz front end": (lambda b: _tampered(b, **_nested(b, "frontend", sample_rate=1)),
                       "sample_rate 1 is not"),
    "features": (lambda b: _tampered(b, **_nested(b, "frontend", num_filters=20)),
                 "60 features for the model's 78"),
    "unknown front-end key": (lambda b: _tampered(b, **_nested(b, "frontend", gain=2)), "frontend: "),
    "seed text": (lambda b: _tampered(b, seed="0"), "seed '0' is not an integer"),
    "experiment list": (lambda b: _tampered(b, experiment=["x"]), "experiment ['x'] is not a string"),
    "missing key": (lambda b: _tampered(b, labels=None), "lacks labels"),
    "invalid JSON": (lambda b: _with_raw_metadata(b, b'{"format": 1, "labels": ['), "is not valid JSON"),
    "not UTF-8": (lambda b: _with_raw_metadata(b, b"\xff\xfe{}"), "is not UTF-8 text"),
    "a list": (lambda b: _with_raw_metadata(b, b"[1, 2]"), "is a list, not an object"),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_metadata_that_does_not_fit_the_model_is_refused(deployed_run, case):
    tamper, message = TAMPERED[case]
    with pytest.raises(InputError,
                       match=r"^forged\.tflite: its 'ser_reparam' metadata .*re-run stage 05") as error:
        read_metadata(tamper(_int8(deployed_run)), "forged.tflite")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_export_and_predict_refuse_forged_labels_in_one_line(deployed_run, tmp_path, capsys):
    from ser_reparam.cli import main

    forged = tmp_path / "forged.tflite"
    forged.write_bytes(_tampered(_int8(deployed_run), labels=["a", "b"]))
    assert main(["export", str(forged), "--board", "stm32f4", "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
    assert main(["predict", str(forged), str(tmp_path / "any.wav")]) == 2
    for line in capsys.readouterr().err.splitlines():
        assert str(forged) in line and "labels: 2 for the model's 4 outputs" in line


DAMAGED = {"empty": lambda b: b"", "text": lambda b: b"labels: a, b\n" * 20,
           "truncated": lambda b: b[:len(b) // 2],
           "only the header": lambda b: b[:64], "cut at the end": lambda b: b[:-200]}


@pytest.mark.parametrize("case", DAMAGED)
def test_empty_text_and_truncated_files_are_refused_in_one_line(deployed_run, tmp_path, capsys, case):
    from ser_reparam.cli import main

    model = tmp_path / "model.tflite"
    model.write_bytes(DAMAGED[case](_int8(deployed_run)))
    assert main(["predict", str(model), str(tmp_path / "any.wav")]) == 2
    assert main(["export", str(model), "--board", "stm32f4", "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(str(model) in line and "TFLite model" in line for line in lines), lines
