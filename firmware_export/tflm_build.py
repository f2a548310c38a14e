"""Build and run programs against the real TFLite Micro C++ library.

TFLM's sources are in no package registry: a tree made by TFLM's `create_tflm_tree.py` is found
through `--tflm-dir` / `$TFLM_DIR` (the folder holding several trees, or one tree). Every .cc / .c
of the tree is compiled once per target into a static library, out of tree, and cached under
`$SER_REPARAM_CACHE` (default ~/.cache/ser-reparam) by tree path, content fingerprint, compiler
and flags, so tests, the `verify-firmware` command and CI reuse it. A target is data (compiler,
flags, link flags, tree kind, how to run): `TARGETS` can be extended without touching the code.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from firmware_export.linker_script import QEMU_RAM, QEMU_RAM_BYTES, linker_script
from ser_reparam.errors import BuildError, MissingToolError

RUNTIME_DIR = Path(__file__).parent / "mps2_an386"

_TREE_INCLUDES = ("", "third_party/flatbuffers/include", "third_party/gemmlowp", "third_party/ruy",
                  "third_party/kissfft")
_COMMON_CXX = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")
_COMMON_DEFINES = ("TF_LITE_STATIC_MEMORY",)
_CM4_CPU = ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")


@dataclasses.dataclass(frozen=True)
class Target:
    """How to compile TFLM and a program for one machine, and how to run the program."""
    name: str
    tree: str                      # folder name of the tree kind inside $TFLM_DIR
    marker: str                    # a path that only this tree kind has (to check a given tree)
    cc: str
    cxx: str
    ar: str
    cpu_flags: tuple = ()          # go to every compile AND the link
    opt_flags: tuple = ("-O2",)
    defines: tuple = _COMMON_DEFINES
    includes: tuple = _TREE_INCLUDES  # relative to the tree
    link_flags: tuple = ()
    runner: str = "host"           # "host" or "qemu-mps2-an386"
    word_bytes: int = 8
    env: str = "TFLM_DIR"          # the environment variable naming the tree (or the folder holding it)
    source_dirs: tuple = ()        # compile only these folders of the tree (empty: all of it)

    @property
    def size(self) -> str:
        """The binutils `size` matching `ar` (arm-none-eabi-size for arm-none-eabi-ar)."""
        return self.ar.replace("-ar", "-size") if self.ar.endswith("-ar") else "size"

    def tools(self) -> list[str]:
        """Every program building and running for this target takes."""
        return [self.cc, self.cxx, self.ar, self.size,
                *(["qemu-system-arm"] if self.runner != "host" else [])]

    def compile_flags(self, tree: Path) -> list[str]:
        """Flags for compiling both the library and a program against it."""
        return ([*self.cpu_flags, *self.opt_flags, "-ffunction-sections", "-fdata-sections"]
                + [f"-D{d}" for d in self.defines]
                + [f"-I{tree / inc}" if inc else f"-I{tree}" for inc in self.includes])


TARGETS: dict[str, Target] = {
    "host": Target(name="host", tree="host", marker="tensorflow/lite/micro/kernels/fully_connected.cc",
                   cc="gcc", cxx="g++", ar="ar", link_flags=("-lm",)),
    "cortex-m4": Target(
        name="cortex-m4", tree="cortex-m4-cmsis-nn", marker="third_party/cmsis_nn/Include",
        cc="arm-none-eabi-gcc", cxx="arm-none-eabi-g++", ar="arm-none-eabi-ar",
        # -O2, not -Os: at -Os gemmlowp's and CMSIS-NN's 64-bit fixed-point steps become library calls;
        # -O2 runs the whole-window demo model in 24 % fewer instructions, bit for bit the same output
        # (benchmarks/results/firmware-profile-*.md)
        cpu_flags=_CM4_CPU, opt_flags=("-O2",),
        # PROJECT_GENERATION: the generated tree has no CMSIS device header for micro_time.cc
        defines=(*_COMMON_DEFINES, "CMSIS_NN", "PROJECT_GENERATION"),
        includes=(*_TREE_INCLUDES, "third_party/cmsis/CMSIS/Core/Include", "third_party/cmsis_nn",
                  "third_party/cmsis_nn/Include"),
        link_flags=("-nostartfiles", "--specs=nano.specs", "--specs=rdimon.specs", "-Wl,--gc-sections",
                    "-lm"),
        runner="qemu-mps2-an386", word_bytes=4),
}


# esp-tflite-micro's esp_nn kernels + ESP-NN's portable C, built 32-bit like the Xtensa cores
# (the tree and its flags: ../shared/third_party/esp-tflite-micro-host/README.md). `esp-nn-s3`
# puts the tree's s3emu/ first: ESP-NN's ESP32-S3 scratch-size functions and C code.
_ESP_INCLUDES = (*_TREE_INCLUDES, "esp-nn/include", "esp-nn/src/common", "esp-nn/src/softmax", "host_stubs")
_ESP = dict(tree="esp-tflite-micro-host", marker="tensorflow/lite/micro/kernels/esp_nn/conv.cc", cc="gcc",
            cxx="g++", ar="ar", cpu_flags=("-m32", "-malign-double"), link_flags=("-lm",), word_bytes=4,
            env="ESP_TFLM_DIR")
TARGETS.update({
    "host-32": Target(name="host-32", tree="host", marker="tensorflow/lite/micro/kernels/fully_connected.cc",
                      cc="gcc", cxx="g++", ar="ar", cpu_flags=("-m32", "-malign-double"), link_flags=("-lm",),
                      word_bytes=4),
    # ESP_NN + CONFIG_NN_OPTIMIZED without an IDF target: ESP-NN's generic C, the path of the ESP32
    "esp-nn": Target(name="esp-nn", **_ESP, includes=_ESP_INCLUDES,
                     defines=(*_COMMON_DEFINES, "TF_LITE_DISABLE_X86_NEON", "ESP_NN=1",
                              "CONFIG_NN_OPTIMIZED=1"),
                     source_dirs=("tensorflow", "signal", "esp-nn/src")),
    "esp-nn-s3": Target(name="esp-nn-s3", **_ESP, includes=("s3emu/include", *_ESP_INCLUDES),
                        defines=(*_COMMON_DEFINES, "TF_LITE_DISABLE_X86_NEON", "ESP_NN=1"),
                        source_dirs=("tensorflow", "signal", "esp-nn/src", "s3emu/src")),
})


INSTALL = {"gcc": "gcc", "g++": "g++", "ar": "binutils", "size": "binutils",
           "qemu-system-arm": "qemu-system-arm",
           "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
           "arm-none-eabi-g++": "gcc-arm-none-eabi libstdc++-arm-none-eabi-newlib",
           "arm-none-eabi-ar": "binutils-arm-none-eabi", "arm-none-eabi-size": "binutils-arm-none-eabi"}


def check_tools(target: Target) -> None:
    """Refuse at once, naming every missing program and its apt package, before any build (a
    TFLM build takes minutes; the emulator is only needed after it)."""
    missing = [tool for tool in target.tools() if shutil.which(tool) is None]
    if missing:
        packages = " ".join(dict.fromkeys(INSTALL.get(tool, tool) for tool in missing))
        raise MissingToolError(f"target {target.name} needs {', '.join(missing)}, not found on "
                               f"PATH; install: apt-get install {packages}")


def find_tree(target: Target, tflm_dir: str | os.PathLike | None = None) -> Path:
    """The TFLM tree for `target`: `tflm_dir` (or $TFLM_DIR) is the tree or the folder holding it."""
    given = tflm_dir or os.environ.get(target.env, "")
    if not given and target.env != "TFLM_DIR":
        raise BuildError(f"no {target.tree} tree for target {target.name}; set {target.env} to it")
    if not given:
        raise BuildError("no TFLM tree; pass --tflm-dir or set TFLM_DIR to a create_tflm_tree.py tree "
                         "(or the folder holding the host/ and cortex-m4-cmsis-nn/ trees)")
    root = Path(given).expanduser().resolve()
    for tree in (root / target.tree, root):
        if (tree / "tensorflow/lite/micro").is_dir() and (tree / target.marker).exists():
            return tree
    raise BuildError(f"{root}: no TFLM tree for target {target.name} (expected {root / target.tree} "
                     f"or a tree containing {target.marker}); make one with TFLM's create_tflm_tree.py")


def cache_root() -> Path:
    return Path(os.environ.get("SER_REPARAM_CACHE") or Path.home() / ".cache/ser-reparam") / "tflm"


def _tool_version(tool: str) -> str:
    try:
        return subprocess.run([tool, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise BuildError(f"compiler {tool} not usable ({error}); install it") from error


def tree_sources(tree: Path, source_dirs: tuple = ()) -> list[Path]:
    folders = [tree / d for d in source_dirs] or [tree]
    return sorted(p for f in folders for p in f.rglob("*") if p.suffix in (".cc", ".c") and p.is_file())


def tree_fingerprint(tree: Path) -> str:
    """A hash of every file's relative path and content (the tree may be edited in place)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _run(cmd: list[str], what: str, nice: int = 0, cwd: Path | None = None) -> None:
    full = (["nice", "-n", str(nice)] if nice else []) + [str(c) for c in cmd]
    done = subprocess.run(full, capture_output=True, text=True, cwd=cwd)
    if done.returncode:
        raise BuildError(f"{what} failed (exit {done.returncode}): {' '.join(full)}\n"
                         f"{(done.stdout + done.stderr)[-4000:]}")


def _compile_cmd(target: Target, tree: Path, source: Path, obj: Path, extra: tuple = ()) -> list:
    is_cxx = source.suffix in (".cc", ".cpp")
    lang = [target.cxx, *_COMMON_CXX] if is_cxx else [target.cc, "-std=c11"]
    return [*lang, *target.compile_flags(tree), *extra, "-c", str(source), "-o", str(obj)]


def _compile_object(target: Target, tree: Path, source: Path, obj: Path, nice: int) -> None:
    partial = obj.with_suffix(".partial.o")
    _run(_compile_cmd(target, tree, source, partial), f"compiling {source}", nice)
    os.replace(partial, obj)


def _compile_all(target: Target, tree: Path, todo: list, jobs: int, nice: int) -> None:
    """Compile (source, object) pairs on `jobs` threads; on the first failure or a Ctrl-C the
    queued files are dropped, so the command stops once the files in hand are done."""
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for future in [pool.submit(_compile_object, target, tree, s, o, nice) for s, o in todo]:
            future.result()
    finally:
        pool.shutdown(cancel_futures=True)


def library(target: Target, tree: Path, jobs: int = 2, nice: int = 10, log=None) -> Path:
    """The cached static library of every source in `tree` for `target`, built if missing."""
    key = hashlib.sha256("\n".join([
        str(tree), tree_fingerprint(tree), _tool_version(target.cxx), _tool_version(target.cc),
        " ".join(_COMMON_CXX), " ".join(target.compile_flags(tree))]).encode()).hexdigest()[:20]
    folder = cache_root() / f"{target.name}-{key}"
    lib = folder / "libtflm.a"
    if lib.exists():
        return lib
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)      # a second process waits here, then finds the library
        if lib.exists():
            return lib
        sources = tree_sources(tree, target.source_dirs)
        objs_dir = folder / "objs"             # kept: an interrupted build resumes where it stopped
        objs_dir.mkdir(exist_ok=True)
        objs = [objs_dir / (str(s.relative_to(tree)).replace("/", "__") + ".o") for s in sources]
        todo = [(s, o) for s, o in zip(sources, objs) if not o.exists()]
        if log:
            log(f"compiling TFLM for {target.name}: {len(todo)} of {len(sources)} files from {tree} -> {lib} "
                f"(once; {jobs} jobs)")
        _compile_all(target, tree, todo, jobs, nice)
        partial = folder / "libtflm.a.partial"
        partial.unlink(missing_ok=True)
        _run([target.ar, "rcs", partial, *objs], "archiving TFLM")
        os.replace(partial, lib)
        shutil.rmtree(objs_dir)
        (folder / "flags.txt").write_text(" ".join(target.compile_flags(tree)) + "\n")
    return lib


def build_program(target: Target, tree: Path, sources: list[Path], out: Path, include_dirs=(),
                  defines=(), linker_script: Path | None = None, jobs: int = 2, log=None) -> Path:
    """Compile `sources` (plus the target's startup code) and link them with the TFLM library."""
    lib = library(target, tree, jobs=jobs, log=log)
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = tuple(f"-I{d}" for d in include_dirs) + tuple(f"-D{d}" for d in defines)
    all_sources = [Path(s) for s in sources]
    link = list(target.link_flags)
    if target.runner == "qemu-mps2-an386":
        all_sources.append(RUNTIME_DIR / "startup.c")
        if linker_script is None:
            linker_script = out.parent / (out.name + ".ld")
            linker_script.write_text(default_linker_script())
        link += [f"-T{linker_script}", f"-Wl,-Map={out}.map"]
    objs_dir = out.parent / (out.name + ".objs")
    objs_dir.mkdir(exist_ok=True)
    objs = []
    for source in all_sources:
        obj = objs_dir / (source.name + ".o")
        _run(_compile_cmd(target, tree, source, obj, extra), f"compiling {source}")
        objs.append(obj)
    _run([target.cxx, *target.cpu_flags, *objs, str(lib), *link, "-o", str(out)], f"linking {out}")
    return out


def default_linker_script() -> str:
    """All of mps2-an386's RAM as one region (for programs that are not a board's layout)."""
    ram = [("RAM", QEMU_RAM, QEMU_RAM_BYTES)]
    return linker_script(QEMU_RAM_BYTES, ram, {"arena": "RAM", "frontend": "RAM", "reserve": "RAM"}, 64 << 10,
                         qemu=True)


def run_program(target: Target, program: Path, args=(), timeout: float = 120, cwd: Path | None = None,
                icount: bool = False, wrapper=()) -> subprocess.CompletedProcess:
    """Run `program` on the host (under `wrapper`, e.g. valgrind, when given) or under QEMU
    (semihosting: stdio and files are the host's)."""
    if target.runner == "host":
        cmd = [*map(str, wrapper), str(program), *map(str, args)]
    elif target.runner == "qemu-mps2-an386":
        check_tools(target)
        qemu = shutil.which("qemu-system-arm")
        cmdline = ",".join(f"arg={a}" for a in [program.name, *map(str, args)])
        cmd = [qemu, "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
               "-semihosting-config", f"enable=on,target=native,{cmdline}", "-kernel", str(program)]
        if icount:
            cmd[1:1] = ["-icount", "shift=0"]
    else:
        raise BuildError(f"target {target.name}: unknown runner {target.runner}")
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as error:
        raise BuildError(f"{program.name} on {target.name} did not finish within {timeout:.0f} s "
                         f"(killed): {' '.join(cmd)}\n{(error.stdout or b'')[-2000:]!r}") from error


def program_size(target: Target, program: Path) -> dict:
    """Flash (text + initialised data) and static RAM (data + bss) of a linked program, in bytes."""
    out = subprocess.run([target.size, "-B", str(program)], capture_output=True, text=True, check=True)
    text, data, bss = (int(v) for v in out.stdout.splitlines()[1].split()[:3])
    return {"flash": text + data, "ram": data + bss, "text": text, "data": data, "bss": bss}
