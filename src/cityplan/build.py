"""Build the one map: a city profile + its data folder -> CRS policy -> validation -> one store.

Every layer of the profile's catalog is read (or derived), checked against its declared schema
and geometry type, repaired or dropped feature by feature with a reason in the ledger, and
written with a catalog/provenance table, the ledger, build info and the profile itself (every
settings file, so commands on the map read the city's settings from the map).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from cityplan import __version__
from cityplan._errors import OutputExistsError, SchemaError
from cityplan.catalog import Catalog, LayerSpec, load_catalog
from cityplan.io.hashing import sha256_file
from cityplan.io.read import read_table, read_vector
from cityplan.paths import data_dir, default_location
from cityplan.profile import Profile, load_profile
from cityplan.store import is_url, location_label, open_store
from cityplan.store.base import DEFAULT_KEEP, BuildPayload, LayerMeta
from cityplan.store.styles import qml_for
from cityplan.tasks.register import Register, load_register
from cityplan.tasks.sites import make_plan_sites
from cityplan.tools.derive import dissolve_by_prefix, riverside_band, select_points
from cityplan.tools.geometry import Ledger, clean_geometries

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_onemap` wrote."""

    path: Path | str
    summary: pd.DataFrame
    ledger: pd.DataFrame
    info: dict[str, str]


def check_columns(df: pd.DataFrame, required: tuple[str, ...] | list[str], *, source: str) -> None:
    """Raise :class:`SchemaError` naming the missing columns and those present."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        present = [c for c in df.columns if c != "geometry"]
        msg = (f"{source}: missing required column(s) {missing}; the file has {present}. "
               "Rename the columns or fix required_columns in the catalog")
        raise SchemaError(msg)


def _osm_ref(gdf: gpd.GeoDataFrame, layer: str | None) -> pd.Series:
    if layer == "multipolygons":
        rel = gdf["osm_id"].astype("string")
        way = gdf["osm_way_id"].astype("string")
        return ("relation/" + rel).where(rel.notna(), "way/" + way)
    kind = "node" if layer == "points" else "way"
    return kind + "/" + gdf["osm_id"].astype("string")


def _read_osm_keeping_broken(path: Path, src, exc: Exception) -> gpd.GeoDataFrame:
    """An OSM layer with a geometry GEOS cannot parse (a ring of two points where the extract clip
    cut a way): such geometries are kept as missing, so the ledger drops them with a reason."""
    import pyogrio

    from cityplan.crs import ensure_crs
    from cityplan.io.read import parse_osm_tags

    logger.warning("%s layer %s: unparseable geometries kept as missing (%s)", path, src.layer, exc)
    gdf = pyogrio.read_dataframe(path, layer=src.layer, where=src.where, use_arrow=False, on_invalid="ignore")
    if src.osm_tags:
        gdf = pd.concat([gdf, parse_osm_tags(gdf["other_tags"], [k for k in src.osm_tags if k not in gdf.columns])],
                        axis=1)
    return ensure_crs(gdf.reset_index(drop=True), src.crs, source=f"{path} layer {src.layer!r}")


def read_source(spec: LayerSpec, root: Path) -> pd.DataFrame:
    """Read a catalog layer's source file as declared (no cleaning)."""
    assert spec.source is not None
    src = spec.source
    path = root / src.file
    if src.format == "csv_table":
        return read_table(path, encoding=src.encoding)
    try:
        gdf = read_vector(path, layer=src.layer, crs=src.crs, encoding=src.encoding, where=src.where,
                          osm_tags=list(src.osm_tags) or None)
    except shapely.errors.GEOSException as exc:
        if src.format != "osm_pbf":
            raise
        gdf = _read_osm_keeping_broken(path, src, exc)
    if src.format == "osm_pbf":
        gdf["osm_ref"] = _osm_ref(gdf, src.layer)
    return gdf


def apply_flags(df: pd.DataFrame, spec: LayerSpec, *, source: str) -> pd.DataFrame:
    """Add the catalog's boolean flag columns."""
    out = df.copy()
    for f in spec.flags:
        check_columns(out, [f.column], source=f"{source} (flag {f.name})")
        col = out[f.column].astype("string").fillna("")
        if f.contains is not None:
            out[f.name] = col.str.contains(f.contains, regex=False).astype(bool)
        else:
            out[f.name] = col.isin(f.values).astype(bool)
            missing = set(f.values) - set(col)
            if missing:
                msg = (f"{source}: flag {f.name!r} lists value(s) {sorted(missing)} not found in "
                       f"column {f.column!r}; fix the catalog")
                raise SchemaError(msg)
    return out


def derive_layer(
    spec: LayerSpec, loaded: dict[str, pd.DataFrame], catalog: Catalog,
    register: Callable[[], Register] | None = None,
) -> gpd.GeoDataFrame:
    """Compute a derived layer from layers built before it."""
    d = dict(spec.derive or {})
    op = d["op"]
    if op == "plan_sites":
        if register is None:
            msg = f"layer {spec.id!r}: plan sites need the city's task register (pass the profile's)"
            raise SchemaError(msg)
        return make_plan_sites(spec.id, d, loaded, register())
    if op == "dissolve_by_prefix":
        join = d.get("join") or {}
        return dissolve_by_prefix(
            loaded[d["from"]], column=d["column"], length=int(d["length"]), as_=d["as"],
            table=loaded.get(join.get("layer")) if join else None, on=join.get("on"),
            columns=join.get("columns"), fill=loaded.get(d.get("fill_from")) if d.get("fill_from") else None,
            bbox=catalog.extract_bbox if d.get("clip_to_extract") else None,
        )
    if op == "riverside_band":
        return riverside_band(loaded[d["from"]], width_m=float(d["width_m"]), bbox=catalog.extract_bbox)
    if op == "select_points":
        return select_points({k: loaded[k] for k in d["from"]}, any_of=d["any_of"])
    msg = f"layer {spec.id!r}: unknown derive op {op!r}"
    raise SchemaError(msg)


def load_layer(
    spec: LayerSpec, root: Path, loaded: dict[str, pd.DataFrame], catalog: Catalog, ledger: Ledger,
    register: Callable[[], Register] | None = None,
) -> tuple[pd.DataFrame, int]:
    """Read or derive one layer, validate and clean it.

    Returns
    -------
    (DataFrame, int)
        The clean layer and the number of source features it started from.
    """
    source = f"{spec.source.file} (layer {spec.id})" if spec.source else f"derived layer {spec.id}"
    df = read_source(spec, root) if spec.source else derive_layer(spec, loaded, catalog, register)
    n_in = len(df)
    check_columns(df, spec.required_columns, source=source)
    check_columns(df, [q["column"] for q in spec.quantities], source=f"{source} (quantities)")
    if spec.keep_columns is not None:
        check_columns(df, spec.keep_columns, source=source)
        keep = list(spec.keep_columns) + ([] if spec.is_table else ["geometry"])
        df = df[keep]
    df = apply_flags(df, spec, source=source)
    if spec.is_table:
        return df.reset_index(drop=True), n_in
    label = spec.source.file if spec.source else spec.source_label
    clean = clean_geometries(df, geometry_type=spec.geometry, layer=spec.id, source=label,
                             ledger=ledger, ref_column=spec.ref_column)
    # derived layers keep the source_row of the layer they came from
    clean = clean.reset_index(drop="source_row" in clean.columns, names="source_row")
    clean["illustrative"] = spec.illustrative
    return clean, n_in


def build_onemap(
    *,
    city: Profile | str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    layers: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    keep: int = DEFAULT_KEEP,
) -> BuildResult:
    """Build the one-map GeoPackage.

    Parameters
    ----------
    city : Profile, str or path-like
        The city profile: a built-in id (``harbin``) or a profile folder (:mod:`cityplan.profile`).
    data : path-like, optional
        Data folder the catalog's paths are relative to (default: :func:`cityplan.paths.data_dir`).
    out : path-like or str, optional
        Output GeoPackage, or a ``postgresql://USER@HOST:PORT/DB[?schema=NAME]`` URL
        (default: :func:`cityplan.paths.default_location`).
    overwrite : bool, default False
        Replace an existing output; otherwise :class:`OutputExistsError`.
    layers : list of str, optional
        Build only these layer ids (and what they derive from).
    progress : callable, optional
        Called with each layer id after it is done (for progress bars).
    keep : int, default 5
        Builds the store keeps, this one included (earlier ones read-only, for ``cityplan diff``);
        1 keeps none.

    Returns
    -------
    BuildResult
        Output path, per-layer summary, the repair/drop ledger and build info.
    """
    profile = load_profile(city)
    cat = load_catalog(profile)
    root = data_dir(data)
    target: Path | str = (out if is_url(out) else Path(out)) if out is not None else default_location()
    store = open_store(target)
    if not overwrite and (store.exists() if is_url(target) else Path(target).exists()):
        msg = f"{location_label(target)}: output exists; pass --overwrite to replace it"
        raise OutputExistsError(msg)
    wanted = _with_dependencies(cat, layers) if layers else set(cat.ids)
    ledger = Ledger()
    loaded: dict[str, pd.DataFrame] = {}
    reg_cache: list[Register] = []

    def register() -> Register:
        if not reg_cache:
            reg_cache.append(load_register(profile))
        return reg_cache[0]

    rows = []
    for spec in cat.layers:
        if spec.id not in wanted:
            continue
        df, n_in = load_layer(spec, root, loaded, cat, ledger, register)
        loaded[spec.id] = df
        sha = sha256_file(root / spec.source.file) if spec.source else ""
        geom = spec.geometry if not spec.is_table else "table"
        rows.append({
            "layer": spec.id, "title_zh": spec.title_zh, "title_en": spec.title_en,
            "role": spec.role, "geometry": geom, "source_features": n_in, "features": len(df),
            "repaired": ledger.count(spec.id, "repaired"), "dropped": ledger.count(spec.id, "dropped"),
            "source": spec.source_label, "source_sha256": sha, "source_crs":
                (spec.source.crs or "file") if spec.source else "derived",
            "licence": spec.licence, "attribution": spec.attribution,
            "illustrative": spec.illustrative, "description": spec.description,
            "quantities": json.dumps(list(spec.quantities), ensure_ascii=False),
            "style": json.dumps(spec.style, ensure_ascii=False),
            "roles": json.dumps(list(spec.roles)),
            "redistribute": spec.redistribute,
        })
        logger.info("%s: %d of %d features", spec.id, len(df), n_in)
        if progress:
            progress(spec.id)
    summary = pd.DataFrame(rows)
    unaccounted = summary[summary.source_features != summary.features + summary.dropped]
    if len(unaccounted):
        msg = f"internal: features unaccounted for in layers {unaccounted.layer.tolist()}"
        raise AssertionError(msg)
    info = {
        "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "build_id": uuid.uuid4().hex, "city": cat.city,
        "extract_bbox": json.dumps(list(cat.extract_bbox)),
        "cityplan_version": __version__, "data_dir": str(root.resolve()),
        "profile": profile.label, "profile_id": profile.id, "profile_sha256": profile.sha256,
        "sources_sha256": sources_sha256(summary),
        "catalog": str(cat.path), "catalog_sha256": _sha256(cat.path),
        "storage_crs": cat.storage_crs, "working_crs": cat.working_crs or _working_crs_of(cat, loaded),
    }
    if reg_cache and reg_cache[0].path is not None:
        info |= {"tasks": str(reg_cache[0].path), "tasks_sha256": _sha256(reg_cache[0].path)}
    ledger_df = ledger.frame()
    if not len(ledger_df):
        ledger_df = pd.DataFrame({c: pd.Series(dtype="object") for c in ledger_df.columns})
    meta = {spec.id: LayerMeta(title=f"{spec.title_zh} {spec.title_en}", description=spec.description,
                               qml=qml_for(spec.geometry, spec.style, illustrative=spec.illustrative,
                                           title=spec.title_en))
            for spec in cat.layers if spec.id in loaded}
    store.replace_map(BuildPayload(layers=loaded, catalog=summary, ledger=ledger_df, info=info, meta=meta,
                                   profile=profile.table().assign(build_id=info["build_id"])),
                      overwrite=overwrite, keep=keep)
    logger.info("wrote %s: %d layers", location_label(target), len(loaded))
    return BuildResult(path=target, summary=summary, ledger=ledger_df, info=info)


def sources_sha256(summary: pd.DataFrame) -> str:
    """One hash of every source file a build read (layer id and the file's sha256, in catalog order)."""
    if summary.empty or "source_sha256" not in summary.columns:
        return ""
    text = "\n".join(f"{r.layer}:{r.source_sha256}" for r in summary.itertuples())
    return hashlib.sha256(text.encode()).hexdigest()


def _sha256(f: object) -> str:
    """sha256 of a profile file's bytes."""
    return hashlib.sha256(f.read_bytes()).hexdigest()  # type: ignore[attr-defined]


def _working_crs_of(cat: Catalog, loaded: dict[str, pd.DataFrame]) -> str:
    """The metric CRS of the data when the catalog names none: the GK3 zone of its centre in
    China, the UTM zone elsewhere (:func:`cityplan.crs.working_crs`)."""
    from cityplan.crs import working_crs

    frames = [df for df in loaded.values() if isinstance(df, gpd.GeoDataFrame) and len(df)]
    frame = frames[0] if frames else None
    if cat.extract_bbox != (-180.0, -90.0, 180.0, 90.0):
        x0, y0, x1, y1 = cat.extract_bbox
        frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy([x0, x1], [y0, y1]), crs=4326)
    if frame is None:
        msg = f"{cat.path}: no working_crs and no data to choose one from; add working_crs: EPSG:NNNN"
        raise SchemaError(msg)
    code = working_crs(frame).to_epsg()
    return f"EPSG:{code}"


def _with_dependencies(cat: Catalog, ids: list[str]) -> set[str]:
    wanted: set[str] = set()
    stack = list(ids)
    while stack:
        lid = stack.pop()
        spec = cat.get(lid)
        if lid in wanted:
            continue
        wanted.add(lid)
        d = spec.derive or {}
        frm = d.get("from")
        stack += frm if isinstance(frm, list) else ([frm] if frm else [])
        for key in ("fill_from", "near"):
            if d.get(key):
                stack.append(d[key])
        if d.get("join"):
            stack.append(d["join"]["layer"])
    return wanted


def summary_counts(summary: pd.DataFrame) -> dict[str, int]:
    """Totals over the summary table (for the CLI footer)."""
    return {k: int(np.sum(summary[k])) for k in ("source_features", "features", "repaired", "dropped")}
