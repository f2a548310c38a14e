"""Stage 06: the firmware bundle of the deployed model for one board.

runs/<name>/<variant>/firmware/<board>/
  model_data.h / model_data.cc   the int8 .tflite as a C array (byte-identical)
  model_settings.h               input shape, quantization, labels, window, kTensorArenaSize
  op_resolver.h                  exactly the model's operators
  ser_frontend*                  the device front end, its config and tables (same run)
  ser_app.h / ser_app.cc         the application loop (front end per hop, model per window)
  <template>/                    a ready project per template of the board (ESP-IDF, Arduino,
                                 CMake for Cortex-M), holding copies of the files above
  manifest.json                  sizes, ops, arena, front-end RAM and the budget check

The bundle is built in a temporary folder and renamed into place; it is a pure function of
the run's artifacts and the board, so exporting twice gives byte-identical files.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from string import Template

from firmware_export.arena import measure_arena
from firmware_export.boards import KB, Board, BudgetError, budget, get_board, require_fit
from firmware_export.c_array import model_data_header, model_data_source
from firmware_export.cmsis_dsp import RFFT_SOURCES
from firmware_export.frontend_tables import frontend_state_bytes, write_frontend_files
from firmware_export.esp_nn_rules import esp_nn_softmax_problems
from firmware_export.kernels import esp_component_versions
from firmware_export.linker_script import linker_script
from firmware_export.op_resolver import op_resolver_header
from firmware_export.render import BUNDLE_DIR
from firmware_export.settings import model_settings_header, quantization
from ser_reparam import __version__
from ser_reparam.config import ExperimentConfig
from ser_reparam.errors import StageError
from ser_reparam.features import FrontendConfig
from ser_reparam.files import ordinary_mode, temp_name
from ser_reparam.layout import RunLayout
from ser_reparam.quantize import deployed_model_name
from ser_reparam.tflite_metadata import read_metadata
from ser_reparam.tflite_ops import op_set

TEMPLATE_DIR = Path(__file__).parent / "templates"
SOURCE_DIRS = {"esp-idf": "main", "arduino": "ser_reparam", "cmake-cortex-m": "."}  # where sources go
# Arduino compiles a sketch's .c, .cpp and .S files only (arduino-cli's sketch specification)
SOURCE_SUFFIXES = {"arduino": {".cc": ".cpp"}}
APP_FILES = ("ser_app.h", "ser_app.cc")  # the application loop every template's main file calls


def board_linker_script(board: Board, qemu: bool = False) -> str:
    """The board's GNU ld script: arena, front end and reserve in the regions the budget uses."""
    return linker_script(board.flash_kb * KB, board.linker_regions(), board.placement, board.reserve_ram_kb * KB,
                         qemu=qemu, flash_origin=board.flash_origin)


def _microphone_values(board: Board) -> dict:
    mic = board.microphone or {"api": "none"}
    pins = {f"mic_{pin}": mic.get(pin, -1) for pin in ("bclk", "ws", "din")}
    readme = {"i2s": (f"an I2S MEMS microphone (e.g. INMP441, L/R to GND) on GPIO {pins['mic_bclk']} "
                      f"(SCK), {pins['mic_ws']} (WS) and {pins['mic_din']} (SD), through the core's "
                      "`ESP_I2S` library (Arduino-ESP32 ≥ 3.0); change the GPIOs in the sketch to your wiring."),
              "pdm": "the on-board PDM microphone through the core's `PDM` library (Arduino Mbed OS Nano boards).",
              "none": "none defined for this board: implement MicrophoneBegin() / MicrophoneReadHop()."}
    return {**pins, "mic_api": mic["api"].upper(), "mic_api_macro": mic["api"].upper(), "mic_readme": readme[mic["api"]]}


def _template_values(board: Board, model_name: str, arena: dict) -> dict:
    versions = esp_component_versions(arena)
    return {"board_name": board.name, "board_key": board.key, "core": board.core, "fpu": board.fpu,
            "cflags": board.cflags, "tflm_arch": board.tflm_arch,
            "idf_target": board.idf_target, "arduino_fqbn": board.arduino_fqbn, "model": model_name,
            **_microphone_values(board), "esp_tflite_micro_version": versions["esp-tflite-micro"],
            "esp_nn_version": versions["esp-nn"], "arena_kernels": arena["kernels_label"],
            "cmsis_dsp_fft_sources": "\n    ".join(f"${{CMSIS_DSP_DIR}}/{name}" for name in RFFT_SOURCES)}


def _fill_template(template: str, target: Path, sources: list[Path], values: dict) -> list[Path]:
    """Copy one project template into `target`, substituting ${…} fields, plus the sources."""
    written = []
    for path in sorted((TEMPLATE_DIR / template).rglob("*")):
        if path.is_file():
            out = target / path.relative_to(TEMPLATE_DIR / template)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(Template(path.read_text()).substitute(values))
            written.append(out)
    source_dir = target / SOURCE_DIRS[template]
    for source in sources:
        out = source_dir / source.with_suffix(SOURCE_SUFFIXES.get(template, {}).get(source.suffix, source.suffix)).name
        shutil.copyfile(source, out)
        written.append(out)
    return written


def verdict(board: Board, check: dict, arena: dict) -> str:
    fits = all(part["fits"] for part in check.values())
    text = "fits" if fits else "does not fit"
    if arena["fidelity"] != "measured":
        text += f" (arena estimated, not measured with {arena['kernels_label']}: {arena['missing']})"
    ram = check["ram"]
    regions = "; ".join(f"{name} {r['used_bytes'] / 1024:.1f} of {r['bytes'] / 1024:.0f} KB: "
                        f"{' + '.join(r['buffers']) or 'free'}" for name, r in ram["regions"].items())
    text += (f": RAM {ram['used_bytes'] / 1024:.1f} of {ram['budget_bytes'] / 1024:.0f} KB budget ({regions}), "
             f"flash {check['flash']['model_bytes'] / 1024:.1f} of {check['flash']['budget_bytes'] / 1024:.0f} KB budget")
    if not board.has_fpu:
        text += (". No FPU: the float front end (FFT, log, deltas) runs in software floating point, many "
                 "times slower than on a Cortex-M4F; the int8 model itself needs no FPU. Measure the "
                 "front end's time per 10 ms hop on the board before relying on real time")
    return text


def discard_bundle(folder: Path) -> None:
    """Remove a board's bundle atomically: renamed away first (readers see all of it or none),
    then deleted."""
    if not folder.exists():
        return
    doomed = temp_name(folder)
    os.replace(folder, doomed)
    shutil.rmtree(doomed)


def export_run(config: ExperimentConfig, board_key: str, model_name: str | None = None) -> dict:
    """Write the firmware bundle of the deployed `model_name` file (stage 05; default
    deployed_model_name) for `board_key` into the run's firmware/<board> folder.

    BudgetError (naming the numbers) when the model and arena do not fit the board."""
    layout = RunLayout(config)
    model_path = layout.quantized_dir / f"{model_name or deployed_model_name(config)}.tflite"
    if not model_path.exists():
        raise StageError(f"stage 06 (export): no {model_path.name} in {model_path.parent} — run stage 05 "
                         "(ser-reparam quantize …)")
    return export_model(model_path, layout.firmware_dir(board_key), board_key)


def export_model(model_path: Path, target: Path, board_key: str) -> dict:
    """The firmware bundle of one deployed .tflite for `board_key`, written to `target`, from the
    file alone: labels, front end, statistics and window come from its metadata."""
    board = get_board(board_key)
    blob = Path(model_path).read_bytes()
    meta = read_metadata(blob, str(model_path))
    model_name = Path(model_path).stem
    quant = quantization(blob)
    if quant["input"]["dtype"] != "int8":
        raise StageError(f"stage 06 (export): {model_path.name} has {quant['input']['dtype']} input; the device "
                         "front end writes int8: export an int8 model (int8 or qat_int8)")
    frames = quant["input"]["shape"][1]
    if board.kernels.startswith("esp-nn") and esp_nn_softmax_problems(blob):
        raise StageError(f"stage 06 (export): {model_path} would overrun ESP-NN's softmax scratch on {board.name}: "
                         + "; ".join(esp_nn_softmax_problems(blob)) + ". Give the softmax a rank-2 or rank-3 input "
                         "whose dimension 1 is at least its last (see ser_reparam.models.layers.MultiHeadSelfAttention._head)")
    arena = measure_arena(blob, board)
    cmsis = board.core.startswith("cortex")
    frontend = FrontendConfig(**meta["frontend"])
    ram = frontend_state_bytes(frontend, frames, cmsis)
    check = budget(board, len(blob), arena["kTensorArenaSize"], ram)
    try:
        require_fit(board, check)
    except BudgetError:  # a previous bundle would still say "fits" beside the new model: take it away
        discard_bundle(target)
        raise

    labels = list(meta["labels"])
    provenance = f"{meta['experiment']}/{meta['variant']} seed {meta['seed']} ({model_name}.tflite)"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{board_key}.", dir=target.parent))
    ordinary_mode(staging)
    try:
        files = {
            "model_data.h": model_data_header("ser", blob, provenance),
            "model_data.cc": model_data_source("ser", blob),
            "model_settings.h": model_settings_header(quant, labels, meta["window"]["seconds"],
                                                      arena["kTensorArenaSize"], provenance),
            "op_resolver.h": op_resolver_header(op_set(blob), provenance),
        }
        for name, text in files.items():
            (staging / name).write_text(text)
        for name in APP_FILES:
            shutil.copyfile(BUNDLE_DIR / name, staging / name)
        sources = [staging / name for name in (*files, *APP_FILES)]
        sources += write_frontend_files(frontend, meta["normalization"], frames, staging)
        projects = []
        for template in board.templates:
            _fill_template(template, staging / template, sources, _template_values(board, model_name, arena))
            projects.append(template)
        if "cmake-cortex-m" in board.templates:
            (staging / "cmake-cortex-m" / "ser_memory.ld").write_text(board_linker_script(board))
        manifest = {
            "board": board.key, "board_name": board.name, "generator": f"ser-reparam {__version__}",
            "model": {"file": model_path.name, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
                      "source": provenance},
            "input": quant["input"], "output": quant["output"], "labels": labels,
            "window_seconds": meta["window"]["seconds"], "ops": op_set(blob),
            "arena": arena, "frontend": {"state_bytes": ram, "fft": "CMSIS-DSP" if cmsis else "portable"},
            "budget": check, "fits": all(part["fits"] for part in check.values()),
            "verdict": verdict(board, check, arena), "projects": projects,
            "files": sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
