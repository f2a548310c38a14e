"""What the device front end costs: code bytes on a Cortex-M and host instructions per frame.

One place for these measurements: tests/test_frontend_c.py pins them, benchmarks/frontend_cost.py
puts them in the README. Everything is compiled for real (host gcc, arm-none-eabi-gcc) and
counted with valgrind; the callers check that the tools exist.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

from firmware_export.cmsis_dsp import RFFT_SOURCES

CORTEX_M_FLOATS = {"cortex-m4": ["-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"], "cortex-m0plus": ["-mfloat-abi=soft"]}


def cmsis_build_args(root: Path) -> dict:
    """Defines, include folders and sources of the CMSIS-DSP FFT backend from CMSIS-DSP tree `root`."""
    # -D__GNUC_PYTHON__: CMSIS-DSP without CMSIS-Core, as the cmsisdsp Python package builds it
    return {"defines": ("-DSER_FFT_CMSIS", "-D__GNUC_PYTHON__"),
            "includes": (root / "Include", root / "PrivateInclude"),
            "sources": [root / source for source in RFFT_SOURCES]}


def host_build(folder: Path, name: str, harness: Path, defines=(), includes=(), sources=(), gcc: str = "gcc") -> Path:
    """Host program `folder/name`: the C driver `harness` with the front-end files in `folder`."""
    exe = folder / name
    subprocess.run([gcc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
                    *defines, f"-I{folder}", *[f"-I{i}" for i in includes], str(harness),
                    str(folder / "ser_frontend_tables.c"), *map(str, sources), "-lm", "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    return exe


def cortex_m_sizes(folder: Path, cpu: str, work: Path, defines=(), includes=(), sources=()) -> dict:
    """Front-end object bytes (text, data, bss: arm-none-eabi-size of ser_frontend*.o, -Os) for `cpu`,
    and the text/data/bss of a program linked against the API only (unused FFT tables dropped,
    as on the device)."""
    flags = [f"-mcpu={cpu}", "-mthumb", *CORTEX_M_FLOATS[cpu], "-std=c99", "-Os", "-Wall", "-Werror",
             "-ffunction-sections", "-fdata-sections", f"-I{folder}", *defines, *[f"-I{i}" for i in includes]]
    tag = f"{cpu}-{'cmsis' if sources else 'portable'}"
    objects = []
    for source in [folder / "ser_frontend.c", folder / "ser_frontend_tables.c", *sources]:
        objects.append(work / f"{tag}-{Path(source).stem}.o")
        subprocess.run(["arm-none-eabi-gcc", *flags, "-c", str(source), "-o", str(objects[-1])],
                       check=True, capture_output=True, text=True)
    main = work / f"{tag}-main.c"
    main.write_text('#include "ser_frontend.h"\nstatic ser_frontend_t fe;\nstatic int16_t hop[SER_HOP_SAMPLES];\n'
                    "static int8_t input[SER_NUM_FRAMES * SER_NUM_FEATURES];\n"
                    "int main(void) { ser_frontend_reset(&fe); ser_frontend_push(&fe, hop);\n"
                    "  return ser_frontend_finish_int8(&fe, input, 0.05f, 0); }\n")
    elf = work / f"{tag}.elf"
    subprocess.run(["arm-none-eabi-gcc", *flags, str(main), *map(str, objects), "--specs=nosys.specs",
                    "-Wl,--gc-sections", "-lm", "-o", str(elf)], check=True, capture_output=True, text=True)
    ours = subprocess.run(["arm-none-eabi-size", "-t", *map(str, objects[:2])], check=True,
                          capture_output=True, text=True).stdout
    text, data, bss = map(int, ours.splitlines()[-1].split()[:3])
    linked = subprocess.run(["arm-none-eabi-size", str(elf)], check=True, capture_output=True, text=True).stdout
    return {"text": text, "data": data, "bss": bss, "linked": tuple(map(int, linked.splitlines()[-1].split()[:3]))}


def instructions(exe: Path, pcm_path: Path) -> int:
    """Instructions the harness executes pushing the int16 PCM file hop by hop (valgrind callgrind)."""
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", str(exe), "push",
                          str(pcm_path)], check=True, capture_output=True, text=True).stderr
    return int(re.search(r"Collected\s*:\s*(\d+)", out).group(1))


def instructions_per_frame(exe: Path, pcm: np.ndarray, hop_samples: int, frames: int, work: Path) -> float:
    """Streaming instructions per 10 ms frame: pushing `pcm` (giving `frames` frames) minus pushing
    its first hop alone (start-up, no frame yet), over the frames after the first."""
    (work / "full.pcm").write_bytes(pcm.astype("<i2").tobytes())
    (work / "one.pcm").write_bytes(pcm[:hop_samples].astype("<i2").tobytes())
    return (instructions(exe, work / "full.pcm") - instructions(exe, work / "one.pcm")) / (frames - 1)
