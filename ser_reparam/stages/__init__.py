"""The seven stages, in order: one module each, named sNN_<name> (a Python module name cannot start
with a digit), so the listing of this folder reads as the pipeline.

Each module declares NUMBER, NAME, SECTIONS (the config sections it reads), READS (the stages
whose outputs it reads), SHARED (one run per experiment, or one per variant), `outputs(config)`
(the files and folders it writes, from layout.RunLayout) and `run(config)`, which does the work
and returns its one-paragraph summary. pipeline.py runs them, records them and skips what still
holds; nothing else in the package calls `run` (the CLI's stage commands go through pipeline.py).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType
from typing import Callable

from ser_reparam.config import ExperimentConfig
from ser_reparam.stages import (
    s01_prepare,
    s02_features,
    s03_train,
    s04_fold,
    s05_quantize,
    s06_export,
    s07_evaluate,
)


@dataclasses.dataclass(frozen=True)
class Stage:
    number: int
    name: str
    sections: tuple[str, ...]
    reads: tuple[int, ...]
    shared: bool
    run: Callable[[ExperimentConfig], str]
    outputs: Callable[[ExperimentConfig], list[Path]]

    @classmethod
    def of(cls, module: ModuleType) -> Stage:
        return cls(module.NUMBER, module.NAME, module.SECTIONS, module.READS, module.SHARED, module.run,
                   module.outputs)

    @property
    def label(self) -> str:
        return f"stage {self.number:02d} ({self.name})"


STAGES = tuple(Stage.of(m) for m in (s01_prepare, s02_features, s03_train, s04_fold, s05_quantize, s06_export,
                                      s07_evaluate))
BY_NUMBER = {stage.number: stage for stage in STAGES}
assert [stage.number for stage in STAGES] == list(range(1, len(STAGES) + 1)), "stages out of order"
