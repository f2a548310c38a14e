"""What a test needs from the machine: skip with the fix as the reason, or fail under CI.

`python -m pytest` on a fresh machine skips a test whose tool, download or real data is missing,
naming the install line or the variable to set. Under CI (`CI=true`, as `.ci/run` runs) the same
test fails instead: `.ci/run` provides all of them, so a skip there would hide a regression.
"""
import os
import shutil
from pathlib import Path

import pytest


def need(available: bool, reason: str) -> None:
    """Skip (fail under CI) unless `available`; `reason` says what is missing and how to get it."""
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


def need_tool(name: str, install: str) -> str:
    """The path of executable `name`, or skip naming the `install` line."""
    path = shutil.which(name)
    need(path is not None, f"{name} not found; install it: {install}")
    return path


def need_dir(variable: str, what: str) -> Path:
    """The folder named by environment `variable` (a real corpus or source tree), or skip."""
    value = os.environ.get(variable, "")
    need(bool(value) and Path(value).is_dir(),
         f"{variable} is not set to a folder: point it at {what}")
    return Path(value)


ARM_GCC = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
VALGRIND = "apt-get install valgrind"
HOST_GCC = "apt-get install gcc"


def need_cmsis_dsp() -> Path:
    """CMSIS-DSP C sources: $CMSIS_DSP_DIR, or the cmsisdsp sdist unpacked once in the cache.
    Tests never download it themselves (a test run must not need the network); fetch it with the
    line in the reason (.ci/run does)."""
    from firmware_export.cmsis_dsp import CMSIS_DSP_VERSION, cache_dir, cmsis_dsp_sources

    present = (bool(os.environ.get("CMSIS_DSP_DIR"))
               or (cache_dir() / f"cmsisdsp-{CMSIS_DSP_VERSION}").is_dir())
    need(present, f"CMSIS-DSP sources not found: set CMSIS_DSP_DIR, or fetch them once (pip download "
                  f"cmsisdsp=={CMSIS_DSP_VERSION}, unpacked into {cache_dir()}): python -m "
                  "firmware_export.cmsis_dsp")
    return cmsis_dsp_sources()
