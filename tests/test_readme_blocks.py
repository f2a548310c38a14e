"""benchmarks/readme.py, the one block writer: scripts rewrite only their own block, in the docs
page BLOCKS names, refuse a missing one, and every registered block stands once in its page."""
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from readme import BLOCKS, ROOT, docs_page, machine, machine_line, replace_block, shown_path, write_block  # noqa: E402

DOCS = sorted((ROOT / "docs").rglob("*.md"))


def test_replace_block_rewrites_only_its_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("intro 1.0\n<!-- BEGIN a -->\nold 2.0\n<!-- END a -->\nmiddle\n"
                    "<!-- BEGIN b -->\nkeep\n<!-- END b -->\n")
    replace_block("a", "new 3.0\n\n", page)
    assert page.read_text() == ("intro 1.0\n<!-- BEGIN a -->\nnew 3.0\n<!-- END a -->\nmiddle\n"
                                "<!-- BEGIN b -->\nkeep\n<!-- END b -->\n")


def test_a_missing_block_is_refused_by_name(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("no markers\n")
    with pytest.raises(SystemExit, match="has no block 'sweep'"):
        replace_block("sweep", "x", page)
    assert page.read_text() == "no markers\n"


def test_an_unregistered_block_is_refused_unless_a_page_is_named(tmp_path):
    with pytest.raises(SystemExit, match="block 'nowhere' is not in BLOCKS"):
        replace_block("nowhere", "x")
    page = tmp_path / "page.md"
    page.write_text("<!-- BEGIN nowhere -->\n<!-- END nowhere -->\n")
    assert write_block("nowhere", "x", ["--docs", str(page)]) == page
    assert page.read_text() == "<!-- BEGIN nowhere -->\nx\n<!-- END nowhere -->\n"


def test_the_docs_option_names_the_page(tmp_path, capsys):
    assert docs_page("sweep", ["OUT/demo"]) is None
    assert docs_page("sweep", ["OUT/demo", "--docs"]) == ROOT / BLOCKS["sweep"]
    assert docs_page("sweep", ["--docs", "other.md", "--x"]) == Path("other.md")
    assert docs_page("sweep", ["--docs=other.md"]) == Path("other.md")
    assert docs_page("sweep", ["--docs", "--clips", "4"]) == ROOT / BLOCKS["sweep"]
    assert docs_page("sweep", ["--readme"]) == ROOT / BLOCKS["sweep"]  # the old spelling
    assert "old spelling" in capsys.readouterr().err


def test_every_registered_block_stands_once_in_its_page():
    for key, page in BLOCKS.items():
        text = (ROOT / page).read_text(encoding="utf-8")
        assert text.count(f"<!-- BEGIN {key} -->\n") == 1, (key, page)
        assert text.count(f"<!-- END {key} -->") == 1, (key, page)
        assert text.index(f"<!-- BEGIN {key} -->") < text.index(f"<!-- END {key} -->"), (key, page)


def test_every_block_in_the_docs_is_registered_with_its_page():
    for page in [ROOT / "README.md", *DOCS]:
        text = page.read_text(encoding="utf-8")
        for key in re.findall(r"^<!-- BEGIN (\S+) -->$", text, re.M):
            assert BLOCKS.get(key) == page.relative_to(ROOT).as_posix(), (key, page)
        assert not re.search(r"<!-- \S+ (begin|end) -->", text), f"{page}: the old marker syntax"


def test_machine_line_names_tensorflow_and_onednn(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    line = machine_line()
    assert "TensorFlow 2." in line and "oneDNN off" in line and "load average" in line
    assert "tf-keras 2." in machine(("tensorflow", "tf-keras")) and "oneDNN off" in machine()


def test_paths_are_written_as_variables_relative_or_a_stand_in(tmp_path, monkeypatch):
    monkeypatch.setenv("TFLM_DIR", str(tmp_path / "tflm"))
    monkeypatch.delenv("ESP_TFLM_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "tflm" / "cortex-m4-cmsis-nn", "$TFLM_DIR") == "$TFLM_DIR/cortex-m4-cmsis-nn"
    assert shown_path(tmp_path / "tflm") == "$TFLM_DIR"
    assert shown_path(tmp_path / "runs" / "demo" / "variant") == "runs/demo/variant"
    assert shown_path("/elsewhere/demo-x/demo/variant") == "RUN"
    assert shown_path("/elsewhere/run/firmware/stm32f4", "RUN/firmware/stm32f4") == "RUN/firmware/stm32f4"


def test_the_docs_name_no_path_of_the_machine_that_measured():
    for page in [ROOT / "README.md", *DOCS]:
        found = re.findall(r"(?:/tmp|/work|/home|/root|/Users)/[^\s`'\")]*", page.read_text(encoding="utf-8"))
        assert not found, (page, found)
