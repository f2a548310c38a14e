"""`ser-reparam profile-firmware` (firmware_export/profile.py): the per-operator profile of a bundle's
firmware. Quick: reading the profiler's lines and callgrind's dumps, the tables. Slow (TFLM_DIR, QEMU):
the tiny test run's whole-window and streaming bundles profiled on the Cortex-M4 under QEMU."""
import dataclasses
import json
import shutil

import numpy as np
import pytest
from needs import need_dir, need_tool

from firmware_export.profile import (
    Node,
    PieceProfile,
    node_macs,
    parse_callgrind,
    parse_profile,
    piece_table,
    profile_firmware,
)
from ser_reparam.bundles import export_run
from ser_reparam.errors import ProfileError, ProjectError
from ser_reparam.firmware_inputs import firmware_inputs, layer_names
from ser_reparam.layout import RunLayout
from ser_reparam.tflite.ops import model_ops


def test_profile_lines_give_each_piece_its_invokes_and_node_counts():
    text = ("tensor arena: 10 of 20 bytes used\nVERIFY-PROFILE 0 3 0 120 FULLY_CONNECTED\n"
            "VERIFY-PROFILE 0 3 1 30 MEAN\nVERIFY-PROFILE 2 1 0 7 SOFTMAX\nVERIFY-END\n")
    assert parse_profile(text) == {0: {"invokes": 3, "ticks": [120, 30], "tags": ["FULLY_CONNECTED", "MEAN"]},
                                   2: {"invokes": 1, "ticks": [7], "tags": ["SOFTMAX"]}}


def test_callgrind_dumps_are_summed_per_piece_and_node(tmp_path):
    dumps = tmp_path / "callgrind.out"
    dumps.write_text("version: 1\ncmd: firmware\n"
                     "desc: Trigger: Client Request: SERPROF 0 1\nfn=x\n0 5\ntotals: 100\n"
                     "desc: Trigger: Client Request: SERPROF 0 1\nfn=x\n0 5\ntotals: 50\n"
                     "desc: Trigger: Client Request: SERPROF 1 0\nsummary: 7\n"
                     "desc: Trigger: Program termination\ntotals: 999\n")
    assert parse_callgrind(dumps) == {(0, 1): 150, (1, 0): 7}


def test_tables_rank_groups_and_divide_by_macs():
    piece = PieceProfile("model", 2, [Node(0, "FULLY_CONNECTED", "enc/ffn", "CMSIS-NN", "", 1000, 3000.0),
                                      Node(1, "MEAN", "enc/norm", "reference", "", 0, 6000.0),
                                      Node(2, "FULLY_CONNECTED", "enc/out", "CMSIS-NN", "", 1000, 1000.0)])
    by_op = piece_table(piece, "op").splitlines()
    assert by_op[2].startswith("| MEAN | 1 | reference | 6,000 | 60.0% | 0 | — |")
    assert by_op[3].startswith("| FULLY_CONNECTED | 2 | CMSIS-NN | 4,000 | 40.0% | 2,000 | 2.0 |")
    assert by_op[-1].endswith("| **10,000** | 100% | 2,000 | **5.0** |")
    assert len(piece_table(piece, "layer").splitlines()) == 2 + 3 + 1
    assert len(piece_table(piece, "node").splitlines()) == 2 + 3


def test_profile_error_is_a_project_error():
    assert issubclass(ProfileError, ProjectError)


# --- the real firmware (slow) ------------------------------------------------------------------------

def tflm_dir():
    return need_dir("TFLM_DIR", "TFLite Micro trees made by create_tflm_tree.py (../shared/third_party/tflm)")


def profiled(run, clips: int, work) -> dict:
    """profile-firmware of the run's STM32F4 bundle on the Cortex-M4 under QEMU."""
    bundle, inputs = firmware_inputs(run, "stm32f4", clips)
    return profile_firmware(bundle, "stm32f4", "cortex-m4", inputs, layer_names(run, inputs.blobs),
                            tflm_dir(), work=work)


def qemu_tools():
    need_tool("qemu-system-arm", "apt-get install qemu-system-arm")
    need_tool("arm-none-eabi-g++", "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")


@pytest.fixture(scope="module")
def profiled_runs(deployed_run, tmp_path_factory):
    """The tiny run in a copy of its own, with a whole-window and a streaming STM32F4 bundle (two
    copies: one bundle folder per board)."""
    tflm_dir()
    runs = {}
    for deployment in ("whole-window", "streaming"):
        folder = tmp_path_factory.mktemp(deployment)
        shutil.copytree(deployed_run.run_dir, folder / "copy")
        run = dataclasses.replace(deployed_run, runs_dir=str(folder), name="copy")
        export_run(run, "stm32f4", deployment=deployment)
        runs[deployment] = run
    return runs


@pytest.mark.slow
def test_whole_window_profile_on_cortex_m4(profiled_runs, tmp_path):
    """Every node counted, the operators' sum nearly the whole Invoke, CMSIS-NN where TFLM has it,
    MACs those of the deployed model."""
    qemu_tools()
    run = profiled_runs["whole-window"]
    report = profiled(run, 2, tmp_path)
    (piece,) = report["pieces"]
    blob = (RunLayout(run).quantized_dir / report["manifest"]["model"]["file"]).read_bytes()
    assert piece.invokes == 2 and [n.op for n in piece.nodes] == [u.op for u in model_ops(blob)]
    assert all(n.instructions > 0 for n in piece.nodes)
    # the interpreter's own work between operators (and the profiler's readings) is a few percent
    assert 0.9 * piece.invoke_instructions < piece.op_instructions < piece.invoke_instructions
    kernels = {n.op: n.kernel for n in piece.nodes}
    assert kernels["FULLY_CONNECTED"] == kernels["CONV_2D"] == "CMSIS-NN"  # the last CONV_2D: 16 channels in
    # the first: one channel in
    assert [n.kernel for n in piece.nodes if n.op == "CONV_2D"][0] == "ser-reparam"
    assert kernels["MEAN"] == kernels["SOFTMAX"] == "ser-reparam" and kernels["RSQRT"] == "reference"
    from firmware_export.op_resolver import ser_kernel_runs
    matmuls = [u for u in model_ops(blob) if u.op == "BATCH_MATMUL"]  # QK (ser-reparam), AV (by its depth)
    expected = ["ser-reparam" if ser_kernel_runs(u) else "CMSIS-NN" for u in matmuls]
    assert [n.kernel for n in piece.nodes if n.op == "BATCH_MATMUL"] == expected
    assert expected[0] == "ser-reparam"
    folded = json.loads(RunLayout(run).fold_record.read_text())
    macs = folded["seeds"][str(folded["deployed_seed"])]["macs_after"]
    # the int8 graph subsamples in chunks whose inputs overlap (STRIDED_SLICE per chunk): a few
    # percent more MACs than the folded model's count (2.3 % measured on the tiny run)
    assert piece.macs == sum(node_macs(blob)) and macs <= piece.macs <= 1.04 * macs


@pytest.mark.slow
def test_streaming_profile_on_cortex_m4_per_piece(profiled_runs, tmp_path):
    """step per step, attend per chunk, classify per label, each piece's invokes as the stream made them."""
    qemu_tools()
    run = profiled_runs["streaming"]
    report = profiled(run, 3, tmp_path)
    stream = report["manifest"]["streaming"]
    pieces = {p.name: p for p in report["pieces"]}
    labels = len(report["checked"]["labels"])
    assert [p.name for p in report["pieces"]] == ["step", "attend", "classify"]
    assert pieces["classify"].invokes == labels >= 2
    assert pieces["attend"].invokes == labels * stream["steps"] // stream["chunk"]
    assert pieces["step"].invokes >= stream["steps"]
    for piece in report["pieces"]:
        assert all(n.instructions > 0 for n in piece.nodes)
    # attend over the chunks + classify: the operators' sum is nearly what the app timed per label
    chunks = stream["steps"] // stream["chunk"]
    label = chunks * pieces["attend"].op_instructions + pieces["classify"].op_instructions
    assert 0.8 * report["totals"]["label"] < label < report["totals"]["label"]


# --- ser_kernels.cc: which operators the bundle routes to it ----------------------------------------

def use(op, output_type="INT8", input_shapes=()):
    from ser_reparam.tflite.ops import OpUse
    return OpUse(op, "", output_type, input_shapes)


def test_ser_kernels_take_an_op_only_when_every_node_qualifies():
    from firmware_export.op_resolver import ser_kernel_ops

    assert ser_kernel_ops([use("SOFTMAX"), use("MEAN"), use("FULLY_CONNECTED")]) == ["MEAN", "SOFTMAX"]
    assert ser_kernel_ops([use("SOFTMAX"), use("SOFTMAX", "INT16")]) == []  # int8 -> int16 stays TFLM's
    from ser_reparam.tflite.ops import OpUse
    # over the kernel's 256-value row
    long_rows = OpUse("SOFTMAX", "", "INT8", ((1, 4, 300),), ((1, 4, 300),))
    assert ser_kernel_ops([use("SOFTMAX"), long_rows]) == []
    assert ser_kernel_ops([use("ADD")]) == []


def test_conv_2d_goes_to_ser_kernels_when_one_node_is_a_3x3_filter_on_one_channel():
    """EvalConv runs those nodes and hands every other CONV_2D to the tree's kernel (CMSIS-NN)."""
    from firmware_export.op_resolver import ser_kernel_ops, ser_kernel_runs

    first = use("CONV_2D", input_shapes=((1, 82, 78, 1), (16, 3, 3, 1), (16,)))
    second = use("CONV_2D", input_shapes=((1, 40, 38, 16), (16, 3, 3, 16), (16,)))
    assert (ser_kernel_ops([first, second]) == ["CONV_2D"] and ser_kernel_runs(first)
            and not ser_kernel_runs(second))
    assert ser_kernel_ops([second]) == []
    for other in (((1, 82, 78, 1), (16, 5, 5, 1), (16,)), ((1, 82, 78, 1), (64, 3, 3, 1), (64,))):
        # 5 x 5; more channels than EvalConv holds
        assert not ser_kernel_runs(use("CONV_2D", input_shapes=other))
    assert not ser_kernel_runs(use("CONV_2D", "INT16", first.input_shapes))


def test_resolver_hides_tflm_add_methods_only_for_the_replaced_ops(tmp_path):
    """The header compiles against TFLM's resolver, and RegisterSerOps still registers every op."""
    from firmware_export.op_resolver import op_resolver_header

    plain = op_resolver_header(["MEAN", "SOFTMAX"], "test")
    assert "using SerOpResolver = tflite::MicroMutableOpResolver<kSerOpCount>;" in plain
    routed = op_resolver_header(["MEAN", "SOFTMAX"], "test", ["SOFTMAX"])
    assert "TfLiteStatus AddSoftmax() { return Base::AddSoftmax(SerRegisterSoftmaxInt8()); }" in routed
    assert "AddMean() {" not in routed and routed.count("resolver.Add") == 2
    tree = tflm_dir() / "host"
    need_tool("g++", "apt-get install g++")
    from firmware_export.render import BUNDLE_DIR
    (tmp_path / "op_resolver.h").write_text(routed)
    includes = [f"-I{tree / sub}" for sub in ("", "third_party/flatbuffers/include", "third_party/gemmlowp",
                                              "third_party/ruy")]
    (tmp_path / "use.cc").write_text('#include "op_resolver.h"\nbool f() { static SerOpResolver r; '
                                     "return RegisterSerOps(r); }\n")
    import subprocess
    for source in (tmp_path / "use.cc", BUNDLE_DIR / "ser_kernels.cc"):
        done = subprocess.run(["g++", "-std=c++17", "-DTF_LITE_STATIC_MEMORY", "-fsyntax-only", "-Wall",
                               "-Werror", f"-I{tmp_path}", f"-I{BUNDLE_DIR}", *includes, str(source)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]


def test_latency_at_the_board_clock_and_the_share_of_the_core_per_second_of_audio():
    """benchmarks/firmware_profile.py's block: ms at the clock (one cycle per instruction), and when
    streaming step per step x 25 steps per second + attend + classify per label as the app timed it."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from firmware_profile import latency

    pieces = [PieceProfile("step", 10, [Node(0, "CONV_2D", "s", "ser-reparam", "", 1000, 200_000.0)],
                           210_000.0),
              PieceProfile("attend", 31, [Node(0, "SOFTMAX", "a", "ser-reparam", "", 500, 400_000.0)]),
              PieceProfile("classify", 1, [Node(0, "MEAN", "c", "ser-reparam", "", 0, 20_000.0)])]
    report = {"pieces": pieces, "totals": {"label": 13_000_000.0},
              "manifest": {"streaming": {"steps": 124, "chunk": 4, "step_frames": 4, "label_hop_s": 1.0}}}
    text = latency(report, 168)
    assert "| step, one Invoke | 210,000 | 1,000 | 1.25 ms |" in text
    assert "| attend × 31 chunks + classify, one label | 13,000,000 | 15,500 |" in text
    assert "| 18,250,000 | | 10.86% of the core |" in text  # 25 x 210,000 + 13,000,000 of 168 M
    assert "not cycles" in text


def test_batch_matmul_goes_to_ser_kernels_within_its_stack_buffers():
    """Attention's scores (a head's depth) and its weighted values (four columns over a depth that is
    a multiple of 4) run in ser_kernels.cc; other depths over 16, fewer than 16 columns (measured
    slower than CMSIS-NN on SpeechFormer's windows) or a right operand over 512 int16 pairs (2 KB of
    stack) stay with the tree's kernel."""
    from firmware_export.op_resolver import ser_kernel_ops, ser_kernel_runs

    scores = use("BATCH_MATMUL", input_shapes=((1, 4, 4), (1, 4, 124)))
    weighted = use("BATCH_MATMUL", input_shapes=((1, 4, 124), (1, 124, 4)))
    assert ser_kernel_runs(scores) and ser_kernel_runs(weighted)
    assert ser_kernel_ops([scores, weighted]) == ["BATCH_MATMUL"] == ser_kernel_ops([weighted])
    whole_window = use("BATCH_MATMUL", input_shapes=((1, 74, 74), (1, 74, 4)))  # 74: not a multiple of 4
    assert not ser_kernel_runs(whole_window) and ser_kernel_ops([whole_window]) == []
    assert ser_kernel_runs(use("BATCH_MATMUL", input_shapes=((1, 74, 4), (1, 74, 4))))         # adj_y
    assert not ser_kernel_runs(use("BATCH_MATMUL", input_shapes=((1, 64, 16), (1, 16, 128))))  # 128 x 8 pairs
    windowed = use("BATCH_MATMUL", input_shapes=((4, 299, 1, 4), (4, 299, 5, 4)))  # SpeechFormer: 5 columns
    assert not ser_kernel_runs(windowed)
    assert not ser_kernel_runs(use("BATCH_MATMUL", "INT16", scores.input_shapes))


def test_add_sub_mul_go_to_ser_kernels_when_the_second_operand_is_broadcast():
    """LayerNorm's x - mean, x * scale, x + shift (int8, the second operand broadcast) run in
    ser_kernels.cc; equal shapes stay with the tree's kernel (CMSIS-NN's elementwise ADD and MUL)."""
    from firmware_export.op_resolver import ser_kernel_ops, ser_kernel_runs
    from ser_reparam.tflite.ops import OpUse

    def binary(op, first, second, output_type="INT8"):
        return OpUse(op, "", output_type, (first, second), (first,))

    row, column = binary("SUB", (4, 16), (4, 1)), binary("MUL", (4, 16), (16,))
    scalar = binary("ADD", (4, 1), ())
    equal = binary("ADD", (4, 16), (4, 16))
    assert all(map(ser_kernel_runs, (row, column, scalar))) and not ser_kernel_runs(equal)
    assert ser_kernel_ops([row, column, scalar, equal]) == ["ADD", "MUL", "SUB"]
    assert ser_kernel_ops([equal]) == []
    assert not ser_kernel_runs(binary("MUL", (4, 16), (16,), "INT16"))
    assert ser_kernel_runs(binary("ADD", (1, 74, 16), (1, 74, 1)))  # the whole window's 74 frames
    assert not ser_kernel_runs(binary("ADD", (4, 1), (4, 16)))  # the first operand broadcast


def test_softmax_exp_tables_are_the_kernels_exp_and_go_to_flash(tmp_path):
    """The tables op_resolver.py computes at export equal, entry by entry, the exp() ser_kernels.cc
    computes (its own function, built on the host against the TFLM tree); below diff_min they hold 0.
    The header hands them to SerRegisterSoftmaxInt8 as const arrays (program flash)."""
    import subprocess

    from firmware_export.op_resolver import op_resolver_header, softmax_exp_table, softmax_parameters
    from firmware_export.render import BUNDLE_DIR

    # attention's input scales (the 5 s streaming demo's four heads) and the extremes of diff_min
    scales = (0.0417, 0.0716, 0.0736, 0.0682, 0.5, 0.004)
    cases = [(softmax_parameters(scale, 1.0), scale) for scale in scales]
    tree = tflm_dir() / "host"
    need_tool("g++", "apt-get install g++")
    (tmp_path / "exp.cc").write_text(
        '#include <cstdio>\n#include <cstdlib>\n#include "ser_kernels.cc"\n'
        "int main(int argc, char** argv) {\n  tflite::SoftmaxParams params = {};\n"
        "  params.input_multiplier = atoi(argv[1]);\n  params.input_left_shift = atoi(argv[2]);\n"
        '  for (int diff = -255; diff <= 0; ++diff) printf("%ld\\n", (long)ExpTable::Exp(params, diff));\n'
        "  return 0;\n}\n")
    includes = [f"-I{tree / sub}" for sub in ("", "third_party/flatbuffers/include", "third_party/gemmlowp",
                                              "third_party/ruy")]
    built = subprocess.run(["g++", "-std=c++17", "-O1", "-DTF_LITE_STATIC_MEMORY", "-ffunction-sections",
                            "-fdata-sections", "-Wl,--gc-sections", f"-I{BUNDLE_DIR}", *includes,
                            str(tmp_path / "exp.cc"), "-o", str(tmp_path / "exp")],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    for (multiplier, shift, diff_min), scale in cases:
        table = softmax_exp_table(multiplier, shift, diff_min)
        run = subprocess.run([str(tmp_path / "exp"), str(multiplier), str(shift)],
                             capture_output=True, text=True, check=True)
        kernel = [int(v) for v in run.stdout.split()]
        assert [t for t, d in zip(table, range(-255, 1)) if d >= diff_min] == kernel[max(0, diff_min + 255):]
        assert all(t == 0 for t, d in zip(table, range(-255, 1)) if d < diff_min)
        assert table[-1] == 2**31 - 1 and abs(table[-2] / 2**31 - np.exp(-scale)) < 1e-6
    first = cases[0][0]
    header = op_resolver_header(["SOFTMAX"], "test", ["SOFTMAX"], [(*first, softmax_exp_table(*first))])
    assert "static const int32_t kSerSoftmaxExp0[256] = {" in header
    assert "AddSoftmax() { return Base::AddSoftmax(SerRegisterSoftmaxInt8(kSerSoftmaxExpTables)); }" in header
