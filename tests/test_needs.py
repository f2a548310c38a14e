"""A missing tool or download skips with the install line, except under CI, where it fails."""
import pytest
from needs import need_cmsis_dsp, need_tool


def test_a_missing_tool_skips_naming_the_install_line(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="arm-none-eabi-nope not found; install it: "
                                                    "apt-get install x"):
        need_tool("arm-none-eabi-nope", "apt-get install x")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI: arm-none-eabi-nope not found"):
        need_tool("arm-none-eabi-nope", "apt-get install x")


def test_missing_cmsis_sources_skip_and_are_never_downloaded_by_a_test(monkeypatch, tmp_path):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("CMSIS_DSP_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(pytest.skip.Exception, match=r"pip download cmsisdsp==1.10.3.*python -m "
                                                    r"firmware_export.cmsis_dsp"):
        need_cmsis_dsp()
    assert not any(tmp_path.iterdir())
