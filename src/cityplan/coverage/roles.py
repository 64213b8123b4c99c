"""Presets name functional roles, not layer ids: resolved through the one map's catalog.

A preset's facility entry ``{role: parking}`` stands for every layer of the map that declares the
role ``parking`` (``roles:`` in the catalog), in catalog order, so one preset runs on every city:
Harbin's ``parking``, ``parking_points`` and ``plan_parking`` (a plan layer: counted in the
planned scenario only), a new city's ``parking`` and ``parking_points``. ``{layer: ID}`` names one
layer (explicit and user presets). The demand is the first layer with the preset's demand role
(``residential`` unless the preset says otherwise).

A preset the map cannot answer - no layer with a role it needs, or only empty ones - is *not
available here*: :func:`preset_availability` says so in one line (``not available here: needs
parks``); ``cityplan coverage presets`` lists it, ``report`` and ``checkup`` skip it with that
reason, and a run of it stops with :class:`PresetUnavailableError` (exit code 2).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from cityplan._errors import CoverageError
from cityplan.catalog import Catalog, load_catalog
from cityplan.coverage.presets import Preset, get_preset
from cityplan.onemap import OneMap
from cityplan.profile import Profile

logger = logging.getLogger(__name__)

#: the reason's prefix for a preset the map cannot answer
UNAVAILABLE = "not available here"
#: the roles each method routes on (besides the facilities and the demand)
NETWORK_ROLES: dict[str, tuple[tuple[str, ...], ...]] = {
    "euclid": (),
    "walk": (("road_graph",),),
    "bike": (("road_graph",),),
    "drive": (("road_graph",),),
    # transit walks on the walk network (else the road graph) and rides the metro
    "transit": (("walk_network", "road_graph"), ("metro_lines",), ("metro_stations",)),
}


class PresetUnavailableError(CoverageError):
    """A preset needs a role (or layer) the one map lacks, or holds no feature of."""


class _Lookup:
    """Roles and feature counts of a one map, or the roles of a profile's catalog (not built: no counts)."""

    def __init__(self, source: OneMap | Profile | Catalog) -> None:
        self.om = source if isinstance(source, OneMap) else None
        self.catalog = (None if isinstance(source, OneMap) else
                        source if isinstance(source, Catalog) else load_catalog(source))

    def layers(self, role: str) -> list[str]:
        if self.om is not None:
            return self.om.layers_with_role(role)
        assert self.catalog is not None
        return [s.id for s in self.catalog.with_role(role)]

    def has(self, layer_id: str) -> bool:
        if self.om is not None:
            return self.om.has_layer(layer_id)
        assert self.catalog is not None
        return layer_id in self.catalog.ids

    def count(self, layer_id: str, where: dict[str, list[Any]]) -> int | None:
        """Features of the layer passing ``where`` (0 when a filter column is missing); None when unknown."""
        if self.om is None:
            return None
        cat = self.om.catalog
        n: Any = None
        if "features" in cat.columns:
            n = pd.to_numeric(cat.loc[cat["layer"] == layer_id, "features"], errors="coerce").max()
        if n is None or pd.isna(n):
            n = len(self.om.layer(layer_id))
        if int(n) == 0 or not where:
            return int(n)
        gdf = self.om.layer(layer_id)
        if any(c not in gdf.columns for c in where):
            return 0
        keep = pd.Series(True, index=gdf.index)
        for col, vals in where.items():
            keep &= gdf[col].isin(vals)
        return int(keep.sum())


def _where_text(where: dict[str, list[Any]]) -> str:
    return "; ".join(f"{col}: {', '.join(str(v) for v in vals)}" for col, vals in where.items())


def _layers_of(entry: dict[str, Any], lookup: _Lookup) -> tuple[str, list[str] | None]:
    """What an entry names (``parks``, ``layer ID``) and its layers; None for a file read at run time."""
    if "role" in entry:
        return str(entry["role"]), lookup.layers(str(entry["role"]))
    lid = str(entry["layer"])
    if lookup.has(lid):
        return f"layer {lid}", [lid]
    return f"layer {lid}", (None if Path(lid).exists() else [])


def _needs(entry: dict[str, Any], lookup: _Lookup) -> str | None:
    """What the map lacks for one facility (or demand) entry - ``parks`` when no layer has the role
    or all of them are empty; None when it has it (or cannot tell: a profile not built, a file)."""
    what, ids = _layers_of(entry, lookup)
    if ids is None:
        return None
    if not ids or all(lookup.count(lid, {}) == 0 for lid in ids):
        return what
    return None


def _filtered_out(entries: tuple[dict[str, Any], ...], lookup: _Lookup) -> list[str]:
    """The entries (with their filters) when no feature of any of them passes its filter, else ``[]``.

    One entry filtered to nothing while another has features is fine (the facilities are a union);
    all of them filtered to nothing leaves the preset without a facility.
    """
    labels = []
    for entry in entries:
        what, ids = _layers_of(entry, lookup)
        where = entry.get("where") or {}
        counts = [lookup.count(lid, where) for lid in ids or []]
        if ids is None or any(c is None or c > 0 for c in counts):
            return []
        labels.append(what + (f" ({_where_text(where)})" if where else ""))
    return labels


def _network_needs(method: str, lookup: _Lookup) -> list[str]:
    out = []
    for options in NETWORK_ROLES.get(method, ()):
        if all(_needs({"role": r}, lookup) for r in options):
            out.append(" or ".join(options))
    return out


def preset_needs(preset: Preset | str, source: OneMap | Profile | Catalog) -> list[str]:
    """What ``source`` lacks to run ``preset``: roles (``parks``), ``layer ID``s, with filters; empty when none.

    Checked: every facility entry (some layer with the role, holding a feature), that the entries'
    filters leave at least one facility, the demand, the districts and the roles the method routes
    on. A profile (or catalog) not built into a map is checked for the roles alone.
    """
    lookup = _Lookup(source)
    if isinstance(preset, str):
        profile = source.profile if isinstance(source, OneMap) else source
        if not isinstance(profile, Profile):
            msg = f"preset {preset!r} named by id needs a one map or a profile to look it up in"
            raise CoverageError(msg)
        preset = get_preset(preset, profile)
    needs = [n for entry in preset.facilities if (n := _needs(entry, lookup))]
    if not needs:
        needs = _filtered_out(preset.facilities, lookup)
    demand = _needs(dict(preset.demand), lookup)
    needs += [demand] if demand else []
    needs += [n for n in [_needs({"role": "districts"}, lookup)] if n]
    needs += _network_needs(preset.method, lookup)
    return list(dict.fromkeys(needs))


def preset_availability(preset: Preset | str, source: OneMap | Profile | Catalog) -> tuple[bool, str]:
    """Whether ``source`` (a one map, or a profile / catalog not built) can run ``preset``, and why not.

    Returns
    -------
    available : bool
    reason : str
        ``""`` when available, else one line: ``not available here: needs parks`` (every role or
        layer lacking, with the entry's filter when only the filter leaves nothing).
    """
    needs = preset_needs(preset, source)
    return (not needs, f"{UNAVAILABLE}: needs {', '.join(needs)}" if needs else "")


def describe_facilities(preset: Preset, source: OneMap | Profile | Catalog) -> str:
    """The preset's facilities as ``source`` resolves them: ``parking: parking, parking_points, plan_parking``."""
    lookup = _Lookup(source)
    parts = []
    for entry in preset.facilities:
        if "role" in entry:
            ids = lookup.layers(str(entry["role"]))
            text = f"{entry['role']}: {', '.join(ids) if ids else '(no layer)'}"
        else:
            text = f"layer {entry['layer']}"
        where = entry.get("where") or {}
        parts.append(text + (f" [{_where_text(where)}]" if where else ""))
    return "; ".join(parts)


def check_roles(facilities: tuple[dict[str, Any], ...], demand_role: str | None, om: OneMap,
                preset: Preset | None) -> None:
    """Refuse a run whose role entries (or demand role) the map cannot answer.

    Raises
    ------
    PresetUnavailableError
        One line: ``--preset ID: not available here: needs ROLE``, what the map lacks and the fix.
    """
    lookup = _Lookup(om)
    needs = [n for entry in facilities if "role" in entry and (n := _needs(entry, lookup))]
    if demand_role and (n := _needs({"role": demand_role}, lookup)):
        needs.append(n)
    if not needs:
        return
    what = f"--preset {preset.id}" if preset is not None else "coverage"
    msg = (f"{what}: {UNAVAILABLE}: needs {', '.join(dict.fromkeys(needs))} ({om.label} has no layer with "
           "that role holding a feature; declare `roles: [ROLE]` on a layer of the catalog and rebuild, "
           "or see `cityplan coverage presets` for what this map can answer)")
    raise PresetUnavailableError(msg)


def resolve_facilities(entries: tuple[dict[str, Any], ...],
                       om: OneMap) -> tuple[tuple[dict[str, Any], ...], list[str]]:
    """Role entries -> one entry per layer with the role (catalog order); ``layer`` entries as they are.

    Each resolved entry is the original with ``layer`` set (and ``role`` kept: where it came from),
    so its ``where`` filter, ``keep`` columns and ``plan`` flag apply to every layer of the role. A
    layer of the role lacking a column of the filter is left out (with a note); a layer reached
    twice with the same filter counts once.

    Returns
    -------
    entries : tuple of dict
        ``{"layer": ID, ...}`` entries for :func:`cityplan.coverage.inputs.facilities_frame`.
    notes : list of str
        Layers left out, for the run's warnings.
    """
    out: list[dict[str, Any]] = []
    notes: list[str] = []
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        if "role" not in entry:
            out.append(dict(entry))
            continue
        role, where = str(entry["role"]), entry.get("where") or {}
        for lid in om.layers_with_role(role):
            if where:
                cols = om.layer(lid).columns
                missing = [c for c in where if c not in cols]
                if missing:
                    msg = (f"layer {lid} (role {role}) has no column {missing[0]!r} of the preset's filter "
                           f"({_where_text(where)}); left out")
                    logger.warning(msg)
                    notes.append(msg)
                    continue
            key = (lid, json.dumps(where, sort_keys=True, default=str))
            if key in seen:
                continue
            seen.add(key)
            out.append({**entry, "layer": lid})
    return tuple(out), notes
