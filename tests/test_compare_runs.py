"""tests/compare_runs.py: what it masks (root paths, wall-clock keys, log files) and what it catches."""
import json
import zipfile

from compare_runs import compare


def _tree(root, seconds, blob):
    (root / "demo" / "stages").mkdir(parents=True)
    (root / "demo" / "stages" / "03.json").write_text(json.dumps({"seconds": seconds, "summary": "ok",
                                                                  "data": str(root / "demo-corpus")}))
    (root / "demo" / "int8.tflite").write_bytes(blob)
    (root / "demo" / "tensorboard").mkdir()
    (root / "demo" / "tensorboard" / "events.out").write_bytes(blob + bytes([int(seconds)]))


def test_masks_root_paths_and_durations_but_not_artifact_bytes(tmp_path):
    _tree(tmp_path / "a", 1.5, b"\x01\x02")
    _tree(tmp_path / "b", 9.0, b"\x01\x02")
    result = compare(tmp_path / "a", tmp_path / "b")
    assert result["differ"] == [] and result["same"] == ["demo/int8.tflite", "demo/stages/03.json"]
    assert result["skipped"] == ["demo/tensorboard/events.out"]
    (tmp_path / "b" / "demo" / "int8.tflite").write_bytes(b"\x01\x03")
    (tmp_path / "b" / "demo" / "extra.h").write_text("x")
    result = compare(tmp_path / "a", tmp_path / "b")
    assert result["differ"] == ["demo/int8.tflite"] and result["only_b"] == ["demo/extra.h"]


def test_a_keras_file_is_compared_without_its_save_time(tmp_path):
    for root, stamp, weights in (("a", "1", b"w"), ("b", "2", b"w"), ("c", "1", b"v")):
        (tmp_path / root).mkdir()
        with zipfile.ZipFile(tmp_path / root / "m.keras", "w") as archive:
            archive.writestr("metadata.json", json.dumps({"date_saved": stamp}))
            archive.writestr("model.weights.h5", weights)
    assert compare(tmp_path / "a", tmp_path / "b")["same"] == ["m.keras"]
    assert compare(tmp_path / "a", tmp_path / "c")["differ"] == ["m.keras"]
