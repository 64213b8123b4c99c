"""Check a user's vector file before it joins the one map (``cityplan layers validate``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from cityplan._errors import CityplanError, SchemaError
from cityplan.catalog import ROLES
from cityplan.crs import gcj02_to_wgs84, rows_outside_china, working_crs
from cityplan.io.read import read_vector
from cityplan.tools.geometry import FAMILIES

#: allowed geometry families and required columns per role
ROLE_RULES: dict[str, dict[str, tuple[str, ...]]] = {
    "base": {"families": ("point", "line", "polygon"), "required": ()},
    "plan": {"families": ("point", "line", "polygon"), "required": ("task_id",)},
    "facility": {"families": ("point", "polygon"), "required": ()},
    "demand": {"families": ("point", "polygon"), "required": ()},
    "constraint": {"families": ("line", "polygon"), "required": ()},
}
#: GCJ-02 detection: the winning reading must stand out from random alignment by this much
#: (median per-feature log distance ratio to the controls) and beat the other reading in
#: 97.5 % of bootstrap resamples
GCJ_MIN_SCORE = 0.25
#: ...and, for lines and outlines, the closer reading must also be this much closer (median
#: distance) than the other reading and the controls; disagreement gives "undetermined"
GCJ_MARGIN = 0.2
GCJ_SAMPLES = 2000
GCJ_SPACING_M = 20.0
GCJ_BOOTSTRAP = 300


@dataclass
class Finding:
    """One problem found in a file."""

    level: str  # "error" or "warning"
    row: int | None
    message: str


@dataclass
class ValidationReport:
    """Result of :func:`validate_file`."""

    source: str
    role: str
    features: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no finding is an error."""
        return not any(f.level == "error" for f in self.findings)

    def frame(self) -> pd.DataFrame:
        """Findings as a table (level, row, message)."""
        return pd.DataFrame([f.__dict__ for f in self.findings], columns=["level", "row", "message"])


@dataclass(frozen=True)
class Gcj02Verdict:
    """Whether a layer read as WGS84 is really GCJ-02 (Amap/Gaode/Tencent), with the evidence.

    ``verdict`` is ``"gcj02"``, ``"wgs84"`` or ``"undetermined"`` (too few samples,
    nowhere near the reference, or neither reading clearly better aligned).
    """

    verdict: str
    median_as_read_m: float
    median_unshifted_m: float
    median_controls_m: float
    score_as_read: float
    score_unshifted: float
    offset_m: float
    samples: int
    features: int

    @property
    def is_gcj02(self) -> bool:
        """True when the data look like GCJ-02 coordinates tagged as WGS84."""
        return self.verdict == "gcj02"

    def message(self) -> str:
        """One line with the distances behind the verdict."""
        what = {"gcj02": "coordinates look like GCJ-02 (Amap/Gaode) read as WGS84",
                "wgs84": "coordinates align with the WGS84 reference",
                "undetermined": "GCJ-02 check undetermined"}[self.verdict]
        return (f"{what}: median distance to the reference {self.median_as_read_m:.0f} m as read, "
                f"{self.median_unshifted_m:.0f} m after GCJ-02 -> WGS84, {self.median_controls_m:.0f} m "
                f"when moved {self.offset_m:.0f} m in other directions ({self.samples} samples of "
                f"{self.features} features)" + ("; re-read with --crs gcj02" if self.is_gcj02 else ""))


class Gcj02Reference:
    """A WGS84 reference (e.g. the one map's roads) prepared once for :func:`detect_gcj02`."""

    def __init__(self, reference: gpd.GeoDataFrame | list[gpd.GeoDataFrame], metric: object | None = None):
        refs = reference if isinstance(reference, list) else [reference]
        geo = pd.concat([r.to_crs(4326).geometry for r in refs if len(r)], ignore_index=True)
        geo = gpd.GeoSeries(geo, crs=4326)
        geo = geo[geo.notna() & ~geo.is_empty]
        self.empty = geo.empty
        self.metric = CRS.from_user_input(metric) if metric is not None else working_crs(gpd.GeoDataFrame(geometry=geo))
        self.tree = shapely.STRtree(np.asarray(geo.to_crs(self.metric).values, dtype=object))
        self.to_m = Transformer.from_crs(4326, self.metric, always_xy=True)
        self.to_geo = Transformer.from_crs(self.metric, 4326, always_xy=True)

    def distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance (m) from each point to the nearest reference feature."""
        _, dist = self.tree.query_nearest(shapely.points(x, y), return_distance=True, all_matches=False)
        return dist


def _sample_points(geoms: np.ndarray, *, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices every ``GCJ_SPACING_M`` along outlines and lines (metric CRS), at most ``n``; feature ids."""
    outline = np.where(shapely.get_dimensions(geoms) == 2, shapely.boundary(geoms), geoms)
    xy, idx = shapely.get_coordinates(shapely.segmentize(outline, GCJ_SPACING_M), return_index=True)
    if len(xy) > n:
        pick = np.sort(np.random.default_rng(seed).choice(len(xy), n, replace=False))
        xy, idx = xy[pick], idx[pick]
    return xy, idx


def _feature_scores(d: np.ndarray, c: np.ndarray, inv: np.ndarray, k: int) -> np.ndarray:
    """Per-feature mean of log((d + 5) / (c + 5)): 0 for random alignment."""
    lr = np.log((d + 5.0) / (c + 5.0))
    return np.bincount(inv, lr, minlength=k) / np.bincount(inv, minlength=k)


def detect_gcj02(
    frame: gpd.GeoDataFrame, reference: gpd.GeoDataFrame | list[gpd.GeoDataFrame] | Gcj02Reference, *,
    samples: int = GCJ_SAMPLES, seed: int = 0,
) -> Gcj02Verdict:
    """Test whether ``frame`` (read as WGS84) is GCJ-02 data, against a WGS84 ``reference``.

    Sample points are taken along the features (vertices every 20 m of outlines and lines,
    the points themselves) and their distance to the reference (the one map's roads) is
    measured as read, after the GCJ-02 -> WGS84 un-shift (each sample moved by its own
    ~500 m offset) and moved by that offset rotated by 90, 180 and 270 degrees (controls:
    what a random misalignment of the same size gives). A reading is *structured* when its
    distances differ from the controls: outlines and lines hug roads (closer), points of
    interest sit inside blocks (farther). The true reading is structured, the wrong one
    looks like the controls. The score of a reading is the median over features of the
    mean log ratio of its distances to the controls'; the reading whose |score| is at least
    ``GCJ_MIN_SCORE`` and larger than the other's in 97.5 % of bootstrap resamples (of
    features, or of samples for fewer than 10 features) wins. For lines and outlines the
    plain medians must agree (the closer reading at least ``GCJ_MARGIN`` closer than the
    other and the controls); grids of roads make rotated controls slide along streets, so
    disagreement gives ``undetermined`` rather than a false alarm.
    Hit rates on the Harbin sample layers: ``docs/gcj02.md``.

    Parameters
    ----------
    frame : GeoDataFrame
        The data, with a geographic CRS (as :func:`cityplan.io.read_vector` returns).
    reference : GeoDataFrame, list of GeoDataFrame or Gcj02Reference
        WGS84/CGCS2000 layers the data should relate to (roads); prepare a
        :class:`Gcj02Reference` once when testing many frames.
    samples : int
        At most this many sample points.
    """
    ref = reference if isinstance(reference, Gcj02Reference) else Gcj02Reference(reference)
    nan = float("nan")
    undetermined = Gcj02Verdict("undetermined", nan, nan, nan, nan, nan, nan, 0, 0)
    data = frame[frame.geometry.notna()]
    data = data[~data.geometry.is_empty]
    if data.empty or ref.empty:
        return undetermined
    geo = data.to_crs(4326) if data.crs is not None else data.set_crs(4326)
    if rows_outside_china(geo.geometry):
        return undetermined
    xy, idx = _sample_points(np.asarray(geo.to_crs(ref.metric).geometry.values, dtype=object),
                             n=samples, seed=seed)
    if len(xy) < 3:
        return undetermined
    lon, lat = ref.to_geo.transform(xy[:, 0], xy[:, 1])
    ux, uy = ref.to_m.transform(*gcj02_to_wgs84(np.asarray(lon), np.asarray(lat)))
    dx, dy = ux - xy[:, 0], uy - xy[:, 1]  # the un-shift of each sample, metres
    x, y = xy[:, 0], xy[:, 1]
    a = ref.distance(x, y)
    u = ref.distance(x + dx, y + dy)
    c = np.median([ref.distance(x + cx, y + cy) for cx, cy in ((-dy, dx), (-dx, -dy), (dy, -dx))], axis=0)
    feats, inv = np.unique(idx, return_inverse=True)
    if len(feats) < 10:  # one red line: its samples are the units
        inv, k = np.arange(len(x)), len(x)
    else:
        k = len(feats)
    fa, fu = _feature_scores(a, c, inv, k), _feature_scores(u, c, inv, k)
    sa, su = float(np.median(fa)), float(np.median(fu))
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, k, size=(GCJ_BOOTSTRAP, k))
    diff = np.abs(np.median(fa[boot], axis=1)) - np.abs(np.median(fu[boot], axis=1))
    lo, hi = np.percentile(diff, [2.5, 97.5])
    if abs(su) >= GCJ_MIN_SCORE and hi < 0:
        by_score = "gcj02"
    elif abs(sa) >= GCJ_MIN_SCORE and lo > 0:
        by_score = "wgs84"
    else:
        by_score = "undetermined"
    ma, mu, mc = float(np.median(a)), float(np.median(u)), float(np.median(c))
    best, other = min(ma, mu), max(ma, mu)
    hugs = best < (1 - GCJ_MARGIN) * other and best < (1 - GCJ_MARGIN) * mc
    by_median = ("gcj02" if mu < ma else "wgs84") if hugs else "undetermined"
    points_only = bool((shapely.get_dimensions(np.asarray(geo.geometry.values, dtype=object)) == 0).all())
    if by_median == by_score or (by_median == "undetermined" and points_only):
        verdict = by_score
    else:
        verdict = "undetermined"
    return Gcj02Verdict(verdict, ma, mu, mc, sa, su,
                        float(np.median(np.hypot(dx, dy))), len(x), len(feats))


def validate_file(
    path: str | os.PathLike[str], *, role: str, layer: str | None = None, crs: str | None = None,
    encoding: str | None = None, required: tuple[str, ...] = (),
    reference: gpd.GeoDataFrame | None = None, bbox: tuple[float, float, float, float] | None = None,
    stream: bool | None = None,
) -> ValidationReport:
    """Validate a file for use as a layer of ``role``.

    Collects every problem instead of stopping at the first: read errors (CRS,
    encoding, missing file), missing columns, null/empty/invalid geometries per
    row, geometry types the role does not allow, features outside ``bbox`` and,
    given a WGS84 ``reference`` layer, GCJ-02 coordinates passed as WGS84.

    ``stream`` checks the geometries record by record with fiona (memory stays flat);
    by default files of :data:`cityplan.validate_stream.STREAM_BYTES` or more are streamed.
    """
    if role not in ROLES:
        msg = f"unknown role {role!r}; use one of {ROLES}"
        raise SchemaError(msg)
    rep = ValidationReport(source=str(path) + (f" layer {layer!r}" if layer else ""), role=role)
    from cityplan import validate_stream

    if stream if stream is not None else validate_stream.should_stream(path):
        return _validate_streamed(rep, path, role=role, layer=layer, crs=crs, required=required,
                                  reference=reference, bbox=bbox)
    try:
        gdf = read_vector(path, layer=layer, crs=crs, encoding=encoding)
    except CityplanError as exc:
        rep.findings.append(Finding("error", None, str(exc)))
        return rep
    rep.features = len(gdf)
    if gdf.empty:
        rep.findings.append(Finding("error", None, "the layer has no features"))
        return rep
    rules = ROLE_RULES[role]
    need = tuple(rules["required"]) + tuple(required)
    missing = [c for c in need if c not in gdf.columns]
    if missing:
        rep.findings.append(Finding("error", None, f"missing column(s) {missing} required for role "
                                    f"{role!r}; present: {[c for c in gdf.columns if c != 'geometry']}"))
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    for row, g in zip(gdf.index, geoms, strict=True):
        if g is None or shapely.is_empty(g):
            rep.findings.append(Finding("error", int(row), "null or empty geometry (would be dropped)"))
            continue
        fam = FAMILIES.get(g.geom_type)
        if fam not in rules["families"]:
            rep.findings.append(Finding("error", int(row), f"{g.geom_type} not allowed for role "
                                        f"{role!r} (allowed: {rules['families']})"))
        elif not shapely.is_valid(g):
            rep.findings.append(Finding("warning", int(row), f"invalid geometry "
                                        f"({shapely.is_valid_reason(g)}); make_valid will repair it"))
    if bbox is not None:
        b = gdf.geometry.bounds
        out = b.index[(b.maxx < bbox[0]) | (b.minx > bbox[2]) | (b.maxy < bbox[1]) | (b.miny > bbox[3])]
        if len(out):
            rep.findings.append(Finding("warning", int(out[0]), f"{len(out)} feature(s) entirely "
                                        f"outside the study area {bbox}"))
    declared_gcj = crs is not None and str(crs).strip().lower() in ("gcj02", "gcj-02", "bd09", "bd-09")
    if reference is not None and len(gdf.geometry.dropna()) and not declared_gcj:
        verdict = detect_gcj02(gdf, reference)
        if verdict.is_gcj02:
            rep.findings.append(Finding("error", None, verdict.message()))
    return rep


def _validate_streamed(rep: ValidationReport, path, *, role: str, layer: str | None, crs: str | None,
                       required: tuple[str, ...], reference: gpd.GeoDataFrame | None,
                       bbox: tuple[float, float, float, float] | None) -> ValidationReport:
    """:func:`validate_file` for a large file: geometries streamed with fiona, the rest on a sample."""
    from itertools import islice

    import fiona

    from cityplan.crs import parse_crs
    from cityplan.validate_stream import file_crs, stream_geometry_findings

    rules = ROLE_RULES[role]
    try:
        with fiona.open(path, layer=layer) as src:
            rep.features = len(src)
            columns = list(src.schema["properties"])
            sample = gpd.GeoDataFrame.from_features(list(islice(src, GCJ_SAMPLES)))
        own = file_crs(path, layer)
    except (fiona.errors.FionaError, OSError) as exc:
        rep.findings.append(Finding("error", None, f"{path}: cannot be read ({exc}); check the file and --layer"))
        return rep
    declared = parse_crs(crs) if crs else None
    if own is None and declared is None:
        rep.findings.append(Finding("error", None, f"{path}: the file has no CRS; declare it with --crs "
                                    "(e.g. --crs 4326, --crs 4551, --crs gcj02)"))
        return rep
    use = declared.crs if declared is not None and declared.crs is not None else own or CRS.from_epsg(4326)
    if rep.features == 0:
        rep.findings.append(Finding("error", None, "the layer has no features"))
        return rep
    missing = [c for c in (*rules["required"], *required) if c not in columns]
    if missing:
        rep.findings.append(Finding("error", None, f"missing column(s) {missing} required for role "
                                    f"{role!r}; present: {columns}"))
    rep.findings += [Finding(*f) for f in stream_geometry_findings(path, families=rules["families"], role=role,
                                                                   layer=layer, crs=use, bbox=bbox)]
    declared_gcj = declared is not None and declared.datum in ("gcj02", "bd09")
    if reference is not None and not declared_gcj and len(sample):
        sample = sample.set_crs(use, allow_override=True).to_crs(4326)
        verdict = detect_gcj02(sample[sample.geometry.notna() & ~sample.geometry.is_empty], reference)
        if verdict.is_gcj02:
            rep.findings.append(Finding("error", None, verdict.message() + f" (first {len(sample)} features)"))
    return rep
