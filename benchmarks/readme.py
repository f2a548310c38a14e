"""Figures in the docs come from scripts: the one block writer, its registry, and the machine line.

A block is the text between `<!-- BEGIN key -->` and `<!-- END key -->` in one page of docs/; a
script that measures something replaces its block (`replace_block`), never a person. BLOCKS says
which page holds each key (one place for each fact); `--docs` on a script writes its block
there, `--docs PAGE` into another page holding the same markers. Every block ends with the
machine it was measured on (`machine_line`): CPU model, cores, Python, TensorFlow and the
oneDNN setting, because the numbers (timings, and through oneDNN's float round-off even
accuracies of short runs) change from one CPU to another.
"""
from __future__ import annotations

import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).parents[1]
TREE_VARIABLES = ("ESP_TFLM_DIR", "TFLM_DIR", "CMSIS_DSP_DIR")  # folders a user names by a variable

# block key -> the docs page that holds it (relative to the repository)
BLOCKS = {
    # whole window vs streaming
    "streaming-memory": "docs/streaming.md",
    "streaming-agreement": "docs/streaming.md",
    "streaming-firmware": "docs/streaming.md",
    # real speech, the shipped recipe
    "emodb-loso-convtransformer": "docs/notes/real-speech-recipe.md",
    "emodb-augment": "docs/notes/real-speech-recipe.md",
    "emodb-loso-conformer": "docs/notes/real-speech-recipe.md",
    # real speech: paired recipe and HRF comparisons (benchmarks/speaker_cv.py, hrf_dynamics.py)
    "emodb-hrf-init": "docs/results-real-speech.md",
    "emodb-recipe-1": "docs/results-real-speech.md",
    "ravdess-recipe-1": "docs/results-real-speech.md",
    "emodb-hrf-step": "docs/results-real-speech.md",
    "ravdess-hrf-1": "docs/results-real-speech.md",
    "emodb-placements-1": "docs/results-real-speech.md",
    "ravdess-placements-1": "docs/results-real-speech.md",
    "hrf-dynamics": "docs/results-real-speech.md",
    "ravdess-hrf-dynamics-all": "docs/results-real-speech.md",
    "emodb-recipe-2": "docs/results-real-speech.md",
    "ravdess-recipe-2": "docs/results-real-speech.md",
    "ravdess-all-ratio-depth": "docs/results-real-speech.md",
    "ravdess-all-cause": "docs/results-real-speech.md",
    # real speech, how the recipe was found
    "emodb-recipe": "docs/notes/real-speech-recipe.md",
    "emodb-loso-convtransformer-bias0": "docs/notes/real-speech-recipe.md",
    "emodb-loso-convtransformer-lr3e-3": "docs/notes/real-speech-recipe.md",
    "emodb-loso-convtransformer-lr1e-3": "docs/notes/real-speech-recipe.md",
    "emodb-loso-convtransformer-fold0": "docs/notes/real-speech-recipe.md",
    # size, speed and device cost
    "model-sizes": "docs/results-performance.md",
    "hrf-step-time": "docs/results-performance.md",
    "train-step-time": "docs/results-performance.md",
    "epoch-time": "docs/results-performance.md",
    "feature-throughput": "docs/results-performance.md",
    "firmware-cost": "docs/results-performance.md",
    "firmware-profile": "docs/results-performance.md",  # benchmarks/firmware_profile.py --block KEY
    "firmware-profile-streaming": "docs/results-performance.md",
    "firmware-profile-conformer": "docs/results-performance.md",
    "firmware-profile-speechformer": "docs/results-performance.md",
    "frontend-cost": "docs/results-performance.md",
    # the demo run
    "demo": "docs/results-demo.md",
    "sweep": "docs/results-demo.md",
    "deployed-models": "docs/results-demo.md",
    "firmware-bundles": "docs/results-demo.md",
    # boards
    "board-arenas": "docs/firmware-and-boards.md",
}
DOCS_OPTIONS = ("--docs", "--readme")  # --readme: the old spelling, still accepted
TRAINING_PACKAGES = ("tensorflow", "tf-keras", "scikit-learn")  # what a training benchmark's machine names


def page_of(key: str) -> Path:
    """The docs page that holds block `key`."""
    if key not in BLOCKS:
        raise SystemExit(f"block '{key}' is not in BLOCKS (benchmarks/readme.py): add it with the docs page "
                         "that holds its markers, or name a page with --docs PAGE")
    return ROOT / BLOCKS[key]


def shown_path(path, stand_in: str = "RUN") -> str:
    """`path` as a block prints it: inside a folder named by one of TREE_VARIABLES as
    `$VARIABLE/…`, inside the working directory relative, else `stand_in` — an absolute path of
    the machine that measured (a temporary run folder) means nothing on another."""
    resolved = Path(path).expanduser().resolve()
    for variable in TREE_VARIABLES:
        root = Path(os.environ.get(variable) or "/nonexistent").expanduser().resolve()
        if os.environ.get(variable) and resolved.is_relative_to(root):
            return "/".join([f"${variable}", *resolved.relative_to(root).parts])
    if resolved.is_relative_to(Path.cwd().resolve()):
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    return stand_in


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def onednn_setting() -> str:
    """TensorFlow's oneDNN custom ops: TF_ENABLE_ONEDNN_OPTS, on by default on x86 Linux."""
    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if value is None:
        return "on (TensorFlow's default)"
    return "off" if value.strip() in ("0", "false", "False") else "on"


def machine(packages: tuple[str, ...] = ("tensorflow",)) -> str:
    """CPU model and cores, Python, the versions of `packages` and TensorFlow's oneDNN setting."""
    names = {"tensorflow": "TensorFlow"}
    versions = []
    for package in packages:
        try:
            versions.append(f"{names.get(package, package)} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{names.get(package, package)} not installed")
    return (f"{cpu_model()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
            f"{', '.join(versions)}, oneDNN {onednn_setting()}")


def machine_line() -> str:
    return (f"Measured on {machine()}, 1-minute load average {os.getloadavg()[0]:.1f} "
            "when it finished (other processes slow timings). Other CPUs give other numbers "
            "(timings always; float round-off, and so short-run accuracies, with oneDNN and the CPU's "
            "vector units).")


def replace_block(key: str, text: str, page: Path | None = None) -> Path:
    """Put `text` between the block's markers in `page` (default: its page in BLOCKS) and return
    the page. The markers must exist: a block is placed by hand once, filled by its script ever after."""
    page = page_of(key) if page is None else Path(page)
    content = page.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- BEGIN {re.escape(key)} -->\n).*?(<!-- END {re.escape(key)} -->)", re.S)
    if not pattern.search(content):
        raise SystemExit(f"{page} has no block '{key}' (<!-- BEGIN {key} --> … <!-- END {key} -->)")
    page.write_text(pattern.sub(lambda m: m.group(1) + text.rstrip("\n") + "\n" + m.group(2), content),
                    encoding="utf-8")
    return page


def docs_option(parser) -> None:
    """`--docs [PAGE]` on a script's argparse parser (and `--readme`, its old spelling)."""
    parser.add_argument("--docs", nargs="?", const="", metavar="PAGE",
                        help="also write the block into its docs page (benchmarks/readme.py BLOCKS), "
                             "or into PAGE")
    parser.add_argument("--readme", nargs="?", const="", metavar="PAGE", help="the old spelling of --docs")


def docs_page(key: str, argv: list[str]) -> Path | None:
    """Where `argv` asks block `key` to be written: None without --docs; with `--docs PAGE` (or
    `--docs=PAGE`) that page, else the block's own page."""
    for i, arg in enumerate(argv):
        option, _, value = arg.partition("=")
        if option not in DOCS_OPTIONS:
            continue
        if option == "--readme":
            print("note: --readme is the old spelling of --docs (the blocks live in docs/)", file=sys.stderr)
        if not value and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            value = argv[i + 1]
        return Path(value) if value else page_of(key)
    return None


def without_docs(argv: list[str]) -> list[str]:
    """`argv` without --docs (or --readme) and its PAGE: the flags a block's command line shows."""
    kept, skip = [], False
    for arg in argv:
        if skip and not arg.startswith("-"):
            skip = False
            continue
        skip = arg in DOCS_OPTIONS
        if not skip and arg.partition("=")[0] not in DOCS_OPTIONS:
            kept.append(arg)
    return kept


def write_block(key: str, text: str, argv: list[str]) -> Path | None:
    """With --docs in `argv`, write `text` into block `key` (see docs_page); return the page written."""
    page = docs_page(key, argv)
    return None if page is None else replace_block(key, text, page)


def publish(key: str, text: str, argv: list[str], command: str) -> None:
    """Print a script's result with how it was made and on what machine; with --docs in `argv`,
    also write it into block `key` of its docs page."""
    text = f"{text.rstrip()}\n\n`{command}` wrote this. {machine_line()}"
    print(text)
    write_block(key, text, argv)
