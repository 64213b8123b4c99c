"""Schema of the layer catalog (``catalog.yaml`` of the city profile); parsed into dataclasses by :mod:`cityplan.catalog`.

Top level: ``version``, ``city``, ``storage_crs``, ``working_crs``, ``extract_bbox`` (4 numbers,
lon/lat), ``layers`` (list). Each layer: see :class:`LayerModel`. Rules across entries (checked by
:func:`load_catalog_document`): ids unique; a derivation's ``from``/``near``/``fill_from``/``join``
layers are declared earlier.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from cityplan._errors import SchemaError
from cityplan.schema._base import StrictModel, Unit, load_document

ROLES = ("base", "plan", "facility", "demand", "constraint")
#: functional roles analyses look layers up by (``OneMap.layer_for(role)``); a layer may have several
FUNCTIONS = ("districts", "subdistricts", "district_boundaries_full", "census", "roads", "road_graph",
             "walk_network", "residential", "buildings", "water", "river_centerline", "metro_lines",
             "metro_stations", "parks", "schools", "parking", "sports", "ice_sports",
             # hospitals, clinics, doctors and other health care (OSM amenity / healthcare), as points
             "health",
             # sports facilities mapped as grounds (areas: stadiums, sports centres, pitches); coverage
             # presets that count sites with land (GB 50180 sports centres) name it
             "sports_grounds",
             # statutory layers a planning office may hold (review rule templates use them when present)
             "permanent_farmland", "ecological_redline", "urban_growth_boundary", "regulatory_parcels",
             "purple_line", "yellow_line")
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                  "MultiPolygon", "None")
FORMATS = ("vector", "osm_pbf", "csv_wkt", "csv_table")
DERIVE_OPS = ("dissolve_by_prefix", "riverside_band", "select_points", "plan_sites")
_LAYER_ID = r"^[A-Za-z][A-Za-z0-9_]*$"


class SourceModel(StrictModel):
    """``source:`` of a layer read from a file (paths relative to the data folder)."""

    file: str
    format: Literal[FORMATS] = "vector"  # type: ignore[valid-type]
    layer: str | None = None
    where: str | None = None
    osm_tags: list[str] = []
    crs: str | None = None
    encoding: str | None = None


class DeriveModel(StrictModel):
    """``derive:`` of a layer computed from others; op-specific parameters are checked by the op."""

    model_config = ConfigDict(extra="allow")

    op: Literal[DERIVE_OPS]  # type: ignore[valid-type]
    from_: Any = Field(alias="from")
    near: str | None = None
    fill_from: str | None = None

    @field_validator("from_")
    @classmethod
    def _layer_ids(cls, v: Any) -> Any:
        ok = isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v))
        if not ok:
            msg = f"'from' {v!r} must be a layer id or a list of layer ids"
            raise ValueError(msg)
        return v

    def dependencies(self) -> list[str]:
        """Layer ids this derivation reads."""
        deps = list(self.from_) if isinstance(self.from_, list) else [self.from_]
        deps += [x for x in (self.near, self.fill_from) if x]
        join = (self.model_extra or {}).get("join")
        if isinstance(join, dict) and isinstance(join.get("layer"), str):
            deps.append(join["layer"])
        return deps


class FlagModel(StrictModel):
    """A boolean column computed from ``column``: its value is ``in`` a list, or ``contains`` text."""

    column: str
    in_: list[str] = Field(default=[], alias="in")
    contains: str | None = None


class QuantityModel(StrictModel):
    """A measured quantity of a plan layer: target ``metric`` read from ``column`` in ``unit``."""

    metric: str
    column: str
    unit: Unit



class LayerModel(StrictModel):
    """One layer of the one map."""

    id: str = Field(pattern=_LAYER_ID)
    title_zh: str
    title_en: str
    role: Literal[ROLES]  # type: ignore[valid-type]
    geometry: Literal[GEOMETRY_TYPES]  # type: ignore[valid-type]
    licence: str
    attribution: str
    illustrative: bool
    source: SourceModel | None = None
    derive: DeriveModel | None = None
    required_columns: list[str] = []
    keep_columns: list[str] | None = None
    flags: dict[str, FlagModel] = {}
    style: dict[str, Any] = {}
    ref_column: str | None = None
    description: str = ""
    group: str | None = None
    quantities: list[QuantityModel] = []
    roles: list[Literal[FUNCTIONS]] = []  # type: ignore[valid-type]
    #: False when the licence forbids passing the layer on (published exports leave it out)
    redistribute: bool = True

    @model_validator(mode="after")
    def _rules(self) -> LayerModel:
        if (self.source is None) == (self.derive is None):
            msg = "give exactly one of 'source' or 'derive'"
            raise ValueError(msg)
        if self.role == "plan" and "task_id" not in self.required_columns:
            msg = ("a plan layer must list 'task_id' in required_columns "
                   "(every plan feature names the task it serves)")
            raise ValueError(msg)
        return self


class CatalogModel(StrictModel):
    """The whole catalog file."""

    version: Literal[1] = 1
    city: str = ""
    storage_crs: str = "EPSG:4326"
    working_crs: str | None = None  # None: the GK3 zone (CGCS2000) of the extract's centre
    extract_bbox: list[float] = Field(default=[-180.0, -90.0, 180.0, 90.0], min_length=4, max_length=4)
    layers: list[LayerModel] = Field(min_length=1)

    @field_validator("extract_bbox")
    @classmethod
    def _bbox(cls, v: list[float]) -> list[float]:
        if not (v[0] < v[2] and v[1] < v[3]):
            msg = f"extract_bbox {v} must be [min_lon, min_lat, max_lon, max_lat] with min < max"
            raise ValueError(msg)
        return v


def load_catalog_document(path: str | os.PathLike[str]) -> CatalogModel:
    """Read and validate a catalog file, including the rules across layers.

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError
        Anything wrong with it, one line naming the layer and field.
    """
    doc = load_document(path, CatalogModel, what="catalog file")
    seen: set[str] = set()
    for i, layer in enumerate(doc.layers):
        where = f"{path}: layer #{i} ({layer.id})"
        if layer.id in seen:
            msg = f"{where}: duplicate layer id {layer.id!r}; ids must be unique"
            raise SchemaError(msg)
        for dep in layer.derive.dependencies() if layer.derive else ():
            if dep not in seen:
                msg = (f"{where}: derive: {dep!r} must name a layer declared earlier in the catalog "
                       f"(move {layer.id!r} below {dep!r}, or fix the id)")
                raise SchemaError(msg)
        seen.add(layer.id)
    return doc
