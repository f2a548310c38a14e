"""README figures come from scripts: the machine they ran on, and blocks the scripts rewrite.

A README block is the text between `<!-- BEGIN name -->` and `<!-- END name -->`; a script
that measures something replaces its block (`replace_block`), never a person. Every block
starts with `machine_line()`: CPU model, cores, Python, TensorFlow and the oneDNN setting,
because the numbers (timings, and through oneDNN's float round-off even accuracies of short
runs) change from one CPU to another.
"""
from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"
TREE_VARIABLES = ("ESP_TFLM_DIR", "TFLM_DIR", "CMSIS_DSP_DIR")  # folders a user names by a variable


def shown_path(path, stand_in: str = "RUN") -> str:
    """`path` as a README block prints it: inside a folder named by one of TREE_VARIABLES as
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


def machine_line() -> str:
    try:
        tensorflow = metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        tensorflow = "not installed"
    return (f"Measured on {cpu_model()} ({os.cpu_count()} cores), Python {platform.python_version()}, "
            f"TensorFlow {tensorflow}, oneDNN {onednn_setting()}, 1-minute load average {os.getloadavg()[0]:.1f} "
            "when it finished (other processes slow timings). Other CPUs give other numbers "
            "(timings always; float round-off, and so short-run accuracies, with oneDNN and the CPU's "
            "vector units).")


def replace_block(name: str, text: str, readme: Path = README) -> None:
    """Put `text` between the block's markers in `readme` (the markers must exist: a block is
    placed by hand once, filled by its script ever after)."""
    content = readme.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- BEGIN {re.escape(name)} -->\n).*?(<!-- END {re.escape(name)} -->)", re.S)
    if not pattern.search(content):
        raise SystemExit(f"{readme} has no block '{name}' (<!-- BEGIN {name} --> … <!-- END {name} -->)")
    readme.write_text(pattern.sub(lambda m: m.group(1) + text.rstrip("\n") + "\n" + m.group(2), content),
                      encoding="utf-8")


def publish(block: str, text: str, argv: list[str], command: str) -> None:
    """Print a script's result with how it was made and on what machine; with --readme in
    `argv`, also write it into the README block `block`."""
    text = f"{text.rstrip()}\n\n`{command}` wrote this. {machine_line()}"
    print(text)
    if "--readme" in argv:
        replace_block(block, text)
