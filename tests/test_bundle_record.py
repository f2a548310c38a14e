"""A bundle's record is bundle.json; a bundle exported when it was manifest.json is still read."""
import json

from firmware_export.bundle_record import has_record, read_record, record_path, summary_line, write_record


def test_the_record_is_written_as_bundle_json_and_read_back(tmp_path):
    write_record(tmp_path, {"deployment": "streaming", "verdict": "fits"})
    assert record_path(tmp_path).name == "bundle.json" and has_record(tmp_path)
    assert summary_line("stm32f4", read_record(tmp_path)) == "stm32f4 (streaming): fits"


def test_an_older_bundle_with_manifest_json_is_read_with_one_note(tmp_path, capsys):
    (tmp_path / "manifest.json").write_text(json.dumps({"files": ["model_data.cc"]}))
    assert has_record(tmp_path) and read_record(tmp_path) == {"files": ["model_data.cc"]}
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "manifest.json" in err and "bundle.json" in err and "re-export" in err
    write_record(tmp_path, {"files": []})  # a re-export: bundle.json wins from now on
    assert read_record(tmp_path) == {"files": []} and capsys.readouterr().err == ""
