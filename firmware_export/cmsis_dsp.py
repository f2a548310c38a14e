"""Where the CMSIS-DSP C sources are: `$CMSIS_DSP_DIR`, else the `cmsisdsp` sdist from PyPI.

The sdist of the `cmsisdsp` Python package carries the library's own Include/, PrivateInclude/
and Source/ folders: the same functions a Cortex-M firmware calls, fetched with pip (the one
channel a build machine here reaches), once, into a cache folder. Builds outside a Cortex-M
toolchain compile them with `-D__GNUC_PYTHON__`, which drops the CMSIS-Core dependency.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ser_reparam.errors import CmsisDspError

CMSIS_DSP_VERSION = "1.10.3"  # the cmsisdsp Python package the tests cross-check against
# The files arm_rfft_fast_f32 needs (the real FFT of the front end's SER_FFT_CMSIS backend).
RFFT_SOURCES = (
    "Source/TransformFunctions/arm_rfft_fast_f32.c",
    "Source/TransformFunctions/arm_rfft_fast_init_f32.c",
    "Source/TransformFunctions/arm_cfft_f32.c",
    "Source/TransformFunctions/arm_cfft_init_f32.c",
    "Source/TransformFunctions/arm_cfft_radix8_f32.c",
    "Source/TransformFunctions/arm_bitreversal2.c",
    "Source/CommonTables/arm_common_tables.c",
    "Source/CommonTables/arm_const_structs.c",
)


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ser-reparam"


def _check(root: Path, origin: str) -> Path:
    missing = [name for name in ("Include/arm_math.h", *RFFT_SOURCES) if not (root / name).is_file()]
    if missing:
        raise CmsisDspError(f"{origin} {root} is not a CMSIS-DSP source tree (missing "
                            f"{', '.join(missing[:3])}); "
                            "point CMSIS_DSP_DIR at the folder holding Include/, PrivateInclude/ and Source/")
    return root


def _download(target: Path) -> None:
    """pip-download the sdist and unpack it as `target` (atomically: a rename at the end)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                   "--no-build-isolation", f"cmsisdsp=={CMSIS_DSP_VERSION}", "-d", tmp]
        result = subprocess.run(command, capture_output=True, text=True)
        archives = list(Path(tmp).glob("cmsisdsp-*.tar.gz"))
        if result.returncode != 0 or not archives:
            raise CmsisDspError(f"could not download the cmsisdsp {CMSIS_DSP_VERSION} sdist with pip "
                                f"({result.stderr.strip()[-500:]}); set CMSIS_DSP_DIR to a "
                                "CMSIS-DSP source tree")
        with tarfile.open(archives[0]) as archive:
            archive.extractall(tmp, filter="data")
        try:
            os.replace(Path(tmp) / f"cmsisdsp-{CMSIS_DSP_VERSION}", target)
        except OSError:
            if not target.is_dir():  # else another process unpacked it first
                raise


def cmsis_dsp_sources() -> Path:
    """The root of a CMSIS-DSP source tree (Include/, PrivateInclude/, Source/)."""
    if os.environ.get("CMSIS_DSP_DIR"):
        return _check(Path(os.environ["CMSIS_DSP_DIR"]), "CMSIS_DSP_DIR")
    target = cache_dir() / f"cmsisdsp-{CMSIS_DSP_VERSION}"
    if not target.is_dir():
        _download(target)
    return _check(target, "cached")


if __name__ == "__main__":  # python -m firmware_export.cmsis_dsp: fetch the sources once (CI does)
    print(cmsis_dsp_sources())
