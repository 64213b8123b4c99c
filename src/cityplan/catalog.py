"""Parse and validate the layer catalog (``layers/catalog.yaml``).

The catalog is data: it declares every layer of the one map (id, titles, role,
geometry type, source or derivation, source CRS, required columns, style,
licence, real/illustrative). This module only parses it; reading geodata is
:mod:`cityplan.io`'s job and assembling the one map is :mod:`cityplan.build`'s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityplan._errors import LayerNotFoundError, SchemaError
from cityplan.io.yamlfile import load_yaml
from cityplan.paths import project_root

ROLES = ("base", "plan", "facility", "demand", "constraint")
#: functional roles analyses look layers up by (``OneMap.layer_for(role)``); a layer may have several
FUNCTIONS = ("districts", "subdistricts", "district_boundaries_full", "census", "roads", "road_graph",
             "walk_network", "residential", "buildings", "water", "river_centerline", "metro_lines",
             "metro_stations", "parks", "schools", "parking", "sports", "ice_sports")
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                  "MultiPolygon", "None")
FORMATS = ("vector", "osm_pbf", "csv_wkt", "csv_table")
DERIVE_OPS = ("dissolve_by_prefix", "riverside_band", "select_points", "plan_sites")

_TOP_KEYS = {"version", "city", "storage_crs", "working_crs", "extract_bbox", "layers"}
_LAYER_KEYS = {"id", "title_zh", "title_en", "role", "geometry", "source", "derive",
               "required_columns", "keep_columns", "flags", "style", "licence", "attribution",
               "illustrative", "ref_column", "description", "group", "quantities", "roles"}
_REQUIRED_LAYER_KEYS = {"id", "title_zh", "title_en", "role", "geometry", "licence",
                        "attribution", "illustrative"}
_SOURCE_KEYS = {"file", "format", "layer", "where", "osm_tags", "crs", "encoding"}
_FLAG_KEYS = {"column", "in", "contains"}
_QUANTITY_KEYS = {"metric", "column", "unit"}


def default_catalog_path() -> Path:
    """``layers/catalog.yaml`` of the project (``$CITYPLAN_CATALOG`` overrides)."""
    env = os.environ.get("CITYPLAN_CATALOG")
    return Path(env) if env else project_root() / "layers" / "catalog.yaml"


@dataclass(frozen=True)
class SourceSpec:
    """Where a layer's features come from."""

    file: str
    format: str = "vector"
    layer: str | None = None
    where: str | None = None
    osm_tags: tuple[str, ...] = ()
    crs: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class FlagSpec:
    """A boolean column computed from another column (``in`` a list or ``contains`` text)."""

    name: str
    column: str
    values: tuple[str, ...] = ()
    contains: str | None = None


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the one map, as declared in the catalog."""

    id: str
    title_zh: str
    title_en: str
    role: str
    geometry: str
    licence: str
    attribution: str
    illustrative: bool
    source: SourceSpec | None = None
    derive: dict[str, Any] | None = None
    required_columns: tuple[str, ...] = ()
    keep_columns: tuple[str, ...] | None = None
    flags: tuple[FlagSpec, ...] = ()
    style: dict[str, Any] = field(default_factory=dict)
    ref_column: str | None = None
    description: str = ""
    group: str | None = None
    quantities: tuple[dict[str, str], ...] = ()
    roles: tuple[str, ...] = ()

    @property
    def is_table(self) -> bool:
        """True for attribute tables without geometry (e.g. census figures)."""
        return self.geometry == "None"

    @property
    def source_label(self) -> str:
        """Human label of the source (file, or ``derived from ...``)."""
        if self.source is not None:
            return self.source.file + (f" [{self.source.layer}]" if self.source.layer else "")
        assert self.derive is not None
        frm = self.derive.get("from")
        frm = ", ".join(frm) if isinstance(frm, list) else frm
        return f"derived: {self.derive['op']}({frm})"


@dataclass(frozen=True)
class Catalog:
    """The parsed catalog."""

    path: Path
    city: str
    storage_crs: str
    working_crs: str
    extract_bbox: tuple[float, float, float, float]
    layers: tuple[LayerSpec, ...]

    def get(self, layer_id: str) -> LayerSpec:
        """The layer ``layer_id``; :class:`LayerNotFoundError` listing valid ids otherwise."""
        for spec in self.layers:
            if spec.id == layer_id:
                return spec
        msg = f"unknown layer id {layer_id!r} in {self.path}; known ids: {[s.id for s in self.layers]}"
        raise LayerNotFoundError(msg)

    def with_role(self, role: str) -> list[LayerSpec]:
        """Layers declaring the functional ``role`` (see :data:`FUNCTIONS`)."""
        return [s for s in self.layers if role in s.roles]

    @property
    def ids(self) -> list[str]:
        """Layer ids in build order."""
        return [s.id for s in self.layers]


def _unknown(keys: set[str], allowed: set[str], where: str, path: Path) -> None:
    extra = sorted(keys - allowed)
    if extra:
        msg = f"{path}: {where}: unknown key(s) {extra}; allowed keys: {sorted(allowed)}"
        raise SchemaError(msg)


def _parse_layer(raw: dict[str, Any], i: int, path: Path, seen: set[str]) -> LayerSpec:
    where = f"layer #{i} ({raw.get('id', '?')})"
    if not isinstance(raw, dict):
        msg = f"{path}: {where}: expected a mapping, got {type(raw).__name__}"
        raise SchemaError(msg)
    _unknown(set(raw), _LAYER_KEYS, where, path)
    missing = sorted(_REQUIRED_LAYER_KEYS - set(raw))
    if missing:
        msg = f"{path}: {where}: missing key(s) {missing}"
        raise SchemaError(msg)
    lid = str(raw["id"])
    if lid in seen:
        msg = f"{path}: {where}: duplicate layer id {lid!r}; ids must be unique"
        raise SchemaError(msg)
    if raw["role"] not in ROLES:
        msg = f"{path}: {where}: role {raw['role']!r} is not one of {ROLES}"
        raise SchemaError(msg)
    geom = str(raw["geometry"])
    if geom not in GEOMETRY_TYPES:
        msg = f"{path}: {where}: geometry {geom!r} is not one of {GEOMETRY_TYPES}"
        raise SchemaError(msg)
    if ("source" in raw) == ("derive" in raw):
        msg = f"{path}: {where}: give exactly one of 'source' or 'derive'"
        raise SchemaError(msg)
    source = None
    if "source" in raw:
        s = raw["source"]
        _unknown(set(s), _SOURCE_KEYS, f"{where} source", path)
        if "file" not in s:
            msg = f"{path}: {where} source: 'file' is required"
            raise SchemaError(msg)
        fmt = s.get("format", "vector")
        if fmt not in FORMATS:
            msg = f"{path}: {where} source: format {fmt!r} is not one of {FORMATS}"
            raise SchemaError(msg)
        source = SourceSpec(file=s["file"], format=fmt, layer=s.get("layer"), where=s.get("where"),
                            osm_tags=tuple(s.get("osm_tags", ())), crs=s.get("crs"),
                            encoding=s.get("encoding"))
    derive = raw.get("derive")
    if derive is not None:
        if derive.get("op") not in DERIVE_OPS:
            msg = f"{path}: {where} derive: op {derive.get('op')!r} is not one of {DERIVE_OPS}"
            raise SchemaError(msg)
        frm = derive.get("from")
        deps = (frm if isinstance(frm, list) else [frm]) + [derive[k] for k in ("near", "fill_from")
                                                            if k in derive]
        for dep in deps:
            if dep not in seen:
                msg = (f"{path}: {where} derive: 'from' {dep!r} must name a layer declared "
                       "earlier in the catalog")
                raise SchemaError(msg)
    flags = []
    for name, f in (raw.get("flags") or {}).items():
        _unknown(set(f), _FLAG_KEYS, f"{where} flag {name}", path)
        flags.append(FlagSpec(name=name, column=f["column"], values=tuple(f.get("in", ())),
                              contains=f.get("contains")))
    quantities = []
    for q in raw.get("quantities") or []:
        _unknown(set(q), _QUANTITY_KEYS, f"{where} quantity", path)
        if set(q) != _QUANTITY_KEYS:
            msg = f"{path}: {where} quantity {q}: needs metric, column and unit"
            raise SchemaError(msg)
        quantities.append({k: str(v) for k, v in q.items()})
    if raw["role"] == "plan" and "task_id" not in raw.get("required_columns", ()):
        msg = (f"{path}: {where}: a plan layer must list 'task_id' in required_columns "
               "(every plan feature names the task it serves)")
        raise SchemaError(msg)
    roles = raw.get("roles") or []
    if not isinstance(roles, list) or any(r not in FUNCTIONS for r in roles):
        msg = f"{path}: {where}: roles {roles!r} must be a list of {FUNCTIONS}"
        raise SchemaError(msg)
    keep = raw.get("keep_columns")
    return LayerSpec(
        id=lid, title_zh=str(raw["title_zh"]), title_en=str(raw["title_en"]), role=raw["role"],
        geometry=geom, licence=str(raw["licence"]), attribution=str(raw["attribution"]),
        illustrative=bool(raw["illustrative"]), source=source, derive=derive,
        required_columns=tuple(raw.get("required_columns", ())),
        keep_columns=tuple(keep) if keep is not None else None, flags=tuple(flags),
        style=dict(raw.get("style") or {}), ref_column=raw.get("ref_column"),
        description=str(raw.get("description", "")).strip(), group=raw.get("group"),
        quantities=tuple(quantities), roles=tuple(roles),
    )


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Load and validate a catalog file.

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError
        Unknown or missing keys, duplicate ids, bad roles/types/ops, derivations
        referring to layers not declared before them.
    """
    p = Path(path) if path is not None else default_catalog_path()
    raw = load_yaml(p, what="catalog file")
    if not isinstance(raw, dict) or "layers" not in raw:
        msg = f"{p}: expected a mapping with a 'layers' list"
        raise SchemaError(msg)
    _unknown(set(raw), _TOP_KEYS, "top level", p)
    seen: set[str] = set()
    layers = []
    for i, item in enumerate(raw["layers"]):
        spec = _parse_layer(item, i, p, seen)
        seen.add(spec.id)
        layers.append(spec)
    bbox = tuple(float(v) for v in raw.get("extract_bbox", (-180, -90, 180, 90)))
    return Catalog(path=p, city=str(raw.get("city", "")), storage_crs=str(raw.get("storage_crs", "EPSG:4326")),
                   working_crs=str(raw.get("working_crs", "EPSG:4551")), extract_bbox=bbox,  # type: ignore[arg-type]
                   layers=tuple(layers))
