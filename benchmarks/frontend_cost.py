"""The device front end of a bundle: code bytes on Cortex-M4F / M0+ and host instructions per frame.

To run:  python benchmarks/frontend_cost.py RUN/firmware/BOARD [--readme]

Takes a firmware bundle's generated front end (ser_frontend*.c and its config for the bundle's
window), cross-compiles it with arm-none-eabi-gcc -Os for each CPU and FFT backend (portable, or
CMSIS-DSP's arm_rfft_fast_f32 from CMSIS_DSP_DIR / the cached sources), and counts with valgrind
the host (gcc -O2) instructions per 10 ms frame while streaming the run's first test clip (the
measurements of firmware_export/frontend_cost.py, which tests/test_frontend_c.py pins). Needs
gcc, arm-none-eabi-gcc and valgrind. --readme rewrites the README's `frontend-cost` block.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from firmware_export.cmsis_dsp import cmsis_dsp_sources  # noqa: E402
from firmware_export.frontend_cost import (CORTEX_M_FLOATS, cmsis_build_args, cortex_m_sizes, host_build,  # noqa: E402
                                           instructions_per_frame)
from firmware_export.verify import split_clips  # noqa: E402
from readme import publish  # noqa: E402
from ser_reparam.experiment import load_run  # noqa: E402

HARNESS = Path(__file__).parents[1] / "tests" / "frontend_harness.c"


def version(tool: str) -> str:
    return subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="a board's firmware bundle (runs/<name>/<variant>/firmware/<board>)")
    parser.add_argument("--readme", action="store_true", help="also write the README block")
    args = parser.parse_args()
    bundle = Path(args.bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    config = load_run(bundle.parents[1])
    frames = manifest["input"]["shape"][1]
    pcm = split_clips(config, 1)[0]["pcm"]
    backends = {"portable": {}, "CMSIS-DSP": cmsis_build_args(cmsis_dsp_sources())}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("ser_frontend.c", "ser_frontend.h", "ser_frontend_config.h", "ser_frontend_tables.c"):
            shutil.copy(bundle / name, work / name)
        sizes = {(cpu, backend): cortex_m_sizes(work, cpu, work, **build)
                 for cpu in CORTEX_M_FLOATS for backend, build in backends.items()}
        per_frame = {backend: instructions_per_frame(host_build(work, backend.lower(), HARNESS, **build), pcm,
                                                     config.frontend.frame_step, frames, work)
                     for backend, build in backends.items()}
    lines = [f"Front end of `{bundle}` ({frames} frames per window); code = text bytes of its own objects "
             "(arm-none-eabi-gcc -Os; the FFT library's code not included), host instructions per 10 ms frame "
             f"streaming a {len(pcm) / config.frontend.sample_rate:g} s test clip (gcc -O2, valgrind):", "",
             "| FFT backend | code, Cortex-M4F | code, Cortex-M0+ | `.data` / `.bss` | host instructions per frame |",
             "|---|---|---|---|---|"]
    for backend in backends:
        m4, m0 = sizes["cortex-m4", backend], sizes["cortex-m0plus", backend]
        lines.append(f"| {backend} | {m4['text']:,} B | {m0['text']:,} B | {m4['data']} / {m4['bss']} B | "
                     f"{per_frame[backend]:,.0f} |")
    lines += ["", f"Tools: {version('arm-none-eabi-gcc')}; {version('gcc')}; {version('valgrind')}."]
    publish("frontend-cost", "\n".join(lines), sys.argv, "python benchmarks/frontend_cost.py RUN/firmware/stm32f4 --readme")


if __name__ == "__main__":
    main()
