"""Stage 06: the firmware bundle of the deployed model for one board.

runs/<name>/<variant>/firmware/<board>/
  model_data.h / model_data.cc   the int8 .tflite as a C array (byte-identical)
  model_settings.h               input shape, quantization, labels, window, kTensorArenaSize
  op_resolver.h                  exactly the model's operators
  ser_frontend*                  the device front end, its config and tables (same run)
  ser_board.h, ser_app.h / .cc   the application loop (front end per hop, model per window)

or, for the streaming deployment (export.deployment; "auto": when stage 05 wrote the streaming
pieces, i.e. the model streams exactly), firmware_export/stream_export.py's files:
  model_data_{step,attend,classify}.h / .cc   the three int8 pieces as C arrays
  model_settings.h               the loop's numbers, every piece's scales, one shared arena
  op_resolver.h                  every piece's operators
  ser_board.h, ser_stream_app.h / .cc   the streaming loop (step per step, a label per label_hop_s)
  <template>/                    a ready project per template of the board (ESP-IDF, Arduino,
                                 CMake for Cortex-M), holding copies of the files above
  bundle.json                    sizes, ops, arena, front-end RAM and the budget check

The bundle is built in a temporary folder and renamed into place; it is a pure function of
the run's artifacts and the board, so exporting twice gives byte-identical files.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from string import Template

from firmware_export import frontend_tables, stream_export
from firmware_export.arena import measure_arena, measure_stream_arena
from firmware_export.boards import KB, Board, budget, get_board, require_fit
from firmware_export.bundle_record import read_record, record_path, write_record
from firmware_export.c_array import model_data_header, model_data_source
from firmware_export.cmsis_dsp import RFFT_SOURCES
from firmware_export.esp_nn_rules import esp_nn_softmax_problems
from firmware_export.frontend_tables import frontend_state_bytes, write_frontend_files
from firmware_export.kernels import esp_component_versions
from firmware_export.linker_script import linker_script
from firmware_export.op_resolver import op_resolver_header, ser_kernel_ops, softmax_exp_tables
from firmware_export.render import BUNDLE_DIR
from firmware_export.settings import model_settings_header
from ser_reparam import __version__
from ser_reparam.errors import BudgetError, InputError, StageError
from ser_reparam.features import FrontendConfig
from ser_reparam.files import ordinary_mode, refuse_ordinary, temp_name, unlisted_files
from ser_reparam.tflite.interpreters import quantization
from ser_reparam.tflite.metadata import read_metadata
from ser_reparam.tflite.ops import model_ops, op_set

TEMPLATE_DIR = Path(__file__).parent / "templates"
SOURCE_DIRS = {"esp-idf": "main", "arduino": "ser_reparam", "cmake-cortex-m": "."}  # where sources go
# Arduino compiles a sketch's .c, .cpp and .S files only (arduino-cli's sketch specification)
SOURCE_SUFFIXES = {"arduino": {".cc": ".cpp"}}
# the application loop every template's main file calls
APP_FILES = ("ser_board.h", "ser_app.h", "ser_app.cc", "ser_kernels.h", "ser_kernels.cc")


def board_linker_script(board: Board, qemu: bool = False) -> str:
    """The board's GNU ld script: arena, front end and reserve in the regions the budget uses."""
    return linker_script(board.flash_kb * KB, board.linker_regions(), board.placement,
                         board.reserve_ram_kb * KB,
                         qemu=qemu, flash_origin=board.flash_origin)


def _microphone_values(board: Board) -> dict:
    mic = board.microphone or {"api": "none"}
    pins = {f"mic_{pin}": mic.get(pin, -1) for pin in ("bclk", "ws", "din")}
    readme = {"i2s": (f"an I2S MEMS microphone (e.g. INMP441, L/R to GND) on GPIO {pins['mic_bclk']} "
                      f"(SCK), {pins['mic_ws']} (WS) and {pins['mic_din']} (SD), through the core's "
                      "`ESP_I2S` library (Arduino-ESP32 ≥ 3.0); change the GPIOs in the sketch to "
                      "your wiring."),
              "pdm": "the on-board PDM microphone through the core's `PDM` library (Arduino Mbed OS "
                     "Nano boards).",
              "none": "none defined for this board: implement MicrophoneBegin() / MicrophoneReadHop()."}
    return {**pins, "mic_api": mic["api"].upper(), "mic_api_macro": mic["api"].upper(),
            "mic_readme": readme[mic["api"]]}


def board_ser_kernels(board: Board, uses) -> list[str]:
    """The operators the bundle runs with bundle/ser_kernels.cc: on CMSIS-NN boards, where they were
    measured faster (benchmarks/firmware_profile.py); elsewhere the board's own kernels."""
    return ser_kernel_ops(uses) if board.kernels == "cmsis-nn" else []


def app_values(streaming: bool) -> dict:
    """The template fields that differ between the deployments: the app's header, the sources
    to compile besides main.cc, what the loop does."""
    app = "ser_stream_app" if streaming else "ser_app"
    models = [f"model_data_{name}.cc" for name in stream_export.PIECES] if streaming else ["model_data.cc"]
    sources = [f"{app}.cc", *models, "ser_frontend.c", "ser_frontend_stream.c", "ser_frontend_tables.c",
               "ser_kernels.cc"]
    return {"app_header": f"{app}.h", "app_sources": " ".join(sources),
            "app_sources_quoted": " ".join(f'"{name}"' for name in ["main.cc", *sources]),
            "loop": ("front end per hop → encoder step every 4 frames → a label per label hop over "
                     "the last window"
                     if streaming else "front end per 10 ms hop → model once per window")}


def _template_values(board: Board, model_name: str, arena: dict, streaming: bool = False) -> dict:
    versions = esp_component_versions(arena)
    return {**app_values(streaming), "board_name": board.name, "board_key": board.key, "core": board.core,
            "fpu": board.fpu,
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
        out = source_dir / source.with_suffix(SOURCE_SUFFIXES.get(template, {}).get(source.suffix,
                                                                                    source.suffix)).name
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
    text += (f": RAM {ram['used_bytes'] / 1024:.1f} of {ram['budget_bytes'] / 1024:.0f} KB budget "
             f"({regions}), flash {check['flash']['model_bytes'] / 1024:.1f} of "
             f"{check['flash']['budget_bytes'] / 1024:.0f} KB budget")
    if not board.has_fpu:
        text += (". No FPU: the float front end (FFT, log, deltas) runs in software floating point, many "
                 "times slower than on a Cortex-M4F; the int8 model itself needs no FPU. Measure the "
                 "front end's time per 10 ms hop on the board before relying on real time")
    return text


def _listed(folder: Path) -> set[str]:
    """The files a previous export wrote into `folder`: its record and the files it lists."""
    try:
        files = read_record(folder)["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    if not isinstance(files, list):
        return set()
    return {record_path(folder).name, *(name for name in files if isinstance(name, str))}


def refuse_foreign(folder: Path) -> None:
    """InputError when `folder` holds anything a previous export did not write (a user's file is
    never replaced or deleted)."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise InputError(f"{folder} is not a folder the export wrote (a file or a link): export into a new "
                         "or empty folder (another --out), or move it away")
    foreign = unlisted_files(folder, _listed(folder))
    if foreign:
        raise InputError(f"{folder} holds files the export did not write (e.g. {foreign[0]}); export into "
                         "a new or empty folder (another --out), or move those files out of it")


def discard_bundle(folder: Path) -> None:
    """Remove a board's bundle atomically: renamed away first (readers see all of it or none),
    then deleted; refused when it holds a file the export did not write."""
    if not folder.exists():
        return
    refuse_foreign(folder)
    doomed = temp_name(folder)
    os.replace(folder, doomed)
    shutil.rmtree(doomed)


def _deployed(model_path: Path, board: Board) -> tuple[bytes, dict, dict]:
    """The deployed .tflite's bytes, metadata and input/output quantization, checked."""
    blob = Path(model_path).read_bytes()
    meta = read_metadata(blob, str(model_path))
    quant = quantization(blob)
    if quant["input"]["dtype"] != "int8":
        raise StageError(f"stage 06 (export): {model_path.name} has {quant['input']['dtype']} "
                         "input; the device front end writes int8: export an int8 model (int8 or qat_int8)")
    return blob, meta, quant


def _esp_nn_check(blob: bytes, name: str, board: Board) -> None:
    if board.kernels.startswith("esp-nn") and esp_nn_softmax_problems(blob):
        raise StageError(f"stage 06 (export): {name} would overrun ESP-NN's softmax scratch on {board.name}: "
                         + "; ".join(esp_nn_softmax_problems(blob))
                         + ". Give the softmax a rank-2 or rank-3 input "
                         "whose dimension 1 is at least its last (see "
                         "ser_reparam.models.layers.MultiHeadSelfAttention._head)")


def export_model(model_path: Path, target: Path, board_key: str) -> dict:
    """The whole-window firmware bundle of one deployed .tflite for `board_key`, written to
    `target`, from the file alone: labels, front end, statistics and window come from its metadata."""
    board = get_board(board_key)
    blob, meta, quant = _deployed(model_path, board)
    model_name = Path(model_path).stem
    window_frames = quant["input"]["shape"][1]
    _esp_nn_check(blob, str(model_path), board)
    arena = measure_arena(blob, board)
    cmsis = board.core.startswith("cortex")
    frontend = FrontendConfig(**meta["frontend"])
    check = budget(board, len(blob), arena["kTensorArenaSize"],
                   frontend_state_bytes(frontend, window_frames, cmsis))
    provenance = f"{meta['experiment']}/{meta['variant']} seed {meta['seed']} ({model_name}.tflite)"
    labels = list(meta["labels"])
    files = {
        "model_data.h": model_data_header("ser", blob, provenance),
        "model_data.cc": model_data_source("ser", blob),
        "model_settings.h": model_settings_header(quant, labels, meta["window"]["seconds"],
                                                  arena["kTensorArenaSize"], provenance),
        "op_resolver.h": op_resolver_header(op_set(blob), provenance,
                                            board_ser_kernels(board, model_ops(blob)),
                                            softmax_exp_tables([blob])),
    }
    model = {"file": model_path.name, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
             "source": provenance}
    manifest = {"deployment": "whole-window", "model": model, "input": quant["input"],
                "output": quant["output"],
                "labels": labels, "window_seconds": meta["window"]["seconds"], "ops": op_set(blob)}
    return _write_bundle(target, board, files, APP_FILES, meta, window_frames, arena, check, manifest,
                         model_name, False)


def export_streaming(model_path: Path, paths: dict[str, Path], record: dict, target: Path, board_key: str,
                     label_hop_s: float) -> dict:
    """The streaming firmware bundle for `board_key`, written to `target`: the int8 pieces at
    `paths` (step, attend, classify; `record`: stage 05's streaming record of them), the labels,
    front end, statistics and window of the deployed .tflite beside them. Every piece's arena and
    the one arena they share are measured; the budget counts that arena + the application's
    state (placed with it) + the streaming front end's state."""
    board = get_board(board_key)
    _, meta, quant = _deployed(model_path, board)
    missing = [p.name for p in paths.values() if not p.exists()]
    if missing:
        raise StageError(f"stage 06 (export): no {', '.join(missing)} in {Path(model_path).parent} — "
                         "rerun stage 05 (ser-reparam quantize … --force)")
    blobs = {name: path.read_bytes() for name, path in paths.items()}
    for name, blob in blobs.items():
        _esp_nn_check(blob, str(paths[name]), board)
    frontend = FrontendConfig(**meta["frontend"])
    window_frames = quant["input"]["shape"][1]
    labels = list(meta["labels"])
    streaming = stream_export.settings(blobs, record, frontend, len(labels), label_hop_s)  # checks first
    arena = measure_stream_arena(blobs, board)
    cmsis = board.core.startswith("cortex")
    flash = sum(len(blob) for blob in blobs.values())
    check = budget(board, flash, arena["kTensorArenaSize"],
                   frontend_tables.stream_state_bytes(frontend, cmsis),
                   state_bytes=streaming["state_bytes"])
    provenance = (f"{meta['experiment']}/{meta['variant']} seed {meta['seed']} (streaming pieces of "
                  f"{model_path.name})")
    files = stream_export.stream_files(blobs, streaming, labels, window_frames, frontend.num_features,
                                       meta["window"]["seconds"], arena["kTensorArenaSize"], provenance,
                                       board_ser_kernels(board, [u for b in blobs.values()
                                                                 for u in model_ops(b)]))
    model = {"file": ", ".join(p.name for p in paths.values()), "bytes": flash, "source": provenance,
             "sha256": {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()}}
    manifest = {"deployment": "streaming", "model": model, "streaming": streaming, "labels": labels,
                "input": streaming["pieces"]["step"]["inputs"][0],
                "window_seconds": meta["window"]["seconds"],
                "window_frames": window_frames,
                "ops": sorted({op for p in streaming["pieces"].values() for op in p["ops"]})}
    return _write_bundle(target, board, files, stream_export.APP_FILES, meta, window_frames, arena,
                         check, manifest, model_path.stem, True)


def _write_bundle(target: Path, board: Board, files: dict, app_files: tuple, meta: dict, window_frames: int,
                  arena: dict, check: dict, manifest: dict, model_name: str, streaming: bool) -> dict:
    """Check the budget, then write the bundle (generated `files`, the app's files, the front end,
    the projects, bundle.json) in a staging folder renamed into place."""
    refuse_foreign(target)
    try:
        require_fit(board, check)
    except BudgetError:  # a previous bundle would still say "fits" beside the new model: take it away
        discard_bundle(target)
        raise
    frontend = FrontendConfig(**meta["frontend"])
    cmsis = board.core.startswith("cortex")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{board.key}.", dir=target.parent))
    ordinary_mode(staging)
    try:
        for name, text in files.items():
            (staging / name).write_text(text)
        for name in app_files:
            shutil.copyfile(BUNDLE_DIR / name, staging / name)
        sources = [staging / name for name in (*files, *app_files)]
        sources += write_frontend_files(frontend, meta["normalization"], window_frames, staging)
        projects = []
        for template in board.templates:
            _fill_template(template, staging / template, sources,
                           _template_values(board, model_name, arena, streaming))
            projects.append(template)
        if "cmake-cortex-m" in board.templates:
            (staging / "cmake-cortex-m" / "ser_memory.ld").write_text(board_linker_script(board))
        manifest = {
            "board": board.key, "board_name": board.name, "generator": f"ser-reparam {__version__}",
            **manifest,
            "arena": arena, "frontend": {"state_bytes": check["ram"]["frontend_bytes"],
                                         "fft": "CMSIS-DSP" if cmsis else "portable"},
            "budget": check, "fits": all(part["fits"] for part in check.values()),
            "verdict": verdict(board, check, arena), "projects": projects,
            "files": sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()),
        }
        write_record(staging, manifest)
        discard_bundle(target)
        os.replace(staging, target)
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)
        refuse_ordinary(err, target)  # a full disk names the bundle, not a file in the staging folder
        raise
    return manifest
