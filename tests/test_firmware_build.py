"""Firmware built for real: the TFLM library cache, the mps2-an386 runtime and linker script, and
(slow, with TFLM_DIR) the bundle's program against TFLite Micro on the host and a Cortex-M4 under
QEMU, compared with the Python path (`ser-reparam verify-firmware`), and the CMake template as
exported."""
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from needs import need_dir, need_tool

from firmware_export import tflm_build
from firmware_export.boards import get_board
from firmware_export.export import board_linker_script
from ser_reparam.bundles import export_run
from ser_reparam.errors import BuildError
from ser_reparam.layout import RunLayout

QEMU_INSTALL = "apt-get install qemu-system-arm"
ARM_INSTALL = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib"


def fake_tree(root: Path, kind: str = "host") -> Path:
    """A two-file stand-in with a TFLM tree's layout (for the cache and runner, not for TFLM)."""
    tree = root / kind
    marker = tree / tflm_build.TARGETS["host" if kind == "host" else "cortex-m4"].marker
    if marker.suffix:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("")
    else:
        marker.mkdir(parents=True)
    (tree / "tensorflow/lite/micro").mkdir(parents=True, exist_ok=True)
    (tree / "tensorflow/lite/micro/answer.cc").write_text('extern "C" int answer() { return 42; }\n')
    (tree / "tensorflow/lite/micro/half.c").write_text("int half(int x) { return x / 2; }\n")
    return tree


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SER_REPARAM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_library_is_built_once_per_tree_content_and_flags(tmp_path, cache):
    tree = tflm_build.find_tree(tflm_build.TARGETS["host"], fake_tree(tmp_path))
    target = tflm_build.TARGETS["host"]
    builds = []
    with ThreadPoolExecutor(2) as pool:  # two builds at once: one compiles, the other waits for it
        libs = list(pool.map(lambda _: tflm_build.library(target, tree, nice=0, log=builds.append), range(2)))
    assert libs[0] == libs[1] and libs[0].is_file() and len(builds) == 1
    assert "3 of 3 files" in builds[0]  # with the marker file
    assert tflm_build.library(target, tree, log=builds.append) == libs[0] and len(builds) == 1
    (tree / "tensorflow/lite/micro/half.c").write_text("int half(int x) { return x >> 1; }\n")
    assert tflm_build.library(target, tree, nice=0, log=builds.append) != libs[0] and len(builds) == 2


def test_ctrl_c_during_the_library_build_stops_compiling(tmp_path, cache, monkeypatch):
    """One Ctrl-C drops the files still queued: the command stops without a second one."""
    tree = fake_tree(tmp_path)
    for k in range(20):
        (tree / f"tensorflow/lite/micro/extra{k}.c").write_text(f"int extra{k}(void) {{ return {k}; }}\n")
    compiled = []

    def compile_object(target, tree, source, obj, nice):
        compiled.append(source)
        if len(compiled) == 1:  # the terminal's SIGINT, once every file is queued
            time.sleep(0.2)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        time.sleep(0.05)

    monkeypatch.setattr(tflm_build, "_compile_object", compile_object)
    # Python's own Ctrl-C handler, as in a terminal: a process started in the background of a
    # non-interactive shell inherits SIGINT ignored (CI scripts run so)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            tflm_build.library(tflm_build.TARGETS["host"], tree, jobs=1, nice=0)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(compiled) <= 2  # of 23 sources


def test_verify_firmware_checks_every_tool_before_building(tmp_path, monkeypatch, capsys):
    """Without qemu-system-arm, --target cortex-m4 is refused at once (one line naming it and its
    package, exit 2), before anything compiles."""
    from conftest import write_tiny_config

    from ser_reparam.cli import main

    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-ar", "arm-none-eabi-size"):
        (stand_ins / tool).symlink_to("/bin/true")
    monkeypatch.setenv("PATH", str(stand_ins))
    monkeypatch.setattr(tflm_build, "library",
                        lambda *args, **kwargs: pytest.fail("compiled before the tool check"))
    config = write_tiny_config(tmp_path, "split", 2, 0.1)
    assert main(["verify-firmware", "--config", str(config), "--board", "stm32f4", "--target",
                 "cortex-m4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs qemu-system-arm, not found" in err
    assert "apt-get install qemu-system-arm" in err


def test_tree_is_found_or_named(tmp_path, monkeypatch):
    fake_tree(tmp_path)
    monkeypatch.setenv("TFLM_DIR", str(tmp_path))
    assert tflm_build.find_tree(tflm_build.TARGETS["host"]) == (tmp_path / "host").resolve()
    with pytest.raises(BuildError, match=r"no TFLM tree for target cortex-m4 .*create_tflm_tree.py"):
        tflm_build.find_tree(tflm_build.TARGETS["cortex-m4"])
    monkeypatch.delenv("TFLM_DIR")
    with pytest.raises(BuildError, match="pass --tflm-dir or set TFLM_DIR"):
        tflm_build.find_tree(tflm_build.TARGETS["host"])


def test_host_program_links_the_library_and_never_hangs(tmp_path, cache):
    target = tflm_build.TARGETS["host"]
    tree = fake_tree(tmp_path)
    (tmp_path / "main.cc").write_text('#include <cstdio>\nextern "C" int answer();\n'
                                      'extern "C" int half(int);\n'
                                      'int main() { printf("%d\\n", half(answer())); return 0; }\n')
    program = tflm_build.build_program(target, tree, [tmp_path / "main.cc"], tmp_path / "out" / "main")
    assert tflm_build.run_program(target, program).stdout == "21\n"
    (tmp_path / "hang.cc").write_text("int main() { for (;;) {} }\n")
    program = tflm_build.build_program(target, tree, [tmp_path / "hang.cc"], tmp_path / "out" / "hang")
    with pytest.raises(BuildError, match=r"hang on host did not finish within 1 s \(killed\)"):
        tflm_build.run_program(target, program, timeout=1)


COUNTER_PROGRAM = r"""
#include <stdint.h>
#include <stdio.h>
extern void mps2_counter_start(void);
extern uint64_t mps2_counter_ticks(void);
int main(int argc, char** argv) {
  char text[16] = {0};
  FILE* f = fopen("input.txt", "rb");
  if (f) { fread(text, 1, 15, f); fclose(f); }
  mps2_counter_start();
  uint64_t start = mps2_counter_ticks();
  register int n __asm__("r0") = 10000000;
  __asm__ volatile("1: subs r0, #1\n bne 1b" : "+r"(n));  /* 2 instructions per turn */
  printf("%s %s %lu\n", argc > 1 ? argv[1] : "-", text, (unsigned long)(mps2_counter_ticks() - start));
  return 3;
}
"""


def test_mps2_runtime_semihosting_exit_code_and_instruction_counter(tmp_path, cache):
    """argv, files and stdout through semihosting, exit codes, and SysTick under -icount shift=0:
    exactly 40 instructions per tick (20 M instructions → 500,000 ticks)."""
    need_tool("arm-none-eabi-gcc", ARM_INSTALL)
    need_tool("qemu-system-arm", QEMU_INSTALL)
    target = tflm_build.TARGETS["cortex-m4"]
    (tmp_path / "count.c").write_text(COUNTER_PROGRAM)
    (tmp_path / "input.txt").write_text("from-host")
    program = tflm_build.build_program(target, fake_tree(tmp_path, "cortex-m4"), [tmp_path / "count.c"],
                                       tmp_path / "out" / "count.elf")
    done = tflm_build.run_program(target, program, args=["hello"], cwd=tmp_path, timeout=60, icount=True)
    assert done.returncode == 3
    assert done.stdout.strip() == f"hello from-host {20_000_000 // 40}"


def test_board_linker_script_fails_naming_the_region(tmp_path, cache):
    """The STM32F407 layout: a 140 KB arena overflows SRAM (128 KB); a 60 KB front end leaves CCM
    less than the 24 KB reserve."""
    need_tool("arm-none-eabi-gcc", ARM_INSTALL)
    target = tflm_build.TARGETS["cortex-m4"]
    tree = fake_tree(tmp_path, "cortex-m4")
    script = tmp_path / "board.ld"
    script.write_text(board_linker_script(get_board("stm32f4"), qemu=True))

    def link(arena_kb: int, frontend_kb: int) -> Path:
        source = tmp_path / f"m{arena_kb}_{frontend_kb}.c"
        source.write_text(f'__attribute__((section(".bss.ser_arena"))) char arena[{arena_kb} * 1024];\n'
                          '__attribute__((section(".bss.ser_frontend"))) char '
                          f'frontend[{frontend_kb} * 1024];\n'
                          "int main(void) { return arena[5] + frontend[7]; }\n")
        return tflm_build.build_program(target, tree, [source], tmp_path / "out" / source.stem,
                                        linker_script=script)

    program = link(120, 36)
    sections = subprocess.run(["arm-none-eabi-size", "-A", str(program)], capture_output=True,
                              text=True).stdout
    assert ".ser_arena" in sections and ".ser_frontend" in sections
    with pytest.raises(BuildError, match=r"region `SRAM' overflowed"):
        link(140, 36)
    with pytest.raises(BuildError, match=r"region CCM overflowed: less than the reserve of 24576 bytes"):
        link(120, 60)


# --- the real TFLM library (slow: the first build of each tree takes minutes) ----------------------

@pytest.fixture(scope="module")
def stm32_bundle(deployed_run):
    export_run(deployed_run, "stm32f4", deployment="whole-window")
    return deployed_run


def tflm_dir() -> Path:
    return need_dir("TFLM_DIR", "TFLite Micro trees made by create_tflm_tree.py (../shared/third_party/tflm)")


def verified(run, target: str, work: Path) -> dict:
    """verify-firmware of the run's STM32F4 bundle on `target`, three test clips."""
    from firmware_export.verify import verify_firmware
    from ser_reparam.firmware_inputs import firmware_inputs

    bundle, inputs = firmware_inputs(run, "stm32f4", 3)
    return verify_firmware(bundle, "stm32f4", target, inputs, tflm_dir(), work=work)


@pytest.mark.slow
def test_verify_firmware_on_the_host(stm32_bundle, tmp_path):
    from firmware_export.verify import summary

    report = verified(stm32_bundle, "host", tmp_path)
    print(summary(report, "stm32f4"))
    assert len(report["clips"]) == 3
    for row in report["clips"]:
        assert row["device_logits"] == row["python_logits_same_input"]
        assert row["device_label"] == row["python_label"] and row["features_max_lsb"] <= 1
    # the bundle's arena is the 32-bit CMSIS-NN figure; the 64-bit reference-kernel build gets its own
    assert ("64-bit" in report["arena_built_with"]
            and report["arena_built_bytes"] != report["arena_exported_bytes"])
    assert 0 < report["arena_used_bytes"] <= report["arena_built_bytes"]


@pytest.mark.slow
def test_verify_firmware_on_cortex_m4_under_qemu(stm32_bundle, tmp_path):
    """CMSIS-NN kernels, CMSIS-DSP FFT, the STM32F407 memory map (arena in SRAM, front end in CCM)."""
    need_tool("qemu-system-arm", QEMU_INSTALL)
    need_tool("arm-none-eabi-g++", ARM_INSTALL)
    from firmware_export.verify import summary

    report = verified(stm32_bundle, "cortex-m4", tmp_path)
    print(summary(report, "stm32f4"))
    for row in report["clips"]:
        assert row["device_logits"] == row["python_logits_same_input"]
        assert row["device_label"] == row["python_label"] and row["features_max_lsb"] <= 1
        assert row["invoke_ticks"] > 0 and row["push_ticks"] > 0
    regions = report["memory"]["regions"]
    assert ".ser_arena" in regions["SRAM"]["sections"] and ".ser_frontend" in regions["CCM"]["sections"]
    assert regions["CCM"]["free_bytes"] >= 24 * 1024
    assert report["memory"]["flash_bytes"] < get_board("stm32f4").flash_kb * 1024
    # the board's own kernels and word size: the program is built with the bundle's exact figure
    assert report["arena_built_bytes"] == report["arena_exported_bytes"]
    assert 0 < report["arena_used_bytes"] <= report["arena_exported_bytes"]


def run_cmake_project(bundle: Path, tmp_path: Path, pcm, extra: tuple = ()) -> subprocess.CompletedProcess:
    """The bundle's exported CMake project, configured and built with cmake against the TFLM tree
    (its library from the cache, built with the same flags), CMSIS-DSP and a board made of the mps2
    startup + the verify board, run under QEMU on `pcm`."""
    need_tool("cmake", "apt-get install cmake")
    need_tool("qemu-system-arm", QEMU_INSTALL)
    from firmware_export.cmsis_dsp import cmsis_dsp_sources

    target = tflm_build.TARGETS["cortex-m4"]
    tree = tflm_build.find_tree(target, tflm_dir())
    project = tmp_path / "project"
    shutil.copytree(bundle / "cmake-cortex-m", project)
    (tmp_path / "board.ld").write_text(board_linker_script(get_board("stm32f4"), qemu=True))
    board_sources = (f"{tflm_build.RUNTIME_DIR / 'startup.c'};"
                     f"{Path(tflm_build.__file__).parent / 'verify_board.cc'}")
    configure = ["cmake", "-S", str(project), "-B", str(tmp_path / "build"), f"-DTFLM_DIR={tree}",
                 f"-DTFLM_LIBRARY={tflm_build.library(target, tree)}",
                 f"-DCMSIS_DSP_DIR={cmsis_dsp_sources()}",
                 f"-DBOARD_SOURCES={board_sources}", f"-DBOARD_LINKER_SCRIPT={tmp_path / 'board.ld'}",
                 "-DBOARD_LINK_OPTIONS=-nostartfiles;--specs=rdimon.specs", *extra]
    for command in (configure, ["cmake", "--build", str(tmp_path / "build")]):
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (tmp_path / "ser_clips.pcm").write_bytes(pcm.astype("<i2").tobytes())
    return tflm_build.run_program(target, tmp_path / "build" / "ser_reparam.elf", cwd=tmp_path, timeout=300)


@pytest.mark.slow
def test_cmake_template_builds_as_exported_and_runs_under_qemu(stm32_bundle, tmp_path):
    """Run under QEMU, the exported project prints the arena and a label per window."""
    import numpy as np

    from firmware_export.verify import parse_output
    from ser_reparam.firmware_inputs import split_clips

    clips = split_clips(stm32_bundle, 2)
    done = run_cmake_project(RunLayout(stm32_bundle).firmware_dir("stm32f4"), tmp_path,
                             np.concatenate([c["pcm"] for c in clips]))
    result = parse_output(done.stdout)
    assert done.returncode == 0 and result["ended"], done.stdout[-2000:]
    assert len(result["windows"]) == 2 and result["arena_used_bytes"] > 0
    labels = [line.split()[0] for line in done.stdout.splitlines() if "front end" in line and "model" in line]
    assert len(labels) == 2


# --- the streaming deployment (ser_stream_app: step per step, attend + classify per label hop) -------

def exported_streaming(run, folder):
    """`run` copied into `folder` (its whole-window bundle stays) and exported streaming for the
    STM32F4, the shared arena measured with CMSIS-NN under QEMU."""
    import dataclasses

    tflm_dir()
    shutil.copytree(run.run_dir, folder / "copy")
    run = dataclasses.replace(run, runs_dir=str(folder), name="copy")
    manifest = export_run(run, "stm32f4", deployment="streaming")
    assert manifest["arena"]["fidelity"] == "measured"
    return run, manifest


@pytest.fixture(scope="module")
def stm32_stream(deployed_run, tmp_path_factory):
    return exported_streaming(deployed_run, tmp_path_factory.mktemp("stream"))


def check_streamed(report: dict, manifest: dict) -> None:
    """Frames equal to the Python front end's, a label per label hop once a window has arrived,
    logits bit-identical to the Python TFLM pieces on the same frames, labels equal."""
    streamed = report["streaming"]
    assert streamed["frames"]["features_max_lsb"] <= 1 and streamed["frames"]["features_equal_share"] >= 0.999
    window, hop = manifest["window_frames"], manifest["streaming"]["label_hop_frames"]
    assert [row["end_frame"] for row in streamed["labels"]] == [window + i * hop
                                                                for i in range(len(streamed["labels"]))]
    assert len(streamed["labels"]) >= (streamed["frames"]["frames"] - window) // hop + 1 >= 2
    for row in streamed["labels"]:
        assert row["logits_equal_same_input"] and row["device_label"] == row["python_label"]
        assert row["steps"] in (manifest["streaming"]["steps"], hop // manifest["streaming"]["step_frames"])


@pytest.mark.slow
def test_streaming_firmware_on_the_host(stm32_stream, tmp_path):
    from firmware_export.verify import summary

    run, manifest = stm32_stream
    report = verified(run, "host", tmp_path)
    print(summary(report, "stm32f4"))
    check_streamed(report, manifest)
    # the 64-bit reference-kernel build gets the shared arena measured for it, the three pieces in it
    assert ("64-bit" in report["arena_built_with"]
            and 0 < report["arena_used_bytes"] <= report["arena_built_bytes"])


@pytest.mark.slow
def test_streaming_firmware_on_cortex_m4_under_qemu(stm32_stream, tmp_path):
    """CMSIS-NN kernels, CMSIS-DSP FFT, the STM32F407 memory map: the shared arena and the app's
    state in SRAM (.ser_arena = kTensorArenaSize + kSerStateBytes), the front end in CCM."""
    need_tool("qemu-system-arm", QEMU_INSTALL)
    need_tool("arm-none-eabi-g++", ARM_INSTALL)
    from firmware_export.verify import summary

    run, manifest = stm32_stream
    report = verified(run, "cortex-m4", tmp_path)
    print(summary(report, "stm32f4"))
    check_streamed(report, manifest)
    assert (report["arena_built_bytes"] == report["arena_exported_bytes"]
            == manifest["arena"]["kTensorArenaSize"])
    assert 0 < report["arena_used_bytes"] <= report["arena_exported_bytes"]
    ram = manifest["budget"]["ram"]
    regions = report["memory"]["regions"]
    assert regions["SRAM"]["sections"][".ser_arena"] == ram["arena_bytes"] + ram["state_bytes"]
    assert regions["CCM"]["sections"][".ser_frontend"] == ram["frontend_bytes"]
    # the pieces in one arena need less than each in its own
    assert manifest["arena"]["measured_bytes"] < sum(manifest["arena"]["pieces_bytes"].values())


@pytest.mark.slow
def test_stats_pooling_streams_on_cortex_m4_under_qemu(stats_pool_run, tmp_path_factory, tmp_path):
    """The recipe's head (mean and mean-square pooling: MUL, MEAN, CONCATENATION in piece classify) on the
    device: every label's logits bit-identical to the Python TFLM pieces."""
    need_tool("qemu-system-arm", QEMU_INSTALL)
    need_tool("arm-none-eabi-g++", ARM_INSTALL)
    run, manifest = exported_streaming(stats_pool_run, tmp_path_factory.mktemp("stream_stats"))
    assert {"MUL", "MEAN", "CONCATENATION"} <= set(manifest["streaming"]["pieces"]["classify"]["ops"])
    check_streamed(verified(run, "cortex-m4", tmp_path), manifest)


@pytest.mark.slow
def test_streaming_cmake_template_builds_as_exported_and_runs_under_qemu(stm32_stream, tmp_path):
    """The streaming bundle's CMake project as exported (ser_stream_app, the streaming front end,
    the three pieces) under QEMU: a label per label hop with its latency line (front end, step per
    step, attend + classify)."""
    from firmware_export.verify import parse_stream_output
    from ser_reparam.firmware_inputs import stream_audio

    run, manifest = stm32_stream
    audio = stream_audio(run, 3)
    done = run_cmake_project(RunLayout(run).firmware_dir("stm32f4"), tmp_path, audio["pcm"],
                             ("-DCMAKE_CXX_FLAGS=-DSER_VERIFY_STREAMING",))
    result = parse_stream_output(done.stdout)
    assert done.returncode == 0 and result["ended"], done.stdout[-2000:]
    window, hop = manifest["window_frames"], manifest["streaming"]["label_hop_frames"]
    assert [label["frames"] for label in result["labels"]] == [window + i * hop
                                                               for i in range(len(result["labels"]))]
    assert len(result["labels"]) >= 2 and all(label["steps"] > 0 and label["model_us"] >= 0
                                              for label in result["labels"])
    assert result["arena_used_bytes"] <= manifest["arena"]["kTensorArenaSize"]


def test_cmake_template_sets_flags_for_compile_and_link(deployed_run, monkeypatch):
    monkeypatch.delenv("TFLM_DIR", raising=False)  # quick: the files only, not the CMSIS-NN arena measurement
    export_run(deployed_run, "stm32f4", deployment="whole-window")
    stm32_bundle = deployed_run
    text = (RunLayout(stm32_bundle).firmware_dir("stm32f4") / "cmake-cortex-m" / "CMakeLists.txt").read_text()
    assert "add_compile_definitions(TF_LITE_STATIC_MEMORY" in text and "-fno-rtti" in text
    assert "-fno-exceptions" in text and "add_link_options(${CPU_FLAGS})" in text
    assert ('separate_arguments(CPU_FLAGS UNIX_COMMAND "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 '
            '-mfloat-abi=hard")') \
        in text
    script = (RunLayout(stm32_bundle).firmware_dir("stm32f4") / "cmake-cortex-m"
              / "ser_memory.ld").read_text()
    assert "SRAM (rwx) : ORIGIN = 0x20000000, LENGTH = 131072" in script
    assert "CCM (rwx) : ORIGIN = 0x10000000, LENGTH = 65536" in script
    assert ".ser_arena (NOLOAD) : ALIGN(16) { __ser_arena_start__ = .; *(.bss.ser_arena)" in script
    assert "} > SRAM" in script and "FLASH (rx) : ORIGIN = 0x08000000" in script
