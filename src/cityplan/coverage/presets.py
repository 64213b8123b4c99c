"""Coverage presets (``layers/coverage_presets.yaml``) and the ``--within`` parser."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityplan._errors import CoverageError, SchemaError
from cityplan.io.yamlfile import load_yaml
from cityplan.paths import project_root

METHODS = ("euclid", "walk", "bike", "drive")
_KEYS = {"id", "title_zh", "title_en", "facilities", "method", "within", "speed_kmh", "radius_rules",
         "target", "citation", "demand"}


@dataclass(frozen=True)
class Within:
    """A limit: metres (``unit='m'``) or seconds (``unit='s'``), with the user's text."""

    value: float
    unit: str
    text: str

    @property
    def minutes(self) -> float | None:
        """The limit in minutes for time limits."""
        return self.value / 60 if self.unit == "s" else None


def parse_within(text: str) -> Within:
    """Parse ``500m``, ``1.5km``, ``15min``, ``1h``; a number without unit is refused."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(m|km|min|h)\s*", str(text))
    if not m:
        msg = (f"--within {text!r}: give a number with a unit - metres (500m, 1.5km) or minutes "
               "(15min, 1h)")
        raise CoverageError(msg)
    v, u = float(m.group(1)), m.group(2)
    if v <= 0:
        msg = f"--within {text!r}: must be positive"
        raise CoverageError(msg)
    if u in ("m", "km"):
        return Within(v * (1000 if u == "km" else 1), "m", text.strip())
    return Within(v * (3600 if u == "h" else 60), "s", text.strip())


@dataclass(frozen=True)
class Preset:
    """A coverage standard."""

    id: str
    title_zh: str
    title_en: str
    facilities: tuple[dict[str, Any], ...]
    method: str
    within: Within
    citation: str
    speed_kmh: float | None = None
    radius_rules: tuple[dict[str, float], ...] = ()
    target: dict[str, Any] = field(default_factory=dict)
    demand: str = "residential"


def presets_path() -> Path:
    """``layers/coverage_presets.yaml`` (``$CITYPLAN_PRESETS`` overrides)."""
    env = os.environ.get("CITYPLAN_PRESETS")
    return Path(env) if env else project_root() / "layers" / "coverage_presets.yaml"


def load_presets(path: str | os.PathLike[str] | None = None) -> dict[str, Preset]:
    """All presets by id, validated."""
    p = Path(path) if path else presets_path()
    raw = load_yaml(p, what="coverage presets file") or {}
    out: dict[str, Preset] = {}
    for i, r in enumerate(raw.get("presets", [])):
        extra = set(r) - _KEYS
        if extra:
            msg = f"{p}: preset #{i}: unknown key(s) {sorted(extra)}; allowed {sorted(_KEYS)}"
            raise SchemaError(msg)
        if r.get("method") not in METHODS:
            msg = f"{p}: preset {r.get('id')!r}: method {r.get('method')!r} is not one of {METHODS}"
            raise SchemaError(msg)
        if not r.get("citation"):
            msg = f"{p}: preset {r.get('id')!r} needs a citation"
            raise SchemaError(msg)
        out[r["id"]] = Preset(
            id=r["id"], title_zh=r["title_zh"], title_en=r["title_en"],
            facilities=tuple(r["facilities"]), method=r["method"], within=parse_within(r["within"]),
            citation=r["citation"], speed_kmh=r.get("speed_kmh"),
            radius_rules=tuple(r.get("radius_rules", ())), target=dict(r.get("target") or {}),
            demand=r.get("demand", "residential"))
    return out


def get_preset(name: str, path: str | os.PathLike[str] | None = None) -> Preset:
    """One preset; :class:`CoverageError` listing the valid ids otherwise."""
    presets = load_presets(path)
    if name not in presets:
        msg = f"unknown coverage preset {name!r}; presets: {sorted(presets)} (cityplan coverage presets)"
        raise CoverageError(msg)
    return presets[name]
