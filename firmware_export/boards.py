"""Board profiles (boards.yaml) and the check that a model bundle fits a board.

The check uses measured numbers — model bytes, the tensor arena measured with the TFLite Micro
interpreter (plus its stated margin), the front end's state — against the board's flash and
its named RAM regions: each buffer (arena, front end, the reserve for stack, heap and the rest
of the firmware — documented estimates in boards.yaml) is placed in one region, as the Cortex-M
linker script (linker_script.py) places it. A bundle that does not fit fails the export naming
the region and the numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml

from ser_reparam.errors import BudgetError, InputError

KB = 1024
FIELDS = ("name", "core", "fpu", "clock_mhz", "flash_kb", "ram_regions", "placement", "reserve_ram_kb",
          "reserve_flash_kb", "dsp", "nn", "templates")
OPTIONAL = ("cflags", "flash_origin", "kernels", "microphone", "tflm_arch", "idf_target", "arduino_fqbn")
BUFFERS = ("arena", "frontend", "reserve")
BUFFER_NAMES = {"arena": "tensor arena", "state": "streaming state", "frontend": "front end",
                "reserve": "stack/heap/firmware reserve"}
TEMPLATES = ("esp-idf", "arduino", "cmake-cortex-m")
MICROPHONES = {"i2s": ("bclk", "ws", "din"), "pdm": ()}  # api -> the GPIO numbers it needs


@dataclass(frozen=True)
class Board:
    key: str
    name: str
    core: str
    fpu: str
    clock_mhz: int
    flash_kb: int
    ram_regions: dict        # name → (origin or None, KB), in address-map order
    placement: dict          # buffer (BUFFERS) → region name
    reserve_ram_kb: int
    reserve_flash_kb: int
    dsp: str
    nn: str
    templates: tuple[str, ...]
    cflags: str = ""
    flash_origin: int = 0
    kernels: str = "reference"     # firmware_export.kernels.KERNELS key: the arena is measured with it
    microphone: dict | None = None  # {"api": "i2s", "bclk": 4, "ws": 5, "din": 6} or {"api": "pdm"}
    tflm_arch: str = ""             # TFLM's TARGET_ARCH for the CMake project (default: core)
    idf_target: str = ""            # ESP-IDF's IDF_TARGET (default: the board key)
    arduino_fqbn: str = "<your board's FQBN>"   # arduino-cli's board name

    @property
    def has_fpu(self) -> bool:
        return not self.fpu.startswith("none")

    @property
    def ram_kb(self) -> int:
        return sum(kb for _, kb in self.ram_regions.values())

    def linker_regions(self) -> list[tuple[str, int, int]]:
        """(name, origin, bytes) of each RAM region, for linker_script.linker_script."""
        return [(name, origin or 0, kb * KB) for name, (origin, kb) in self.ram_regions.items()]


def _regions(key: str, raw: dict) -> dict:
    regions = {}
    for name, value in raw.items():
        origin, kb = (value if isinstance(value, list) else (None, value))
        if not (isinstance(kb, int) and kb > 0):
            raise ValueError(f"boards.yaml: board {key!r}: RAM region {name}: give KB or [address, KB], "
                             f"got {value!r}")
        regions[name] = (origin, kb)
    return regions


def load_boards() -> dict[str, Board]:
    """Every profile of boards.yaml, checked."""
    raw = yaml.safe_load((resources.files("firmware_export") / "boards.yaml").read_text())
    boards = {}
    for key, values in raw.items():
        missing = [f for f in FIELDS if f not in values]
        unknown = [f for f in values if f not in (*FIELDS, *OPTIONAL)]
        if missing or unknown:
            raise ValueError(f"boards.yaml: board {key!r}: missing {missing}, unknown {unknown}")
        bad = [t for t in values["templates"] if t not in TEMPLATES]
        if bad:
            raise ValueError(f"boards.yaml: board {key!r}: unknown templates {bad}; known: "
                             f"{', '.join(TEMPLATES)}")
        _check_microphone(key, values.get("microphone"))
        regions = _regions(key, values["ram_regions"])
        wrong = {b: r for b, r in values["placement"].items() if r not in regions or b not in BUFFERS}
        if wrong or set(values["placement"]) != set(BUFFERS):
            raise ValueError(f"boards.yaml: board {key!r}: placement must put each of "
                             f"{', '.join(BUFFERS)} in one of the regions {', '.join(regions)}; got "
                             f"{values['placement']}")
        boards[key] = Board(key=key, **{"tflm_arch": values["core"], "idf_target": key, **values,
                                        "templates": tuple(values["templates"]), "ram_regions": regions})
    return boards


def _check_microphone(key: str, microphone) -> None:
    if microphone is None:
        return
    api = microphone.get("api") if isinstance(microphone, dict) else None
    if api not in MICROPHONES or set(microphone) != {"api", *MICROPHONES[api]}:
        raise ValueError(f"boards.yaml: board {key!r}: microphone {microphone!r}; give "
                         + " or ".join(f"{{api: {a}{''.join(f', {p}: <GPIO>' for p in pins)}}}"
                                       for a, pins in MICROPHONES.items()))


def get_board(key: str) -> Board:
    boards = load_boards()
    if key not in boards:
        raise InputError(f"unknown board {key!r}; choose one of {', '.join(boards)} "
                         "(firmware_export/boards.yaml)")
    return boards[key]


def budget(board: Board, model_bytes: int, arena_bytes: int, frontend_ram_bytes: int,
           state_bytes: int = 0) -> dict:
    """Flash and RAM use against the board's budget: each buffer in its region, a verdict for each.
    `state_bytes`: the streaming application's state between pieces, placed with the arena."""
    flash_budget = (board.flash_kb - board.reserve_flash_kb) * KB
    ram_budget = (board.ram_kb - board.reserve_ram_kb) * KB
    ram_used = arena_bytes + state_bytes + frontend_ram_bytes
    sizes = {"arena": arena_bytes, "state": state_bytes, "frontend": frontend_ram_bytes,
             "reserve": board.reserve_ram_kb * KB}
    placement = {**board.placement, "state": board.placement["arena"]}
    regions = {}
    for name, (_, kb) in board.ram_regions.items():
        placed = {b: sizes[b] for b in sizes if placement[b] == name and (sizes[b] or b != "state")}
        used = sum(placed.values())
        regions[name] = {"bytes": kb * KB, "buffers": placed, "used_bytes": used, "fits": used <= kb * KB}
    return {
        "flash": {"model_bytes": model_bytes, "budget_bytes": flash_budget,
                  "fits": model_bytes <= flash_budget},
        "ram": {"arena_bytes": arena_bytes, "state_bytes": state_bytes, "frontend_bytes": frontend_ram_bytes,
                "used_bytes": ram_used,
                "budget_bytes": ram_budget, "regions": regions,
                "fits": ram_used <= ram_budget and all(r["fits"] for r in regions.values())},
    }


def require_fit(board: Board, check: dict) -> None:
    """Raise BudgetError naming the numbers when any part of `budget()` does not fit."""
    problems = []
    if not check["flash"]["fits"]:
        problems.append(f"model {check['flash']['model_bytes']:,} B > flash budget "
                        f"{check['flash']['budget_bytes']:,} B ({board.flash_kb} KB − "
                        f"{board.reserve_flash_kb} KB reserved)")
    if not check["ram"]["fits"]:
        ram = check["ram"]
        state = f" + streaming state {ram['state_bytes']:,} B" if ram.get("state_bytes") else ""
        problems.append(f"tensor arena {ram['arena_bytes']:,} B{state} + front end "
                        f"{ram['frontend_bytes']:,} B = {ram['used_bytes']:,} B > RAM budget "
                        f"{ram['budget_bytes']:,} B ({board.ram_kb} KB − {board.reserve_ram_kb} KB reserved)")
    for name, region in check["ram"]["regions"].items():
        if not region["fits"]:
            parts = " + ".join(f"{BUFFER_NAMES[b]} {n:,} B" for b, n in region["buffers"].items())
            problems.append(f"RAM region {name} overflows: {parts} = {region['used_bytes']:,} B > "
                            f"{region['bytes']:,} B")
    if problems:
        raise BudgetError(f"the model does not fit {board.name} ({board.key}): " + "; ".join(problems) +
                          ". Use a smaller window or model, or a board with more memory.")
