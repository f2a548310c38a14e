"""The ESP-IDF and Arduino projects of a bundle: their own sources compiled against the real TFLite
Micro headers (stand-ins only for the vendor SDK calls: tests/sdk_standins), the default
microphone wiring usable on each chip, and the ESP-IDF component pins the arena was measured with."""
import os
import subprocess
from pathlib import Path

import pytest
from needs import need, need_dir

from firmware_export.boards import load_boards
from ser_reparam.bundles import export_run
from ser_reparam.layout import RunLayout

STANDINS = Path(__file__).parent / "sdk_standins"
# GPIOs a default microphone wiring must avoid (datasheets): SPI flash / PSRAM, USB, UART0, and
# input-only pins for the two clock outputs (bit clock, word select) of an I2S master
RESERVED = {"esp32": {"any": set(range(6, 12)) | {1, 3}, "outputs": set(range(34, 40))},
            "esp32s3": {"any": set(range(26, 38)) | {19, 20, 43, 44}, "outputs": set()}}


def tree_includes(tree: Path) -> list[str]:
    return [f"-I{tree / sub}" for sub in ("", "third_party/flatbuffers/include", "third_party/gemmlowp",
                                          "third_party/ruy")]


def tflm_headers(variable: str) -> Path:
    root = need_dir(variable, "a TFLM source tree (../shared/third_party)")
    return root / "host" if (root / "host/tensorflow").is_dir() else root


@pytest.fixture(scope="module")
def bundles(deployed_run):
    """ESP32, ESP32-S3 and nRF52840 bundles (arena from the labelled estimate: these tests are
    about the projects' sources, the kernel measurement has its own slow tests)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TFLM_DIR", raising=False)
        patch.delenv("ESP_TFLM_DIR", raising=False)
        for board in ("esp32", "esp32s3", "nrf52840"):
            export_run(deployed_run, board, deployment="whole-window")
    return {board: RunLayout(deployed_run).firmware_dir(board) for board in ("esp32", "esp32s3", "nrf52840")}


@pytest.fixture(scope="module")
def stream_bundles(deployed_run, tmp_path_factory):
    """The same boards' streaming bundles (the run copied: the whole-window bundles above stay)."""
    import dataclasses
    import shutil

    folder = tmp_path_factory.mktemp("stream-templates")
    shutil.copytree(deployed_run.run_dir, folder / "copy")
    run = dataclasses.replace(deployed_run, runs_dir=str(folder), name="copy")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TFLM_DIR", raising=False)
        patch.delenv("ESP_TFLM_DIR", raising=False)
        for board in ("esp32s3", "nrf52840"):
            assert export_run(run, board, deployment="streaming")["deployment"] == "streaming"
    return {board: RunLayout(run).firmware_dir(board) for board in ("esp32s3", "nrf52840")}


FRONTEND_C = {"ser_frontend.c", "ser_frontend_stream.c", "ser_frontend_tables.c"}


def compile_only(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("board", ["esp32", "esp32s3"])
def test_esp_idf_main_compiles_against_esp_tflite_micro(bundles, board):
    tree = need_dir("ESP_TFLM_DIR", "the esp-tflite-micro host tree "
                                    "(../shared/third_party/esp-tflite-micro-host)")
    main = bundles[board] / "esp-idf" / "main"
    target = {"esp32": "CONFIG_IDF_TARGET_ESP32", "esp32s3": "CONFIG_IDF_TARGET_ESP32S3"}[board]
    compile_only(["g++", "-std=c++17", "-Wall", "-Werror", "-fno-rtti", "-fno-exceptions",
                  "-DTF_LITE_STATIC_MEMORY",
                  f"-D{target}=1", f"-I{main}", f"-I{STANDINS / 'esp-idf'}", *tree_includes(tree),
                  "-fsyntax-only", str(main / "main.cc"), str(main / "ser_app.cc"),
                  str(main / "ser_kernels.cc")])
    # the component's C sources (both front ends) with the ESP-DSP FFT its option selects
    assert {p.name for p in main.glob("*.c")} == FRONTEND_C
    for source in sorted(FRONTEND_C):
        compile_only(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-DSER_FFT_ESPDSP", f"-I{main}",
                      f"-I{Path(__file__).parent / 'espdsp_standin'}", "-fsyntax-only", str(main / source)])
    pins = load_boards()[board].microphone
    text = (main / "main.cc").read_text()
    for role, pin in (("Bclk", pins["bclk"]), ("Ws", pins["ws"]), ("Data", pins["din"])):
        assert f"kMic{role} = GPIO_NUM_{pin};" in text


@pytest.mark.parametrize("board, api", [("esp32", "I2S"), ("esp32s3", "I2S"), ("nrf52840", "PDM")])
def test_arduino_sketch_compiles_with_its_board_familys_microphone(bundles, board, api):
    tree = tflm_headers("TFLM_DIR")
    sketch = bundles[board] / "arduino" / "ser_reparam"
    text = (sketch / "ser_reparam.ino").read_text()
    assert f"#define SER_MIC_{api} 1" in text and "${" not in text
    # a sketch compiles its .c, .cpp and .S files only: every C++ source is a .cpp there
    assert {p.name for p in sketch.glob("*.cpp")} == {"ser_app.cpp", "model_data.cpp", "ser_kernels.cpp"}
    assert not list(sketch.glob("*.cc"))
    assert {p.name for p in sketch.glob("*.c")} == FRONTEND_C  # both front ends, compiled as C
    compile_only(["g++", "-std=c++17", "-Wall", "-Werror", "-fno-rtti", "-fno-exceptions",
                  "-DTF_LITE_STATIC_MEMORY",
                  "-x", "c++", "-include", "Arduino.h", f"-I{STANDINS / 'arduino'}", f"-I{sketch}",
                  *tree_includes(tree), "-fsyntax-only", str(sketch / "ser_reparam.ino"),
                  str(sketch / "ser_app.cpp"),
                  str(sketch / "ser_kernels.cpp")])


def test_streaming_projects_compile_their_loop(stream_bundles):
    """The same main files with the streaming loop (ser_stream_app, the streaming front end):
    the ESP-IDF project against esp-tflite-micro, the Arduino sketch against TFLM's headers."""
    esp_tree = need_dir("ESP_TFLM_DIR", "the esp-tflite-micro host tree "
                                        "(../shared/third_party/esp-tflite-micro-host)")
    main = stream_bundles["esp32s3"] / "esp-idf" / "main"
    assert '"ser_stream_app.cc" "model_data_step.cc"' in (main / "CMakeLists.txt").read_text()
    compile_only(["g++", "-std=c++17", "-Wall", "-Werror", "-fno-rtti", "-fno-exceptions",
                  "-DTF_LITE_STATIC_MEMORY",
                  "-DCONFIG_IDF_TARGET_ESP32S3=1", f"-I{main}", f"-I{STANDINS / 'esp-idf'}",
                  *tree_includes(esp_tree),
                  "-fsyntax-only", str(main / "main.cc"), str(main / "ser_stream_app.cc")])
    sketch = stream_bundles["nrf52840"] / "arduino" / "ser_reparam"
    assert {p.name for p in sketch.glob("*.cpp")} == {"ser_stream_app.cpp", "model_data_step.cpp",
                                                       "model_data_attend.cpp", "model_data_classify.cpp",
                                                       "ser_kernels.cpp"}
    assert '#include "ser_stream_app.h"' in (sketch / "ser_reparam.ino").read_text()
    compile_only(["g++", "-std=c++17", "-Wall", "-Werror", "-fno-rtti", "-fno-exceptions",
                  "-DTF_LITE_STATIC_MEMORY",
                  "-x", "c++", "-include", "Arduino.h", f"-I{STANDINS / 'arduino'}", f"-I{sketch}",
                  *tree_includes(tflm_headers("TFLM_DIR")), "-fsyntax-only", str(sketch / "ser_reparam.ino"),
                  str(sketch / "ser_stream_app.cpp")])


def test_default_microphone_pins_are_free_on_the_chip():
    boards = load_boards()
    for key, reserved in RESERVED.items():
        mic = boards[key].microphone
        assert mic["api"] == "i2s"
        pins = {mic["bclk"], mic["ws"], mic["din"]}
        assert len(pins) == 3 and not pins & reserved["any"], (key, pins)
        assert not {mic["bclk"], mic["ws"]} & reserved["outputs"], (key, mic)
    assert boards["nrf52840"].microphone == {"api": "pdm"}


def test_idf_component_pins_the_measured_kernel_versions(bundles):
    import json
    for board in ("esp32", "esp32s3"):
        manifest = json.loads((bundles[board] / "bundle.json").read_text())
        yml = (bundles[board] / "esp-idf" / "main" / "idf_component.yml").read_text()
        assert 'espressif/esp-tflite-micro: "==1.4.0"' in yml and 'espressif/esp-nn: "==1.2.3"' in yml
        assert manifest["arena"]["kernels"] == load_boards()[board].kernels
    need(bool(os.environ.get("ESP_TFLM_DIR")), "ESP_TFLM_DIR is not set: the versions come from its README")
    from firmware_export.kernels import tree_versions
    stated = tree_versions(Path(os.environ["ESP_TFLM_DIR"]))
    assert stated["esp-tflite-micro"].startswith("1.4.0 ") and stated["esp-nn"].startswith("1.2.3 ")
