"""One place for each fact, checked on the source: every error class of both packages is defined in
ser_reparam/errors.py (an `except` names one module, and nothing re-exports them), and an artifact's
file name is used as a path only by the module that owns it (layout.py, bundle_record.py); prose
in a message may still name it."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ser_reparam", "firmware_export")
ERRORS = ROOT / "ser_reparam" / "errors.py"


def _sources():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def _error_classes(path: Path) -> list[str]:
    """Classes in `path` that derive from an exception (a base named …Error, Exception or an error
    class of errors.py)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = [getattr(b, "id", getattr(b, "attr", "")) for b in node.bases]
            if any(b.endswith(("Error", "Exception")) or b in ("NotStreamable", "NameRejected")
                   for b in bases):
                found.append(node.name)
    return found


def test_every_error_class_is_defined_in_errors_py():
    outside = {str(p.relative_to(ROOT)): names for p in _sources() if p != ERRORS
               for names in [_error_classes(p)] if names}
    assert outside == {}, f"error classes outside ser_reparam/errors.py: {outside}; move them there"
    assert "AudioError" in _error_classes(ERRORS)


def test_no_module_re_exports_an_error():
    shims = [str(p.relative_to(ROOT)) for p in _sources()
             if "re-exported" in p.read_text(encoding="utf-8")]
    assert shims == [], f"re-export shims left: {shims}; import from ser_reparam.errors instead"


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string in the code of `path`, f-string parts included, docstrings not."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def _owned_names() -> dict[str, Path]:
    """{file name: the module that owns it}: layout.py's artifact names, bundle_record.py's record."""
    from firmware_export import bundle_record
    from ser_reparam import layout

    names = {value: ROOT / "ser_reparam" / "layout.py" for key, value in vars(layout).items()
             if key.isupper() and isinstance(value, str)}
    return {**names, bundle_record.NAME: ROOT / "firmware_export" / "bundle_record.py"}


def test_artifact_file_names_are_spelled_only_by_their_owner():
    owned = _owned_names()
    assert {"best.keras", "quantize.json", "metrics.json", "config.json", "fold.json"} <= set(owned)
    spelled = [f"{path.relative_to(ROOT)}:{line}: {text!r} (owned by {owned[name].name})"
               for path in _sources() for line, text in _string_literals(path) for name in owned
               if (text == name or "/" + name in text) and path != owned[name]]
    assert spelled == [], "artifact names spelled outside their module:\n" + "\n".join(spelled)


def test_the_name_check_sees_f_strings_and_skips_docstrings(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""Writes best.keras."""\nx = f"{d}/best.keras"\ny = "prose about best.keras"\n')
    assert sorted(_string_literals(path)) == [(2, "/best.keras"), (3, "prose about best.keras")]
