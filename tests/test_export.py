"""Stage 06: firmware bundles — files, reproducibility, budgets, and the generated C/C++ compiled."""
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from string import Template

import pytest
from needs import ARM_GCC, need_tool

from firmware_export.boards import Board, budget, get_board, load_boards, require_fit
from firmware_export.export import SOURCE_DIRS, SOURCE_SUFFIXES, TEMPLATE_DIR, app_values, export_model
from firmware_export.frontend_tables import C_SOURCES, frontend_state_bytes, stream_state_bytes
from firmware_export.op_resolver import resolver_method
from ser_reparam.bundles import export_run
from ser_reparam.errors import BudgetError, InputError, StageError
from ser_reparam.features import FrontendConfig
from ser_reparam.layout import RunLayout
from ser_reparam.tflite.ops import op_set, tflm_builtin_ops


def digest(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def compile_and_run(tmp_path: Path, sources: list[Path], includes: list[Path], name: str) -> str:
    """Build a host program with the real g++ and return what it prints."""
    exe = tmp_path / name
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", "-O1", *[f"-I{i}" for i in includes],
                    *map(str, sources), "-o", str(exe)], check=True, capture_output=True, text=True)
    return subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module", autouse=True)
def without_kernel_trees():
    """These tests are about the bundle's files and budgets: the arena is the labelled estimate
    here (quick); measuring with each board's kernels is tests/test_board_kernels.py (slow)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TFLM_DIR", raising=False)
        patch.delenv("ESP_TFLM_DIR", raising=False)
        yield


@pytest.fixture(scope="module")
def bundle(deployed_run):
    manifest = export_run(deployed_run, "stm32f4", deployment="whole-window")
    return deployed_run, RunLayout(deployed_run).firmware_dir("stm32f4"), manifest


def test_bundle_files_and_manifest(bundle):
    config, folder, manifest = bundle
    blob = (RunLayout(config).quantized_dir / "int8.tflite").read_bytes()
    for name in ("model_data.h", "model_data.cc", "model_settings.h", "op_resolver.h", *C_SOURCES,
                 "ser_frontend_config.h", "ser_frontend_tables.c", "bundle.json",
                 "cmake-cortex-m/CMakeLists.txt",
                 "cmake-cortex-m/main.cc", "cmake-cortex-m/model_data.cc",
                 "cmake-cortex-m/ser_frontend_stream.c"):
        assert (folder / name).is_file(), name
    assert manifest == json.loads((folder / "bundle.json").read_text())
    assert (manifest["model"]["bytes"] == len(blob)
            and manifest["model"]["sha256"] == hashlib.sha256(blob).hexdigest())
    assert manifest["ops"] == op_set(blob)
    arena = manifest["arena"]
    assert arena["kTensorArenaSize"] >= arena["measured_bytes"] > 0
    assert (manifest["budget"]["ram"]["used_bytes"]
            == arena["kTensorArenaSize"] + manifest["frontend"]["state_bytes"])
    assert manifest["fits"] and manifest["verdict"].startswith("fits (arena estimated, not measured "
                                                               "with TFLM + CMSIS-NN (Cortex-M4F build): "
                                                               "no TFLM tree")
    assert (arena["fidelity"] == "estimate" and arena["kernels"] == "cmsis-nn"
            and "TFLM_DIR" in arena["missing"])
    assert arena["measured_bytes"] == arena["reference_bytes"] and arena["known_scratch_bytes"] == 0
    assert "${" not in (folder / "cmake-cortex-m" / "main.cc").read_text()
    # modes follow the umask like ordinary files (mkdtemp alone would leave the bundle 0700)
    from ser_reparam.files import umask
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask()
    assert (folder / "bundle.json").stat().st_mode & 0o777 == 0o666 & ~umask()


@pytest.mark.parametrize("template", sorted(SOURCE_DIRS))
def test_every_template_compiles_the_front_ends_sources(template):
    """Whole-window and streaming front end alike: the CMake lists name each C file (the
    deployment's list, export.app_values); Arduino compiles every .c of the sketch folder."""
    sources = [name for name in (*C_SOURCES, "ser_frontend_tables.c") if name.endswith(".c")]
    lists = list((TEMPLATE_DIR / template).rglob("CMakeLists.txt"))
    if template == "arduino":
        assert not lists and SOURCE_SUFFIXES[template].get(".c", ".c") == ".c"
        return
    for streaming in (False, True):
        values = app_values(streaming)
        text = " ".join(Template(path.read_text()).safe_substitute(values) for path in lists)
        words = {word.strip('"()') for word in text.split()}
        assert set(sources) <= words, (template, streaming, set(sources) - words)


def test_the_measured_arena_is_minimal(bundle):
    """kTensorArenaSize rests on the measurement: the model runs in it and not in 16 B less."""
    from ser_reparam.tflite.interpreters import tflm_runs

    config, _, manifest = bundle
    blob = (RunLayout(config).quantized_dir / "int8.tflite").read_bytes()
    measured = manifest["arena"]["measured_bytes"]
    assert measured % 16 == 0 and tflm_runs(blob, measured) and not tflm_runs(blob, measured - 16)


def test_export_is_byte_identical_when_repeated(bundle):
    config, folder, _ = bundle
    before = digest(folder)
    export_run(config, "stm32f4", deployment="whole-window")
    assert digest(folder) == before


def test_every_board_gets_a_verdict(deployed_run):
    boards = load_boards()
    assert {"esp32", "esp32s3", "stm32f4", "stm32h7", "nrf52840", "rp2040"} <= set(boards)
    for key in boards:
        manifest = export_run(deployed_run, key, deployment="whole-window")
        assert manifest["fits"], manifest["verdict"]
        assert set(manifest["projects"]) == set(boards[key].templates)
    assert "No FPU" in json.loads(
        (RunLayout(deployed_run).firmware_dir("rp2040") / "bundle.json").read_text())["verdict"]


def test_a_missing_kernel_tree_is_named_once_with_its_variable(deployed_run):
    from firmware_export.arena import measure_arena
    from firmware_export.export import verdict

    blob = (RunLayout(deployed_run).quantized_dir / "int8.tflite").read_bytes()
    for key, variable, tree in (("esp32s3", "ESP_TFLM_DIR", "esp-tflite-micro-host"),
                                ("stm32f4", "TFLM_DIR", "TFLM")):
        board = get_board(key)
        arena = measure_arena(blob, board)
        assert arena["missing"] in (f"no {tree} tree for target {board.kernels}: set {variable} to that tree",
                                    f"no {tree} tree: set {variable} to that tree")
        text = verdict(board, budget(board, len(blob), arena["kTensorArenaSize"], 0), arena)
        assert text.count(variable) == 1 and text.count(arena["kernels_label"]) == 1, text


def test_model_array_is_byte_identical_to_the_tflite(bundle, tmp_path):
    config, folder, manifest = bundle
    program = tmp_path / "dump.cc"
    program.write_text('#include <cstdio>\n#include "model_data.h"\n#include "model_settings.h"\n'
                       "int main() {\n  fwrite(g_ser_model_data, 1, g_ser_model_data_len, stdout);\n"
                       "  return reinterpret_cast<unsigned long>(g_ser_model_data) % 16 != 0;\n}\n")
    exe = tmp_path / "dump"
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", f"-I{folder}", str(program),
                    str(folder / "model_data.cc"),
                    "-o", str(exe)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True).stdout
    assert out == (RunLayout(config).quantized_dir / "int8.tflite").read_bytes()


def test_settings_header_carries_the_models_numbers(bundle, tmp_path):
    _, folder, manifest = bundle
    program = tmp_path / "settings.cc"
    program.write_text('#include <cstdio>\n#include "model_settings.h"\n'
                       'int main() { printf("%d %d %.9g %d %.9g %d %d %d %s\\n", kSerNumFrames, '
                       "kSerNumFeatures, kSerInputScale, kSerInputZeroPoint, kSerOutputScale, "
                       "kSerOutputZeroPoint, kSerNumClasses, kTensorArenaSize, "
                       "kSerLabels[kSerNumClasses - 1]); }\n")
    values = compile_and_run(tmp_path, [program], [folder], "settings").split()
    assert [int(values[0]), int(values[1])] == manifest["input"]["shape"][1:]
    assert float(values[2]) == pytest.approx(manifest["input"]["scale"], rel=1e-6)
    assert int(values[3]) == manifest["input"]["zero_point"]
    assert float(values[4]) == pytest.approx(manifest["output"]["scale"], rel=1e-6)
    assert int(values[5]) == manifest["output"]["zero_point"]
    assert [int(values[6]), int(values[7]), values[8]] == [len(manifest["labels"]),
                                                           manifest["arena"]["kTensorArenaSize"],
                                                           manifest["labels"][-1]]


HOSTILE_LABELS = ['a"}; int pwned = 1; //', "b\\", "c??/", "ärger"]


def test_strings_from_the_metadata_cannot_inject_c(deployed_run, tmp_path):
    """Labels, experiment and variant of a forged .tflite reach the C files as data: the bundle
    compiles with -Werror and prints back exactly the labels it was given."""
    from firmware_export.export import export_model
    from ser_reparam.tflite.metadata import embed_metadata, read_metadata

    blob = (RunLayout(deployed_run).quantized_dir / "int8.tflite").read_bytes()
    forged = {**read_metadata(blob), "labels": HOSTILE_LABELS, "experiment": "x\n#error INJECTED\n",
              "variant": "v\\\nint pwned2 = 1; /* \u202e */"}
    model = tmp_path / "forged.tflite"
    model.write_bytes(embed_metadata(blob, {key: value for key, value in forged.items() if key != "format"}))
    folder = tmp_path / "bundle"
    export_model(model, folder, "stm32f4")
    program = tmp_path / "labels.cc"
    program.write_text('#include <cstdio>\n#include "model_data.h"\n#include "model_settings.h"\n'
                       '#include "op_resolver.h"\n'
                       'int main() { for (int i = 0; i < kSerNumClasses; ++i) printf("%s\\n", '
                       'kSerLabels[i]); }\n')
    assert compile_and_run(tmp_path, [program], [folder], "labels").splitlines() == HOSTILE_LABELS
    for name in ("model_data.h", "model_settings.h", "op_resolver.h"):  # the files the strings enter
        lines = (folder / name).read_text().splitlines()
        assert not any(line.startswith(("#error", "int pwned")) or "\u202e" in line for line in lines), name


def test_op_resolver_registers_exactly_the_models_ops(bundle, tmp_path):
    _, folder, manifest = bundle
    methods = "\n".join(f'  int {resolver_method(op)}() {{ ops.push_back("{op}"); return 0; }}'
                        for op in sorted(tflm_builtin_ops()))
    program = tmp_path / "resolver.cc"
    program.write_text('#include <cstdio>\n#include <string>\n#include <vector>\n#include "op_resolver.h"\n'
                       "// records what RegisterSerOps asks for; one method per operator TFLM registers\n"
                       f"struct Recorder {{\n  std::vector<std::string> ops;\n{methods}\n}};\n"
                       "int main() { Recorder r; bool ok = RegisterSerOps(r);\n"
                       '  printf("%d %u", ok, kSerOpCount); for (auto& op : r.ops) printf(" %s", '
                       'op.c_str()); }\n')
    printed = compile_and_run(tmp_path, [program], [folder], "resolver").split()
    assert printed[0] == "1" and int(printed[1]) == len(manifest["ops"])
    assert sorted(printed[2:]) == manifest["ops"]


@pytest.mark.parametrize("op,method", [
    ("FULLY_CONNECTED", "AddFullyConnected"), ("CONV_2D", "AddConv2D"),
    ("DEPTHWISE_CONV_2D", "AddDepthwiseConv2D"),
    ("BATCH_MATMUL", "AddBatchMatMul"), ("BATCH_TO_SPACE_ND", "AddBatchToSpaceNd"),
    ("SQUARED_DIFFERENCE", "AddSquaredDifference"), ("STRIDED_SLICE", "AddStridedSlice"),
    ("L2_NORMALIZATION", "AddL2Normalization"), ("MAX_POOL_2D", "AddMaxPool2D"), ("CUMSUM", "AddCumSum"),
    ("PADV2", "AddPadV2"), ("SELECT_V2", "AddSelectV2"), ("RELU6", "AddRelu6"), ("ADD_N", "AddAddN"),
    ("LOG_SOFTMAX", "AddLogSoftmax"), ("UNPACK", "AddUnpack"), ("RSQRT", "AddRsqrt"),
])
def test_resolver_method_names_follow_tflm(op, method):
    # the names of tflite-micro's micro_mutable_op_resolver.h
    assert resolver_method(op) == method


def test_budget_failure_names_both_numbers():
    tiny = Board(key="tiny", name="Tiny M0", core="cortex-m0plus", fpu="none", clock_mhz=48, flash_kb=64,
                 ram_regions={"RAM": (None, 32)},
                 placement={"arena": "RAM", "frontend": "RAM", "reserve": "RAM"},
                 reserve_ram_kb=8, reserve_flash_kb=16, dsp="-", nn="-", templates=())
    check = budget(tiny, model_bytes=19_520, arena_bytes=130_224, frontend_ram_bytes=36_164)
    with pytest.raises(BudgetError, match=r"tensor arena 130,224 B \+ front end 36,164 B = 166,388 B > "
                                          r"RAM budget 24,576 B \(32 KB − 8 KB reserved\).*RAM region "
                                          r"RAM overflows"):
        require_fit(tiny, check)


def test_each_buffer_is_placed_in_a_named_region():
    """STM32F407: 128 KB SRAM + 64 KB CCM. The arena goes to SRAM, the front end and the reserve to
    CCM; what overflows is named by region, even when the total would fit."""
    board = get_board("stm32f4")
    check = budget(board, model_bytes=19_520, arena_bytes=120_608, frontend_ram_bytes=36_164)
    regions = check["ram"]["regions"]
    assert regions["SRAM"]["buffers"] == {"arena": 120_608} and regions["SRAM"]["fits"]
    assert regions["CCM"]["buffers"] == {"frontend": 36_164, "reserve": 24 * 1024} and regions["CCM"]["fits"]
    require_fit(board, check)
    too_big = budget(board, model_bytes=19_520, arena_bytes=132_000, frontend_ram_bytes=20_000)
    assert too_big["ram"]["used_bytes"] <= too_big["ram"]["budget_bytes"]
    with pytest.raises(BudgetError, match=r"RAM region SRAM overflows: tensor arena 132,000 B = 132,000 "
                                          r"B > 131,072 B"):
        require_fit(board, too_big)
    with pytest.raises(BudgetError, match=r"RAM region CCM overflows: front end 45,000 B \+ "
                                          r"stack/heap/firmware reserve 24,576 B = 69,576 B > 65,536 B"):
        require_fit(board, budget(board, 19_520, 100_000, 45_000))


def test_stage_and_board_errors(deployed_run, tmp_path):
    with pytest.raises(ValueError, match="unknown board 'uno'"):
        get_board("uno")
    shutil.copytree(deployed_run.run_dir, tmp_path / "copy")
    moved = deployed_run.__class__(**{**deployed_run.__dict__, "runs_dir": str(tmp_path)})
    moved = moved.__class__(**{**moved.__dict__, "name": "copy"})
    shutil.rmtree(RunLayout(moved).quantized_dir)
    with pytest.raises(StageError, match=r"stage 06 \(export\): no int8.tflite .* run stage 05"):
        export_run(moved, "esp32")


def without_ram(board: Board) -> Board:
    """The board with 20 bytes in each RAM region: no model fits."""
    import dataclasses

    regions = {name: (origin, 20) for name, (origin, _) in board.ram_regions.items()}
    return dataclasses.replace(board, ram_regions=regions)


def test_a_failed_export_takes_the_previous_bundle_away(deployed_run, tmp_path, monkeypatch):
    import dataclasses

    from firmware_export import export

    shutil.copytree(deployed_run.run_dir, tmp_path / "copy")
    moved = dataclasses.replace(deployed_run, runs_dir=str(tmp_path), name="copy")
    export_run(moved, "stm32f4", deployment="whole-window")
    folder = RunLayout(moved).firmware_dir("stm32f4")
    assert json.loads((folder / "bundle.json").read_text())["fits"]
    monkeypatch.setattr(export, "get_board", lambda key: without_ram(get_board(key)))
    with pytest.raises(BudgetError, match="does not fit"):
        export_run(moved, "stm32f4", deployment="whole-window")
    assert not folder.exists()  # no stale "fits" beside the new model, and no debris of the removal
    assert not [p.name for p in folder.parent.iterdir() if p.name.startswith(".stm32f4")]


@pytest.mark.slow
def test_cross_compiles_for_cortex_m4_and_the_state_size_matches(bundle, tmp_path):
    _, folder, manifest = bundle
    gcc = need_tool("arm-none-eabi-gcc", ARM_GCC)
    flags = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-O2", f"-I{folder}"]
    obj = tmp_path / "model_data.o"
    subprocess.run(["arm-none-eabi-g++", "-std=c++17", *flags, "-c", str(folder / "model_data.cc"), "-o",
                    str(obj)],
                   check=True, capture_output=True, text=True)
    size = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], check=True, capture_output=True,
                          text=True).stdout
    rodata = sum(int(line.split()[1]) for line in size.splitlines() if line.startswith(".rodata"))
    print(size)
    assert rodata >= manifest["model"]["bytes"]
    # sizeof(ser_frontend_t) on the MCU is what the budget counted, for both FFT backends, and
    # sizeof(ser_stream_t) what stream_state_bytes says
    probe = tmp_path / "probe.c"
    for define, cmsis in (("", False), ("-DSER_FFT_CMSIS", True)):
        expected = frontend_state_bytes(FrontendConfig(), manifest["input"]["shape"][1], cmsis)
        probe.write_text('#include "ser_frontend_stream.h"\n'
                         f"_Static_assert(sizeof(ser_frontend_t) == {expected}, \"state size\");\n"
                         "_Static_assert(sizeof(ser_stream_t) == "
                         f"{stream_state_bytes(FrontendConfig(), cmsis)}, "
                         '"stream state size");\n')
        subprocess.run([gcc, "-std=c99", *flags, *([define] if define else []), "-c", str(probe),
                        "-o", str(tmp_path / "probe.o")], check=True, capture_output=True, text=True)


def test_export_refuses_a_folder_holding_files_it_did_not_write(deployed_run, tmp_path, monkeypatch, capsys):
    """`export MODEL.tflite --out DIR` never removes a user's DIR/<board>/…, on success or over budget."""
    from firmware_export import export
    from ser_reparam.cli import main

    model = str(RunLayout(deployed_run).quantized_dir / "int8.tflite")
    users = tmp_path / "out" / "stm32f4" / "src" / "main.c"
    users.parent.mkdir(parents=True)
    users.write_text("int main(void) { return 0; }\n")
    assert main(["export", model, "--board", "stm32f4", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "src/main.c" in err and "stm32f4" in err
    monkeypatch.setattr(export, "get_board", lambda key: without_ram(get_board(key)))
    assert main(["export", model, "--board", "stm32f4", "--out", str(tmp_path / "out")]) == 2
    assert users.read_text() == "int main(void) { return 0; }\n"


def test_export_replaces_its_own_bundle_but_keeps_a_file_added_to_it(deployed_run, tmp_path):
    model = RunLayout(deployed_run).quantized_dir / "int8.tflite"
    target = tmp_path / "out" / "stm32f4"
    export_model(model, target, "stm32f4")
    before = digest(target)
    export_model(model, target, "stm32f4")  # its own bundle: replaced
    assert digest(target) == before
    (target / "cmake-cortex-m" / "my_driver.c").write_text("/* mine */\n")
    with pytest.raises(InputError, match=r"stm32f4 holds files the export did not write "
                                         r"\(e.g. cmake-cortex-m/my_driver.c\)"):
        export_model(model, target, "stm32f4")
    assert (target / "cmake-cortex-m" / "my_driver.c").read_text() == "/* mine */\n"


def test_a_forged_bundle_listing_removes_nothing_outside(deployed_run, tmp_path):
    model = RunLayout(deployed_run).quantized_dir / "int8.tflite"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "out" / "stm32f4"
    target.mkdir(parents=True)
    (target / "bundle.json").write_text(json.dumps({"files": ["../../victim.txt", str(victim)]}))
    export_model(model, target, "stm32f4")
    assert victim.read_text() == "keep me" and json.loads((target / "bundle.json").read_text())["fits"]


def test_export_out_on_a_full_disk_is_one_line_and_leaves_nothing(deployed_run, tmp_path, capsys,
                                                                  monkeypatch):
    import errno
    import os

    from ser_reparam.cli import main

    def full(*args, **kwargs):  # a write on a full disk: the system's ENOSPC, no file named
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(shutil, "copyfile", full)
    model = RunLayout(deployed_run).quantized_dir / "int8.tflite"
    assert main(["export", str(model), "--board", "stm32f4", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert (err.count("\n") == 1
            and f"error: {tmp_path / 'out' / 'stm32f4'}: No space left on device; free" in err)
    assert list((tmp_path / "out").iterdir()) == []
