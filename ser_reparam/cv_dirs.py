"""The folder of one speaker cross-validation fold: spelled here only, for config.py and layout.py
(layout.py refers to the config, so it cannot be the config's import)."""
from __future__ import annotations

from pathlib import Path


def cv_dir(base_dir: Path, k: int) -> Path:
    """runs/<name>/cv-<k>; a run made when these folders were fold-<k> keeps its folder."""
    new, old = base_dir / f"cv-{k}", base_dir / f"fold-{k}"
    return old if old.is_dir() and not new.exists() else new
