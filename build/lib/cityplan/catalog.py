"""Parse and validate the layer catalog (``catalog.yaml`` of the city profile).

The catalog is data: it declares every layer of the one map (id, titles, role,
geometry type, source or derivation, source CRS, required columns, style,
licence, real/illustrative). This module only parses it; reading geodata is
:mod:`cityplan.io`'s job and assembling the one map is :mod:`cityplan.build`'s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from typing import Any

from cityplan._errors import LayerNotFoundError
from cityplan.profile import Profile, profile_file
from cityplan.schema.catalog import (
    DERIVE_OPS,
    FORMATS,
    FUNCTIONS,
    GEOMETRY_TYPES,
    ROLES,
    LayerModel,
    load_catalog_document,
)

# vocabularies live with the schema (cityplan.schema.catalog); re-exported for callers
__all__ = ["DERIVE_OPS", "FORMATS", "FUNCTIONS", "GEOMETRY_TYPES", "ROLES", "Catalog", "FlagSpec", "LayerSpec",
           "SourceSpec", "load_catalog"]

#: the catalog's file in a profile folder
CATALOG_FILE = "catalog.yaml"


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
    redistribute: bool = True

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

    path: Traversable
    city: str
    storage_crs: str
    working_crs: str | None
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


def _layer_spec(m: LayerModel) -> LayerSpec:
    source = None
    if m.source is not None:
        s = m.source
        source = SourceSpec(file=s.file, format=s.format, layer=s.layer, where=s.where,
                            osm_tags=tuple(s.osm_tags), crs=s.crs, encoding=s.encoding)
    flags = tuple(FlagSpec(name=name, column=f.column, values=tuple(f.in_), contains=f.contains)
                  for name, f in m.flags.items())
    return LayerSpec(
        id=m.id, title_zh=m.title_zh, title_en=m.title_en, role=m.role, geometry=m.geometry,
        licence=m.licence, attribution=m.attribution, illustrative=m.illustrative, source=source,
        derive=m.derive.model_dump(by_alias=True, exclude_unset=True) if m.derive else None,
        required_columns=tuple(m.required_columns),
        keep_columns=tuple(m.keep_columns) if m.keep_columns is not None else None, flags=flags,
        style=dict(m.style), ref_column=m.ref_column, description=m.description.strip(), group=m.group,
        quantities=tuple(q.model_dump() for q in m.quantities), roles=tuple(m.roles),
        redistribute=m.redistribute,
    )


def load_catalog(source: Profile | str | os.PathLike[str] | Traversable) -> Catalog:
    """Load and validate a profile's catalog, or a catalog file (schema: :mod:`cityplan.schema.catalog`).

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError
        Unknown or missing keys, wrong types, duplicate ids, bad roles/types/ops, derivations
        referring to layers not declared before them (one line naming the layer and field).
    """
    if isinstance(source, Profile):
        return source.memo("catalog", lambda: load_catalog(source.file(CATALOG_FILE)))
    p = profile_file(source, CATALOG_FILE)
    doc = load_catalog_document(p)
    return Catalog(path=p, city=doc.city, storage_crs=doc.storage_crs, working_crs=doc.working_crs,
                   extract_bbox=tuple(doc.extract_bbox),  # type: ignore[arg-type]
                   layers=tuple(_layer_spec(m) for m in doc.layers))
