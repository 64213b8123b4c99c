"""Check a user's vector file before it joins the one map (``cityplan layers validate``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from scipy.spatial import cKDTree

from cityplan._errors import CityplanError, SchemaError
from cityplan.catalog import ROLES
from cityplan.crs import bd09_to_gcj02, gcj02_to_wgs84, rows_outside_china, working_crs
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
#: GCJ-02 / BD-09 detection (:func:`detect_gcj02`, docs/gcj02.md). Sample points every
#: ``GCJ_SPACING_M`` along outlines and lines (points as they are), at most ``GCJ_SAMPLES``
GCJ_SPACING_M = 10.0
GCJ_SAMPLES = 1000
#: the reference (roads) as vertices every ``GCJ_ROAD_STEP_M`` in a KD-tree: distances within
#: half of it of the exact ones; beyond ``GCJ_CAP_M`` a sample counts as "far from any road"
GCJ_ROAD_STEP_M = 2.0
GCJ_CAP_M = 400.0
#: controls: each datum's offset turned to ``GCJ_RING`` angles from 45 to 315 degrees (global:
#: what a misalignment of the same size gives), and ``GCJ_LOCAL`` moves of ``GCJ_LOCAL_M``
#: metres around each reading (local: is the reading a peak of alignment or just a good area)
GCJ_RING = 64
GCJ_LOCAL = 48
GCJ_LOCAL_M = (100.0, 400.0)
#: ...and points on the way from the data as read to each datum's reading and beyond (these
#: fractions of the offset): a line parallel to the offset slides along its own road, aligned
#: all the way - not a peak
GCJ_PATH = (0.2, 0.35, 0.5, 0.65, 0.8, 1.2, 1.35, 1.5)
#: polygons under this area (m²) are "small" (building footprints), others "large" (parks,
#: compounds, parcels)
GCJ_SMALL_M2 = 5000.0
#: points alone are tested from this many on (fewer: "undetermined"; 3-8 points gave 1-2 %
#: false warnings for 2-7 % detected in the benchmark, too little to tell)
GCJ_MIN_POINTS = 20
#: a sample's bin: its distance to the nearest road (m) and, within ``GCJ_ANGLE_MAX_M``, the angle
#: between the outline/line and that road modulo 90 degrees (parallel or square to it)
GCJ_DIST_BINS = (2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0)
GCJ_ANGLE_BINS = (5.0, 15.0)
GCJ_ANGLE_MAX_M = 80.0
#: log(share of real features' samples in a bin / share of misplaced ones'), per class (point,
#: line, small and large polygon): 9 distance bins x 3 angle bins (under 5, 5-15, over 15 degrees
#: or no angle: points, or over 80 m); fitted by ``benchmarks/bench_datum.py --samples 600 --fit``
#: on the training half of the Harbin one map (2026-12-06)
GCJ_WEIGHTS: dict[str, tuple[float, ...]] = {
    "point": (0.00, 0.00, 0.36, 0.00, 0.00, 0.01, 0.00, 0.00, -0.15, 0.00, 0.00, -0.20,
              0.00, 0.00, 0.05, 0.00, 0.00, 0.27, 0.00, 0.00, -0.07, 0.00, 0.00, -1.16,
              0.00, 0.00, -2.04),
    "line": (1.54, 0.95, 0.91, -0.27, -0.39, -0.44, 1.54, 0.46, 0.38, 1.27, -0.34, -0.29,
             0.28, -0.51, -0.82, -0.05, -0.96, -1.16, 0.00, 0.00, -1.38, 0.00, 0.00, -1.78,
             0.00, 0.00, -1.46),
    "small": (-0.23, -1.29, -1.86, 0.72, -1.27, -1.76, 0.98, -0.68, -1.40, 1.02, -0.58, -1.27,
              0.81, -0.70, -1.07, 0.45, -0.42, -0.98, 0.00, 0.00, -0.17, 0.00, 0.00, -0.25,
              0.00, 0.00, -1.98),
    "large": (-0.23, -1.06, -1.69, 0.93, -0.80, -1.66, 1.61, -0.38, -1.32, 1.52, -0.42, -1.27,
              0.54, -0.88, -1.23, 0.06, -0.85, -1.06, 0.00, 0.00, -0.43, 0.00, 0.00, -1.07,
              0.00, 0.00, -1.82),
}
#: a reading wins when its global and local z-scores both reach GCJ_MIN_Z and beat every other
#: reading's by GCJ_MIN_MARGIN. Chosen by ``benchmarks/bench_datum.py --samples 600`` (2026-12-06,
#: docs/gcj02.md): of the grid, the most detections on the training half of the city among the
#: points with at most 0.25 % false warnings there overall and 1 % in every feature type (the
#: per-type rate moves several-fold between the two halves: in a 300-sample run 2.0 / 0.5 kept the
#: training half at 0.2 % and gave road segments 3.4 % on the other). Held-out half, 2,668 real sets:
#: 0.07 % false warnings (one road segment, one 20-point list; 95 % bound 0.27 %); GCJ-02 / BD-09
#: copies detected: one building 4 / 7 %, four buildings 9 %, a park 27 / 26 %, a compound
#: 36 / 39 %, three compounds 56 / 59 %, a road segment 15 / 16 %, point lists 0-6 %
GCJ_MIN_Z = 2.25
GCJ_MIN_MARGIN = 1.5


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



#: readings a frame can be tested for, with the names the verdict uses
DATUM_READINGS = ("gcj02", "bd09")
_CLASSES = ("point", "line", "small", "large")
#: columns of a distance bin: the angle bins; the last (over 15 degrees) also takes the samples
#: without an angle (points, or over GCJ_ANGLE_MAX_M from the road) - each class has its own table
_COLS = len(GCJ_ANGLE_BINS) + 1


@dataclass(frozen=True)
class Gcj02Verdict:
    """Whether a layer read as WGS84 is really GCJ-02 (Amap/Gaode/Tencent) or BD-09 (Baidu).

    ``verdict`` is ``"gcj02"`` or ``"bd09"`` (that reading is the aligned one, with the
    calibrated confidence), ``"wgs84"`` (the data as read are), ``"undetermined"`` (no reading
    stands out: few or uninformative features, or nowhere near the reference) or
    ``"not_applicable"`` (the check must not run: a declared CRS, a projected source, a
    surveyed datum, outside China; ``reason`` says which).

    The ``score_*`` fields are confidences in standard deviations: the lower of the reading's
    alignment z-score against misalignments of the same size (``z_global``) and against moves
    of 100-400 m around it (``z_local``); a reading wins at ``GCJ_MIN_Z`` with
    ``GCJ_MIN_MARGIN`` over every other reading (``docs/gcj02.md``).
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
    score_bd09: float = float("nan")
    median_bd09_m: float = float("nan")
    reason: str = ""
    z_global: dict[str, float] = field(default_factory=dict)
    z_local: dict[str, float] = field(default_factory=dict)

    @property
    def is_gcj02(self) -> bool:
        """True when the data look like GCJ-02 coordinates tagged as WGS84."""
        return self.verdict == "gcj02"

    @property
    def is_shifted(self) -> bool:
        """True when the data look like GCJ-02 or BD-09 coordinates tagged as WGS84 (warn)."""
        return self.verdict in DATUM_READINGS

    @property
    def applicable(self) -> bool:
        """False when the check was not run (declared or projected input, outside China...)."""
        return self.verdict != "not_applicable"

    def message(self) -> str:
        """One line with the evidence behind the verdict."""
        if self.verdict == "not_applicable":
            return f"GCJ-02/BD-09 check not applicable: {self.reason}"
        what = {"gcj02": "coordinates look like GCJ-02 (Amap/Gaode/Tencent) read as WGS84",
                "bd09": "coordinates look like BD-09 (Baidu) read as WGS84",
                "wgs84": "coordinates align with the WGS84 reference",
                "undetermined": "GCJ-02/BD-09 check undetermined"}[self.verdict]
        if not self.samples:
            return f"{what}: {self.reason}" if self.reason else what
        bd = (f", {self.median_bd09_m:.0f} m after BD-09 -> WGS84" if self.median_bd09_m == self.median_bd09_m
              else "")
        conf = {"gcj02": self.score_unshifted, "bd09": self.score_bd09, "wgs84": self.score_as_read}
        sure = f" (confidence {conf[self.verdict]:.1f} sd)" if self.verdict in conf else ""
        fix = f"; re-read with --crs {self.verdict}" if self.is_shifted else ""
        return (f"{what}{sure}: median distance to the reference {self.median_as_read_m:.0f} m as read, "
                f"{self.median_unshifted_m:.0f} m after GCJ-02 -> WGS84{bd}, {self.median_controls_m:.0f} m "
                f"when moved {self.offset_m:.0f} m in other directions ({self.samples} samples of "
                f"{self.features} features){fix}")


def _directions(xy: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Direction (radians modulo pi) at each vertex: of the segment it starts, else the one it ends;
    NaN for a lone vertex (a point)."""
    out = np.full(len(xy), np.nan)
    if len(xy) < 2:
        return out
    step = np.diff(xy, axis=0)
    ang = np.mod(np.arctan2(step[:, 1], step[:, 0]), np.pi)
    same = np.flatnonzero(part[1:] == part[:-1])
    out[same] = ang[same]
    ends = same + 1
    ends = ends[np.isnan(out[ends])]
    out[ends] = ang[ends - 1]
    return out


class Gcj02Reference:
    """A WGS84 reference (e.g. the one map's roads) prepared once for :func:`detect_gcj02`.

    The lines (and outlines) as vertices every ``GCJ_ROAD_STEP_M`` metres in a KD-tree, with
    the line's direction at each vertex.
    """

    def __init__(self, reference: gpd.GeoDataFrame | list[gpd.GeoDataFrame], metric: object | None = None):
        refs = reference if isinstance(reference, list) else [reference]
        geo = pd.concat([r.to_crs(4326).geometry for r in refs if len(r)], ignore_index=True) if any(
            len(r) for r in refs) else pd.Series([], dtype=object)
        geo = gpd.GeoSeries(geo, crs=4326)
        geo = geo[geo.notna() & ~geo.is_empty]
        self.empty = geo.empty
        self.metric = (CRS.from_user_input(metric) if metric is not None
                       else working_crs(gpd.GeoDataFrame(geometry=geo)) if not geo.empty else CRS.from_epsg(4551))
        self.to_m = Transformer.from_crs(4326, self.metric, always_xy=True)
        self.to_geo = Transformer.from_crs(self.metric, 4326, always_xy=True)
        parts = shapely.get_parts(np.asarray(geo.to_crs(self.metric).values, dtype=object))
        parts = shapely.get_parts(np.where(shapely.get_dimensions(parts) == 2, shapely.boundary(parts), parts))
        xy, part = shapely.get_coordinates(shapely.segmentize(parts, GCJ_ROAD_STEP_M), return_index=True)
        self.direction = _directions(xy, part)
        self.tree = cKDTree(xy) if len(xy) else None
        self.empty = self.tree is None

    def nearest(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance (m, at most ``GCJ_CAP_M``) from each point to the reference, and the
        reference's direction there (radians modulo pi; NaN beyond the cap)."""
        d, i = self.tree.query(np.column_stack([x, y]), distance_upper_bound=GCJ_CAP_M,
                               workers=-1 if len(x) >= 50_000 else 1)
        near = np.isfinite(d)
        direction = np.full(len(d), np.nan)
        direction[near] = self.direction[i[near]]
        return np.minimum(d, GCJ_CAP_M), direction

    def distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance (m, at most ``GCJ_CAP_M``) from each point to the nearest reference feature."""
        return self.nearest(x, y)[0]


def _sample_points(geoms: np.ndarray, *, n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Vertices every ``GCJ_SPACING_M`` along outlines and lines (metric CRS), at most ``n``:
    coordinates, feature index, local direction and class index (see ``_CLASSES``)."""
    dim = shapely.get_dimensions(geoms)
    cls = np.where(dim == 0, 0, np.where(dim == 1, 1, np.where(shapely.area(geoms) < GCJ_SMALL_M2, 2, 3)))
    outline = np.where(dim == 2, shapely.boundary(geoms), geoms)
    parts, feat = shapely.get_parts(outline, return_index=True)
    xy, part = shapely.get_coordinates(shapely.segmentize(parts, GCJ_SPACING_M), return_index=True)
    direction = _directions(xy, part)
    idx = feat[part]
    if len(xy) > n:
        pick = np.sort(np.random.default_rng(seed).choice(len(xy), n, replace=False))
        xy, idx, direction = xy[pick], idx[pick], direction[pick]
    return xy, idx, direction, cls[idx]


def _bins(d: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Bin of each sample: distance bin x angle bin (see ``_COLS``)."""
    db = np.digitize(d, GCJ_DIST_BINS)
    ab = np.digitize(np.nan_to_num(angle), GCJ_ANGLE_BINS)
    ab = np.where(np.isnan(angle) | (d >= GCJ_ANGLE_MAX_M), _COLS - 1, ab)
    return db * _COLS + ab


def _angle_to_road(road_dir: np.ndarray, own_dir: np.ndarray) -> np.ndarray:
    """Degrees (0-45) between a line and the road, modulo 90 (parallel and square both 0)."""
    a = np.abs(road_dir - own_dir) % (np.pi / 2)
    return np.degrees(np.minimum(a, np.pi / 2 - a))


@dataclass
class _Alignment:
    """Bins of the samples at every tested position (rows) and what is needed to score them."""

    readings: tuple[str, ...]  # "wgs84", then the datums: rows 0..len-1
    ring: dict[str, slice]  # rows of each datum's global controls
    local: dict[str, np.ndarray]  # rows of each reading's local controls
    bins: np.ndarray  # (positions, samples) bin index
    cls: np.ndarray  # (samples,) class index
    weight: np.ndarray  # (samples,) 1 / samples of the feature
    dist: np.ndarray  # (positions, samples) distance, m
    offset_m: float
    features: int


def _alignment(geo: gpd.GeoDataFrame, ref: Gcj02Reference, datums: tuple[str, ...], *, samples: int,
               seed: int) -> _Alignment | None:
    """Sample ``geo`` (EPSG:4326) and bin the samples as read, re-read in each datum and moved
    to the controls; None with fewer than 3 samples."""
    xy, idx, own_dir, cls = _sample_points(np.asarray(geo.to_crs(ref.metric).geometry.values, dtype=object),
                                           n=samples, seed=seed)
    if len(xy) < 3:
        return None
    lon, lat = (np.asarray(v) for v in ref.to_geo.transform(xy[:, 0], xy[:, 1]))
    offsets = []
    for datum in datums:
        wlon, wlat = gcj02_to_wgs84(*bd09_to_gcj02(lon, lat)) if datum == "bd09" else gcj02_to_wgs84(lon, lat)
        ux, uy = ref.to_m.transform(wlon, wlat)
        offsets.append(np.column_stack([ux, uy]) - xy)
    readings = ("wgs84", *datums)
    base = [np.zeros_like(xy), *offsets]
    turns = np.linspace(np.pi / 4, 2 * np.pi - np.pi / 4, GCJ_RING)
    ring = [np.column_stack([np.cos(t) * o[:, 0] - np.sin(t) * o[:, 1], np.sin(t) * o[:, 0] + np.cos(t) * o[:, 1]])
            for o in offsets for t in turns]
    rng = np.random.default_rng(seed)
    ang = rng.uniform(0, 2 * np.pi, GCJ_LOCAL)
    rad = np.sqrt(rng.uniform(GCJ_LOCAL_M[0] ** 2, GCJ_LOCAL_M[1] ** 2, GCJ_LOCAL))
    moves = np.column_stack([rad * np.cos(ang), rad * np.sin(ang)])
    local = [b + m for b in base for m in moves]
    path = [f * o for o in offsets for f in GCJ_PATH]
    pos = np.stack(base + ring + local + path) + xy[None]  # (positions, samples, 2)
    d, road_dir = ref.nearest(pos[..., 0].ravel(), pos[..., 1].ravel())
    d, road_dir = d.reshape(pos.shape[:2]), road_dir.reshape(pos.shape[:2])
    bins = _bins(d, _angle_to_road(road_dir, own_dir[None, :])).astype(np.int16)
    k, r, m, p = len(readings), GCJ_RING, GCJ_LOCAL, len(GCJ_PATH)
    ring_rows = {dt: slice(k + i * r, k + (i + 1) * r) for i, dt in enumerate(datums)}
    start = k + len(datums) * r
    paths = {dt: np.arange(start + k * m + i * p, start + k * m + (i + 1) * p) for i, dt in enumerate(datums)}
    local_rows = {rd: np.concatenate([np.arange(start + i * m, start + (i + 1) * m),
                                      *(paths.values() if rd == "wgs84" else [paths[rd]])])
                  for i, rd in enumerate(readings)}
    feats, inv, counts = np.unique(idx, return_inverse=True, return_counts=True)
    return _Alignment(readings, ring_rows, local_rows, bins, cls, 1.0 / counts[inv], d,
                      float(np.median(np.hypot(*offsets[0].T))) if offsets else float("nan"), len(feats))


def _z(value: float, controls: np.ndarray) -> float:
    sd = float(controls.std())
    return (value - float(controls.mean())) / sd if sd > 1e-9 else 0.0


def _scores(al: _Alignment, weights: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """z-scores of each reading's alignment, global and local (see :func:`detect_gcj02`).

    Points only: the summed distance bin (a log distance), both ways - stations sit on roads,
    schools inside blocks, and no one table of weights fits every kind of point."""
    points = bool((al.cls == 0).all())
    if points:
        t = ((al.bins // _COLS) * al.weight[None, :]).sum(axis=1).astype(float)
    else:
        t = (weights[al.cls[None, :], al.bins] * al.weight[None, :]).sum(axis=1)
    ring = np.concatenate([t[s] for s in al.ring.values()])
    zg = {rd: _z(t[i], ring) for i, rd in enumerate(al.readings)}
    zl = {rd: _z(t[i], t[al.local[rd]]) for i, rd in enumerate(al.readings)}
    if points:
        zg, zl = ({rd: abs(v) for rd, v in z.items()} for z in (zg, zl))
    return zg, zl


def _too_few_points(al: _Alignment) -> bool:
    return bool((al.cls == 0).all()) and al.features < GCJ_MIN_POINTS


def decide_datum(z_global: dict[str, float], z_local: dict[str, float], *, min_z: float | None = None,
           margin: float | None = None) -> str:
    """The reading whose global and local z-scores both reach ``min_z`` and beat every other
    reading's by ``margin`` (defaults: ``GCJ_MIN_Z``, ``GCJ_MIN_MARGIN``), else ``"undetermined"``."""
    min_z = GCJ_MIN_Z if min_z is None else min_z
    margin = GCJ_MIN_MARGIN if margin is None else margin
    conf = {r: min(z_global[r], z_local[r]) for r in z_global}
    best = max(conf, key=conf.__getitem__)
    others = [r for r in conf if r != best]
    if conf[best] >= min_z and all(z_global[best] - z_global[o] >= margin and z_local[best] - z_local[o] >= margin
                                   for o in others):
        return best
    return "undetermined"


def _weights() -> np.ndarray:
    return np.array([GCJ_WEIGHTS[c] for c in _CLASSES], dtype=float).reshape(len(_CLASSES), -1)


def _surveyed_or_declared(frame: gpd.GeoDataFrame, source_crs: object, declared: object) -> str:
    """Why the check must not run on this input ("" when it may)."""
    if declared:
        return (f"the CRS was declared ({declared})" if isinstance(declared, str)
                else "the CRS was declared") + ": the user said what the coordinates are"
    src = source_crs
    if isinstance(src, Mapping):  # cityplan.review.intake.as_read: {"crs", "epsg", "how", ...}
        if src.get("how") == "declared":
            return f"the CRS was declared ({src.get('crs')}): the user said what the coordinates are"
        src = src.get("epsg") or src.get("crs")
    if src is None:
        src = frame.crs
    if src is None:
        return ""  # no CRS anywhere: taken as lon/lat WGS84, as read_vector does for GeoJSON
    if isinstance(src, str) and src.strip().lower() in ("gcj02", "gcj-02", "bd09", "bd-09"):
        return f"the data were declared {src} and converted"
    try:
        crs = CRS.from_user_input(src)
    except CRSError:
        return f"the source CRS {src!r} is not understood"
    name = f"EPSG:{crs.to_epsg()}" if crs.to_epsg() else crs.name
    if not crs.is_geographic:
        return (f"the source is projected ({name}, {crs.name}): surveyed or CAD coordinates, "
                "never GCJ-02/BD-09, which are lon/lat")
    if "World Geodetic System 1984" not in (crs.datum.name if crs.datum else ""):
        return (f"the source is lon/lat on a surveyed datum ({name}, {crs.name}); "
                "GCJ-02/BD-09 data come tagged WGS84 or untagged")
    return ""


def detect_gcj02(
    frame: gpd.GeoDataFrame, reference: gpd.GeoDataFrame | list[gpd.GeoDataFrame] | Gcj02Reference, *,
    samples: int = GCJ_SAMPLES, seed: int = 0, source_crs: object = None, declared: object = False,
    datums: tuple[str, ...] | list[str] = DATUM_READINGS,
) -> Gcj02Verdict:
    """Test whether ``frame`` (read as WGS84) is GCJ-02 or BD-09 data, against a WGS84 ``reference``.

    The check only runs on undeclared lon/lat data tagged WGS84 (or untagged): a declared CRS
    (``declared``), a projected source (GK zones, UTM, any projected CRS: ``source_crs``, else
    ``frame.crs``), lon/lat on a surveyed datum (CGCS2000, Beijing 1954, Xi'an 1980) and data
    outside China give ``"not_applicable"`` with the reason.

    Sample points are taken along the features (vertices every ``GCJ_SPACING_M`` of outlines
    and lines, the points themselves), and each is binned by its distance to the nearest road
    and the angle between the outline and that road - as read, after each datum's un-shift
    (each sample moved by its own offset) and at controls. A reading's alignment is the sum
    over features of the mean ``GCJ_WEIGHTS`` of its samples' bins (the log of how much more
    often real features than misplaced ones fall in that bin, measured on the Harbin one
    map). It is compared, as two z-scores, with (global) the datums' offsets turned to 64 other
    directions each and (local) 48 moves of 100-400 m around the reading plus points on the
    way to it and beyond (``GCJ_PATH``): the true reading is a peak of alignment, the wrong ones
    look like their surroundings. A reading wins when both its z-scores reach ``GCJ_MIN_Z``
    and beat every other reading's by ``GCJ_MIN_MARGIN`` (calibrated by
    ``benchmarks/bench_datum.py`` for at most 1 % false warnings on real features; rates per
    feature type in ``docs/gcj02.md``); otherwise, or when most samples are over
    ``GCJ_CAP_M`` from the reference as read (outside its cover), ``"undetermined"``.

    Parameters
    ----------
    frame : GeoDataFrame
        The data, with a geographic CRS (as :func:`cityplan.io.read_vector` returns).
    reference : GeoDataFrame, list of GeoDataFrame or Gcj02Reference
        WGS84/CGCS2000 layers the data should relate to (roads); prepare a
        :class:`Gcj02Reference` once when testing many frames.
    samples : int
        At most this many sample points.
    source_crs : CRS, EPSG code, str or dict, optional
        The CRS the file was in before it was brought to lon/lat (its own or detected), or the
        review's "CRS as read" dict (:func:`cityplan.review.intake.as_read`: ``epsg``/``crs``,
        ``how``). Default: ``frame.crs``.
    declared : bool or str
        The user declared the CRS (``--crs``): never tested.
    datums : sequence of str
        Readings to test: ``gcj02`` and/or ``bd09`` (a profile's ``datum_checks``).
    """
    nan = float("nan")

    def empty(verdict: str, reason: str) -> Gcj02Verdict:
        return Gcj02Verdict(verdict, nan, nan, nan, nan, nan, nan, 0, 0, reason=reason)

    why = _surveyed_or_declared(frame, source_crs, declared)
    if why:
        return empty("not_applicable", why)
    datums = tuple(d for d in DATUM_READINGS if d in tuple(datums))
    if not datums:
        return empty("not_applicable", "no datum check asked for")
    ref = reference if isinstance(reference, Gcj02Reference) else Gcj02Reference(reference)
    data = frame[frame.geometry.notna()]
    data = data[~data.geometry.is_empty]
    if data.empty or ref.empty:
        return empty("undetermined", "no features" if data.empty else "no reference")
    geo = data.to_crs(4326) if data.crs is not None else data.set_crs(4326)
    if rows_outside_china(geo.geometry):
        return empty("not_applicable", "features outside China, where GCJ-02/BD-09 are not defined")
    al = _alignment(geo, ref, datums, samples=samples, seed=seed)
    if al is None:
        return empty("undetermined", "fewer than 3 sample points")
    zg, zl = _scores(al, _weights())
    far = float(np.median(al.dist[0])) >= GCJ_CAP_M
    few = _too_few_points(al)
    verdict = "undetermined" if far or few else decide_datum(zg, zl)
    conf = {r: min(zg[r], zl[r]) for r in zg}
    row = {r: i for i, r in enumerate(al.readings)}
    med = {r: float(np.median(al.dist[i])) for r, i in row.items()}
    controls = np.concatenate([al.dist[s] for s in al.ring.values()])
    return Gcj02Verdict(
        verdict, med["wgs84"], med.get("gcj02", nan), float(np.median(controls)), conf["wgs84"],
        conf.get("gcj02", nan), al.offset_m, al.dist.shape[1], al.features, score_bd09=conf.get("bd09", nan),
        median_bd09_m=med.get("bd09", nan),
        reason="" if verdict != "undetermined" else (
            f"most samples are over {GCJ_CAP_M:.0f} m from the reference as read: outside its cover" if far
            else f"{al.features} points: too few to tell (at least {GCJ_MIN_POINTS})" if few
            else "no reading stands out from its controls"), z_global=zg, z_local=zl)


def source_crs_of(path: str | os.PathLike[str], *, layer: str | None = None,
                  encoding: str | None = None) -> CRS | None:
    """The CRS a file names, or its coordinates do (a 界址点 TXT's zone, zone-prefixed
    eastings of a point list), before any declaration; None when unknown."""
    import pyogrio

    from cityplan.io.archive import VECTOR_MEMBERS, extracted, member_for
    from cityplan.io.jzd import read_jzd
    from cityplan.io.pointtable import read_point_table
    from cityplan.io.read import file_kind, resolve_layer

    p = Path(path)
    try:
        kind = file_kind(p)
        if kind in ("kml", "kmz"):
            return CRS.from_epsg(4326)
        if kind == "jzd":
            return read_jzd(p, encoding=encoding).crs
        if kind == "table":
            return read_point_table(p, layer=resolve_layer(p, layer), encoding=encoding).crs
        if kind == "dxf":
            return None
        if kind == "zip":
            with extracted(p, member_for(p, layer, kinds=VECTOR_MEMBERS)) as inner:
                text = pyogrio.read_info(inner).get("crs")
        else:
            text = pyogrio.read_info(p, layer=resolve_layer(p, layer)).get("crs")
    except (CityplanError, OSError, ValueError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError):
        return None
    return CRS.from_user_input(text) if text else None

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
    given a WGS84 ``reference`` layer, GCJ-02 / BD-09 coordinates passed as WGS84 - tested on
    undeclared lon/lat files only (:func:`detect_gcj02`: never with ``crs`` given nor on a
    file projected in its source, :func:`source_crs_of`).

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
    if reference is not None and len(gdf.geometry.dropna()) and crs is None:
        # only undeclared lon/lat files: a declared CRS or a projected source is never tested
        verdict = detect_gcj02(gdf, reference, source_crs=source_crs_of(path, layer=layer, encoding=encoding))
        if verdict.is_shifted:
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
    if reference is not None and declared is None and len(sample):
        sample = sample.set_crs(use, allow_override=True).to_crs(4326)
        verdict = detect_gcj02(sample[sample.geometry.notna() & ~sample.geometry.is_empty], reference,
                               source_crs=use)
        if verdict.is_shifted:
            rep.findings.append(Finding("error", None, verdict.message() + f" (first {len(sample)} features)"))
    return rep
