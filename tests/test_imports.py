"""The package's import graph has no cycles — counting imports inside functions too, so a cycle
cannot hide behind a function-local import (those stay only for deferring TensorFlow's start-up)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ser_reparam", "firmware_export")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(name: str, modules: set[str]) -> str | None:
    """The project module `name` refers to (a submodule, else its closest package), or None."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """{module: project modules it imports anywhere in its body}."""
    files = {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    modules = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                names = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            targets |= {t for t in (_resolve(n, modules) for n in names) if t and t != module}
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, …, a], or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_checker_finds_a_cycle_through_a_function_local_import(tmp_path):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_graph_sees_function_local_imports():
    graph = import_graph()
    assert "ser_reparam.config" in graph["ser_reparam.cli.run_config"]  # only imported inside functions there
    assert "ser_reparam.models" in graph["ser_reparam.config"]


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_help_and_the_light_modules_start_no_tensorflow():
    """`--help`, `placement` (the report's and the sweep's parser of HRF specs), the layout, the
    streaming geometry (firmware_export's) and the .tflite reader answer without TensorFlow
    (`report` itself: tests/test_report.py)."""
    import subprocess
    import sys

    code = ("import contextlib, io, sys\n"
            "from ser_reparam.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "import ser_reparam.models.placement, ser_reparam.layout, ser_reparam.report\n"
            "import ser_reparam.models.stream_geometry\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', "
            "'keras')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


# What firmware_export may use of ser_reparam: the errors, file helpers, the front end's definition,
# the streaming split's TensorFlow-free geometry and the .tflite toolkit, never a run, a config or a
# private name (bundles.py and firmware_inputs.py translate a run into plain inputs).
FIRMWARE_MAY_IMPORT = ("ser_reparam", "ser_reparam.errors", "ser_reparam.files", "ser_reparam.features",
                       "ser_reparam.models.stream_geometry", "ser_reparam.tflite")


def firmware_imports() -> list[tuple[str, str, list[str]]]:
    """(firmware_export module, ser_reparam module, names) of every import, in functions too."""
    found = []
    for path in sorted((ROOT / "firmware_export").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ser_reparam":
                found.append((_module_name(path), node.module, [alias.name for alias in node.names]))
            elif isinstance(node, ast.Import):
                found += [(_module_name(path), alias.name, []) for alias in node.names
                          if alias.name.split(".")[0] == "ser_reparam"]
    return found


def test_firmware_export_imports_no_private_name_of_ser_reparam():
    private = [f"{where}: from {module} import {name}" for where, module, names in firmware_imports()
               for name in names if name.startswith("_") and name != "__version__"]
    assert private == [], "firmware_export imports private names: " + "; ".join(private)


def test_firmware_export_takes_plain_inputs_not_a_run():
    def allowed(module):
        return any(module == ok or module.startswith(ok + ".") and ok != "ser_reparam"
                   for ok in FIRMWARE_MAY_IMPORT)

    outside = sorted({f"{where} imports {module}" for where, module, _ in firmware_imports()
                      if not allowed(module)})
    assert outside == [], ("firmware_export reads a run through ser_reparam (translate it in ser_reparam, "
                           "e.g. bundles.py, and pass plain inputs): " + "; ".join(outside))
