"""HRF placements: which dense layers of a model train as HRF chains, with which ratio and depth.

A placement spec is a string such as `ffn2@8x1`, `ffn1+ffn2@4x2`, `all` or
`qkv@2x1,ffn2@8x3`: comma-separated groups, each a `+`- (or `&`-) joined list of places and
an optional `@<ratio>x<depth>` (default `@8x1`, the paper's default: one extra layer, r = 8).
Parsed, it is a dict {place: {"ratio": r, "depth": d}} that the model blocks read.
"""
from __future__ import annotations

import dataclasses
import re

PLACES = ("qkv", "proj", "ffn1", "ffn2", "ffn_m1", "ffn_m2", "cls")
CONFORMER_ONLY = ("ffn_m1", "ffn_m2")
ALIASES = {"project": "proj", "projection": "proj", "ffnm1": "ffn_m1", "ffnm2": "ffn_m2",
           "ffn-m1": "ffn_m1", "ffn-m2": "ffn_m2", "classifier": "cls"}
DEFAULT_RATIO, DEFAULT_DEPTH = 8, 1
MAX_RATIO, MAX_DEPTH = 64, 8  # the paper sweeps r = 2…8, depth 1…3; beyond these a layer only bloats
_GROUP = re.compile(r"^(?P<names>[a-z0-9_+&\-]+?)(?:@(?P<ratio>\d+)x(?P<depth>\d+))?$")


@dataclasses.dataclass(frozen=True)
class Placement:
    """A parsed, checked placement: each HRF place with its (ratio, depth), in PLACES order.
    ModelConfig.placement makes it once, when the config is loaded; the variant name, the model
    builders and the report read it instead of parsing the spec again."""
    arch: str
    settings: tuple[tuple[str, int, int], ...]   # (place, ratio, depth)

    @classmethod
    def parse(cls, spec, arch: str) -> Placement:
        """From a spec string, a {place: {"ratio", "depth"}} dict or None (no HRF); ValueError naming it."""
        return cls(arch, tuple((place, s["ratio"], s["depth"]) for place, s in parse_hrf(spec, arch).items()))

    def as_dict(self) -> dict:
        """{place: {"ratio": r, "depth": d}}: what the model blocks read."""
        return {place: {"ratio": ratio, "depth": depth} for place, ratio, depth in self.settings}

    @property
    def spec(self) -> str:
        """The canonical spec ('none', 'ffn2@8x1', 'ffn1+ffn2@4x2', …): the variant name's HRF part."""
        return format_hrf(self.as_dict())

    def with_setting(self, ratio: int, depth: int) -> Placement:
        """The same places, each with (ratio, depth) (checked)."""
        return Placement.parse({place: {"ratio": ratio, "depth": depth} for place in self.places}, self.arch)

    @property
    def places(self) -> tuple[str, ...]:
        return tuple(place for place, _, _ in self.settings)

    @property
    def is_all(self) -> bool:
        return bool(self.settings) and set(self.places) == set(places_for(self.arch))

    @property
    def mixed(self) -> bool:
        """Places with different (ratio, depth)."""
        return len({(r, d) for _, r, d in self.settings}) > 1


def places_for(arch: str) -> tuple[str, ...]:
    """The places an architecture has: the macaron FFN places exist only in the Conformer."""
    return PLACES if arch == "conformer" else tuple(p for p in PLACES if p not in CONFORMER_ONLY)


def gives_setting(spec: str) -> bool:
    """Whether a spec string states a ratio and depth (`@<ratio>x<depth>`) in any of its groups."""
    return any((m := _GROUP.match(group)) and m["ratio"]
               for group in str(spec).lower().replace(" ", "").split(","))


def parse_hrf(spec, arch: str) -> dict:
    """Parse a placement spec (string, dict or None) for `arch` into {place: {"ratio", "depth"}}."""
    if spec is None or spec == "" or (isinstance(spec, str) and spec.strip().lower() == "none"):
        return {}
    if isinstance(spec, dict):
        return _checked({k: dict(v) for k, v in spec.items()}, arch, spec)
    hrf = {}
    for group in str(spec).lower().replace(" ", "").split(","):
        match = _GROUP.match(group)
        if not match:
            raise ValueError(f"HRF spec {spec!r}: cannot read {group!r}; write e.g. 'ffn2@8x1' or "
                             "'ffn1+ffn2@4x2' (places joined by '+', then @<ratio>x<depth>)")
        ratio = int(match["ratio"] or DEFAULT_RATIO)
        depth = int(match["depth"] or DEFAULT_DEPTH)
        for name in re.split(r"[+&]", match["names"]):
            name = ALIASES.get(name, name)
            for place in (places_for(arch) if name == "all" else (name,)):
                if place in hrf:
                    raise ValueError(f"HRF spec {spec!r}: place {place!r} is given twice; name each place "
                                     "once")
                hrf[place] = {"ratio": ratio, "depth": depth}
    return _checked(hrf, arch, spec)


def _checked(hrf: dict, arch: str, spec) -> dict:
    allowed = places_for(arch)
    for place, setting in hrf.items():
        if place not in allowed:
            hint = " (the macaron FFN exists only in the Conformer)" if place in CONFORMER_ONLY else ""
            raise ValueError(f"HRF spec {spec!r}: {arch} has no place {place!r}{hint}; "
                             f"places: {', '.join(allowed)}, all")
        if set(setting) != {"ratio", "depth"}:
            raise ValueError(f"HRF spec {spec!r}: place {place!r} needs exactly 'ratio' and 'depth'")
        if not (1 <= setting["ratio"] <= MAX_RATIO and 1 <= setting["depth"] <= MAX_DEPTH):
            raise ValueError(f"HRF spec {spec!r}: place {place!r} needs 1 <= ratio <= {MAX_RATIO} and 1 <= "
                             f"depth <= {MAX_DEPTH} (got ratio {setting['ratio']}, depth "
                             f"{setting['depth']}); "
                             "leave a place out for no HRF")
    return {place: dict(hrf[place]) for place in PLACES if place in hrf}


def format_hrf(hrf: dict) -> str:
    """Canonical spec string of a parsed placement: 'none', 'ffn2@8x1', 'ffn1+ffn2@4x2', …"""
    if not hrf:
        return "none"
    groups: dict[tuple[int, int], list[str]] = {}
    for place in PLACES:
        if place in hrf:
            groups.setdefault((hrf[place]["ratio"], hrf[place]["depth"]), []).append(place)
    return ",".join(f"{'+'.join(names)}@{r}x{d}" for (r, d), names in groups.items())
