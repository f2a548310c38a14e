"""benchmarks/readme.py: scripts rewrite only their own README block and refuse a missing one."""
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from readme import README, machine_line, replace_block, shown_path  # noqa: E402


def test_replace_block_rewrites_only_its_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro 1.0\n<!-- BEGIN a -->\nold 2.0\n<!-- END a -->\nmiddle\n<!-- BEGIN b -->\nkeep\n<!-- END b -->\n")
    replace_block("a", "new 3.0\n\n", readme)
    assert readme.read_text() == ("intro 1.0\n<!-- BEGIN a -->\nnew 3.0\n<!-- END a -->\nmiddle\n"
                                  "<!-- BEGIN b -->\nkeep\n<!-- END b -->\n")


def test_a_missing_block_is_refused_by_name(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="has no block 'sweep'"):
        replace_block("sweep", "x", readme)
    assert readme.read_text() == "no markers\n"


def test_machine_line_names_tensorflow_and_onednn(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    line = machine_line()
    assert "TensorFlow 2." in line and "oneDNN off" in line and "load average" in line


def test_paths_are_written_as_variables_relative_or_a_stand_in(tmp_path, monkeypatch):
    monkeypatch.setenv("TFLM_DIR", str(tmp_path / "tflm"))
    monkeypatch.delenv("ESP_TFLM_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "tflm" / "cortex-m4-cmsis-nn", "$TFLM_DIR") == "$TFLM_DIR/cortex-m4-cmsis-nn"
    assert shown_path(tmp_path / "tflm") == "$TFLM_DIR"
    assert shown_path(tmp_path / "runs" / "demo" / "variant") == "runs/demo/variant"
    assert shown_path("/elsewhere/demo-x/demo/variant") == "RUN"
    assert shown_path("/elsewhere/run/firmware/stm32f4", "RUN/firmware/stm32f4") == "RUN/firmware/stm32f4"


def test_readme_names_no_path_of_the_machine_that_measured():
    found = re.findall(r"(?:/tmp|/work|/home|/root|/Users)/[^\s`'\")]*", README.read_text(encoding="utf-8"))
    assert not found, found
