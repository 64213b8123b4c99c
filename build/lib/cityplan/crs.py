"""The single CRS policy of cityplan, and the Chinese datum transforms.

Policy
------
* **store** in WGS84 (EPSG:4326) or CGCS2000 (EPSG:4490) geographic coordinates;
* **measure** (areas, buffers, distances) only in a metric CRS: the one map's working CRS
  (the profile's catalog names it, e.g. EPSG:4551 for Harbin), otherwise chosen from the data:
  the CGCS2000 3-degree Gauss-Kruger zone of its longitude inside China (EPSG:4534-4554), the
  WGS84 UTM zone elsewhere;
* **display** in WGS84, or in GCJ-02 only for Amap (Gaode) tiles.

GCJ-02 (Amap, Tencent, Aliyun DataV) and BD-09 (Baidu) are not CRSs pyproj knows:
they are obfuscations of WGS84 defined by a published formula. They are declared
with the pseudo-codes ``"gcj02"`` and ``"bd09"`` and converted here, vectorised
with numpy over every coordinate of a GeoDataFrame at once.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from cityplan._errors import CRSMismatchError, MissingCRSError, OutsideChinaError

logger = logging.getLogger(__name__)

STORAGE_CRS = CRS.from_epsg(4326)
STORAGE_EPSG = frozenset({4326, 4490})
#: CGCS2000 3-degree Gauss-Kruger zones with central meridians 75E..135E
GK3_FIRST_EPSG, GK3_FIRST_CM, GK3_LAST_CM = 4534, 75, 135

Datum = Literal["crs", "gcj02", "bd09"]
_GCJ_NAMES = {"gcj02", "gcj-02", "gcj", "amap", "gaode", "mars"}
_BD_NAMES = {"bd09", "bd-09", "baidu"}

# Krasovsky 1940 ellipsoid, as used by the published GCJ-02 formula
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
# The usual rough box of mainland China outside which GCJ-02 is the identity
CHINA_BOUNDS = (72.004, 0.8293, 137.8347, 55.8271)


@dataclass(frozen=True)
class SourceCRS:
    """A declared source coordinate system: a real CRS or a Chinese pseudo-datum."""

    datum: Datum
    crs: CRS | None = None

    @property
    def label(self) -> str:
        """Short human label (``gcj02``, ``bd09`` or ``EPSG:xxxx``)."""
        if self.datum != "crs":
            return self.datum
        assert self.crs is not None
        return self.crs.to_string()


def parse_crs(value: str | int | CRS | SourceCRS) -> SourceCRS:
    """Parse a user CRS declaration.

    Parameters
    ----------
    value : str, int, pyproj.CRS or SourceCRS
        ``"gcj02"``/``"bd09"`` for the Chinese obfuscated datums, ``"wgs84"``,
        ``"cgcs2000"``, an EPSG code (``4326``, ``"EPSG:4551"``) or anything
        :class:`pyproj.CRS` accepts.

    Returns
    -------
    SourceCRS

    Raises
    ------
    CRSMismatchError
        If the value is not a recognisable CRS.
    """
    if isinstance(value, SourceCRS):
        return value
    if isinstance(value, CRS):
        return SourceCRS("crs", value)
    text = str(value).strip()
    low = text.lower()
    if low in _GCJ_NAMES:
        return SourceCRS("gcj02")
    if low in _BD_NAMES:
        return SourceCRS("bd09")
    aliases = {"wgs84": "EPSG:4326", "wgs-84": "EPSG:4326", "cgcs2000": "EPSG:4490"}
    text = aliases.get(low, text)
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        return SourceCRS("crs", CRS.from_user_input(text))
    except CRSError as exc:
        msg = (
            f"unknown CRS {value!r}: use 'gcj02', 'bd09', 'wgs84', 'cgcs2000' or an EPSG code "
            f"such as 'EPSG:4326' or 'EPSG:4551' ({exc})"
        )
        raise CRSMismatchError(msg) from None


def gk3_zone_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Kruger zone containing ``lon``.

    Raises
    ------
    CRSMismatchError
        If ``lon`` is outside the zones defined for China (73.5E-136.5E).
    """
    cm = int(round(lon / 3.0) * 3)
    if not GK3_FIRST_CM <= cm <= GK3_LAST_CM:
        msg = (
            f"longitude {lon:.4f} is outside the CGCS2000 3-degree zones (73.5E-136.5E); "
            "measure in the local UTM zone instead (name it as working_crs in the profile's catalog.yaml)"
        )
        raise CRSMismatchError(msg)
    return GK3_FIRST_EPSG + (cm - GK3_FIRST_CM) // 3


def working_crs(gdf: gpd.GeoDataFrame | None = None, *, utm: bool | None = None) -> CRS:
    """Metric CRS in which to measure ``gdf``, chosen from where the data lies.

    Parameters
    ----------
    gdf : GeoDataFrame
        Data in any CRS (its centre picks the zone).
    utm : bool, optional
        True: the local WGS84 UTM zone; False: the CGCS2000 3-degree Gauss-Kruger zone (China
        only); None (default): the GK zone inside China, the UTM zone elsewhere.
    """
    if gdf is None or gdf.empty:
        msg = "working_crs needs data to choose a metric CRS from (or name one, e.g. EPSG:4551)"
        raise MissingCRSError(msg)
    geo = gdf.to_crs(STORAGE_CRS) if gdf.crs is not None and not gdf.crs.is_geographic else gdf
    minx, miny, maxx, maxy = geo.total_bounds
    lon, lat = (minx + maxx) / 2.0, (miny + maxy) / 2.0
    if utm is None:
        utm = bool(_out_of_china(np.array([lon]), np.array([lat]))[0])
    if utm:
        zone = min(int((lon + 180) // 6) + 1, 60)
        return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)
    return CRS.from_epsg(gk3_zone_epsg(lon))


# ---------------------------------------------------------------- GCJ-02 / BD-09
def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    minx, miny, maxx, maxy = CHINA_BOUNDS
    return (lon < minx) | (lon > maxx) | (lat < miny) | (lat > maxy)


def _check_in_china(lon: np.ndarray, lat: np.ndarray, what: str) -> None:
    bad = _out_of_china(lon, lat)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = (
            f"{what}: {int(bad.sum())} coordinate(s) outside China, first ({lon[i]:.5f}, "
            f"{lat[i]:.5f}); GCJ-02/BD-09 are only defined inside China - check the declared "
            "datum, or whether lon/lat are swapped"
        )
        raise OutsideChinaError(msg)


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (dlon, dlat) in degrees that GCJ-02 adds to WGS84 at (lon, lat)."""
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sq = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sq) * np.pi)
    dlon = (dlon * 180.0) / (_A / sq * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward GCJ-02 obfuscation (exact, published formula)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    _check_in_china(lon, lat, "WGS84 -> GCJ-02")
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(
    lon: np.ndarray, lat: np.ndarray, *, tol_deg: float = 1e-10, max_iter: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Invert GCJ-02 by fixed-point iteration to ``tol_deg`` (1e-10 deg ~ 0.01 mm)."""
    glon, glat = np.asarray(lon, float), np.asarray(lat, float)
    _check_in_china(glon, glat, "GCJ-02 -> WGS84")
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if elon.size == 0 or max(np.abs(elon).max(), np.abs(elat).max()) < tol_deg:
            break
    return wlon, wlat


def gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward BD-09 from GCJ-02 (published formula)."""
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    _check_in_china(x, y, "GCJ-02 -> BD-09")
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(
    lon: np.ndarray, lat: np.ndarray, *, tol_deg: float = 1e-10, max_iter: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Invert BD-09 to GCJ-02 by iteration on the exact forward formula."""
    blon, blat = np.asarray(lon, float), np.asarray(lat, float)
    _check_in_china(blon, blat, "BD-09 -> GCJ-02")
    glon, glat = blon - 0.0065, blat - 0.006
    for _ in range(max_iter):
        flon, flat = gcj02_to_bd09(glon, glat)
        elon, elat = flon - blon, flat - blat
        glon, glat = glon - elon, glat - elat
        if elon.size == 0 or max(np.abs(elon).max(), np.abs(elat).max()) < tol_deg:
            break
    return glon, glat


def _to_wgs(datum: Datum, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if datum == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if datum == "bd09":
        return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    return lon, lat


def _from_wgs(datum: Datum, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if datum == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if datum == "bd09":
        return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    return lon, lat


def rows_outside_china(geoms: gpd.GeoSeries) -> list[int]:
    """Positions of non-empty geometries whose bounds leave the China box."""
    b = shapely.bounds(np.asarray(geoms.values, dtype=object))
    ok = ~np.isnan(b[:, 0])
    bad = ok & (_out_of_china(b[:, 0], b[:, 1]) | _out_of_china(b[:, 2], b[:, 3]))
    return np.flatnonzero(bad).tolist()


def _apply_datum(geoms: gpd.GeoSeries, fn, what: str) -> np.ndarray:
    bad = rows_outside_china(geoms)
    if bad:
        msg = (
            f"{what}: {len(bad)} feature(s) outside China (rows {bad[:10]}); GCJ-02/BD-09 are "
            "only defined inside China - check the declared datum or whether lon/lat are swapped"
        )
        raise OutsideChinaError(msg)

    def _xy(coords: np.ndarray) -> np.ndarray:
        x, y = fn(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms.values, dtype=object), _xy)


def convert_datum(
    gdf: gpd.GeoDataFrame, src: str | SourceCRS, dst: str | SourceCRS
) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` converted from ``src`` to ``dst``.

    ``src``/``dst`` may be real CRSs or the pseudo-datums ``gcj02``/``bd09``;
    pseudo-datums go through WGS84. The input is never modified.

    Parameters
    ----------
    gdf : GeoDataFrame
        Features whose coordinates are in ``src`` (its ``.crs`` is ignored when
        ``src`` is a pseudo-datum, since GCJ-02 files carry a WGS84 tag or none).
    src, dst : str or SourceCRS
        Declarations as accepted by :func:`parse_crs`.
    """
    s, d = parse_crs(src), parse_crs(dst)
    out = gdf.copy()
    if s.datum != "crs":
        out = out.set_crs(STORAGE_CRS, allow_override=True)
        out.geometry = gpd.GeoSeries(
            _apply_datum(out.geometry, lambda x, y: _to_wgs(s.datum, x, y), f"{s.label} -> WGS84"),
            index=out.index,
            crs=STORAGE_CRS,
        )
    else:
        assert s.crs is not None
        out = out.set_crs(s.crs, allow_override=True)
    if d.datum != "crs":
        out = out.to_crs(STORAGE_CRS)
        out.geometry = gpd.GeoSeries(
            _apply_datum(
                out.geometry, lambda x, y: _from_wgs(d.datum, x, y), f"WGS84 -> {d.label}"
            ),
            index=out.index,
            crs=STORAGE_CRS,
        )
        return out
    assert d.crs is not None
    return out.to_crs(d.crs)


def ensure_crs(
    gdf: gpd.GeoDataFrame, declared: str | SourceCRS | None, *, source: str
) -> gpd.GeoDataFrame:
    """Bring a freshly read layer to the storage CRS, refusing to guess.

    Parameters
    ----------
    gdf : GeoDataFrame
        As read from ``source``.
    declared : str, SourceCRS or None
        The user's declaration. Required when the file has no CRS; for GCJ-02 /
        BD-09 it must be given, since such files are tagged WGS84 or not at all.
    source : str
        File (and layer) name used in messages.

    Raises
    ------
    MissingCRSError
        The file has no CRS and none was declared.
    CRSMismatchError
        The declaration contradicts the file's CRS, or coordinates are impossible
        for the CRS (e.g. swapped lon/lat).
    """
    decl = parse_crs(declared) if declared is not None else None
    if decl is None and gdf.crs is None:
        msg = (
            f"{source}: no CRS in the file; declare it, e.g. --crs EPSG:4326 (WGS84), "
            "--crs EPSG:4490 (CGCS2000) or --crs gcj02 (Amap/Gaode coordinates)"
        )
        raise MissingCRSError(msg)
    if decl is not None and decl.datum == "crs" and gdf.crs is not None:
        assert decl.crs is not None
        if not _same_crs(decl.crs, gdf.crs):
            msg = (
                f"{source}: file says {gdf.crs.to_string()} but {decl.label} was declared; "
                "drop the declaration to use the file's CRS, or fix the file"
            )
            raise CRSMismatchError(msg)
    if decl is not None and decl.datum != "crs":
        if gdf.crs is not None and not gdf.crs.is_geographic:
            msg = (
                f"{source}: declared {decl.label} but the file is in projected "
                f"{gdf.crs.to_string()}; GCJ-02/BD-09 data are always lon/lat degrees"
            )
            raise CRSMismatchError(msg)
        out = convert_datum(gdf, decl, STORAGE_CRS)
        logger.info("%s: converted %s -> EPSG:4326 on load", source, decl.label)
    else:
        crs = decl.crs if decl is not None else gdf.crs
        out = gdf.set_crs(crs, allow_override=True)
        check_lonlat(out, source=source)
        if out.crs.to_epsg() not in STORAGE_EPSG:
            out = out.to_crs(STORAGE_CRS)
    check_lonlat(out, source=source)
    return out


def _same_crs(a: CRS, b: CRS) -> bool:
    if a == b:
        return True
    ea, eb = a.to_epsg(), b.to_epsg()
    # OGC:CRS84 and EPSG:4326 are the same datum, only the axis order differs
    geo84 = {4326, None}
    if a.is_geographic and b.is_geographic and ea in geo84 and eb in geo84:
        return "WGS 84" in a.name and "WGS 84" in b.name
    return ea is not None and ea == eb


def check_lonlat(gdf: gpd.GeoDataFrame, *, source: str) -> None:
    """Reject geographic data with impossible latitudes (typically swapped lon/lat).

    Raises
    ------
    CRSMismatchError
        If any latitude exceeds 90 degrees or longitude 180 degrees.
    """
    if gdf.crs is None or not gdf.crs.is_geographic or gdf.empty:
        return
    b = gdf.geometry.bounds
    bad = b.index[(b.maxy.abs() > 90) | (b.miny.abs() > 90) | (b.maxx.abs() > 180)]
    if len(bad):
        first = bad[0]
        msg = (
            f"{source}: row {first} has latitude outside [-90, 90] "
            f"(bounds {tuple(round(v, 4) for v in b.loc[first])}); lon/lat look swapped - "
            "write x=longitude, y=latitude (or swap the columns when building points)"
        )
        raise CRSMismatchError(msg)


def to_working(gdf: gpd.GeoDataFrame, crs: CRS | int | str | None = None) -> gpd.GeoDataFrame:
    """Project stored data to the metric working CRS ``crs`` (the one map's :attr:`working_crs`).

    Without ``crs`` the zone is chosen from the data (:func:`working_crs`: GK inside China, UTM
    elsewhere) - for build steps that run before a map exists; analyses pass the map's CRS.
    """
    if gdf.crs is None:
        msg = "cannot measure a layer without CRS; load it through cityplan.io.read_vector"
        raise MissingCRSError(msg)
    target = CRS.from_user_input(crs) if crs is not None else working_crs(gdf)
    if target.is_geographic:
        msg = f"working CRS must be metric, got geographic {target.to_string()}"
        raise CRSMismatchError(msg)
    return gdf.to_crs(target)


def to_display(gdf: gpd.GeoDataFrame, *, gcj02: bool = False) -> gpd.GeoDataFrame:
    """Return a WGS84 copy for display, shifted to GCJ-02 for Amap tiles if asked."""
    out = gdf.to_crs(STORAGE_CRS)
    return convert_datum(out, "EPSG:4326", "gcj02") if gcj02 else out
