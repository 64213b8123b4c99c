"""What a review is asked about (its intake) and the CRS its file was read in.

The intake - 项目名称 project, 申请单位 applicant, 项目类型 project type and the declared
坐标系 CRS - comes from the CLI options or the review desk's form; it is stored with the review
and printed in every output.

The CRS *as read* says which coordinate system the file's numbers are in and how that is known:

``file``
    the file declares it: GeoJSON is WGS 84 by its specification (RFC 7946) unless it carries a
    legacy ``crs`` member, a shapefile's ``.prj``, a GeoPackage layer's SRS, KML (WGS 84 by
    specification), the zone named in a 界址点 TXT header (带号 / 中央经线);
``declared``
    the user chose it (``--crs`` on the CLI, 坐标系 on the desk): a DXF, a CSV of degrees,
    GCJ-02 / BD-09 coordinates;
``detected``
    the coordinates name it: the zone prefix of Gauss-Krüger eastings (``42512345.67`` = CGCS2000
    3-degree zone 42 = EPSG:4530) in a 界址点 TXT or a point table.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
from pyproj import CRS

from cityplan._errors import CityplanError, ReviewError
from cityplan.crs import parse_crs
from cityplan.review.proposal import TYPE_ZH, normalise_type
from cityplan.review.rules import PROJECT_TYPES

logger = logging.getLogger(__name__)

#: how a CRS as read is known, as the outputs say it (Chinese first)
HOW_TEXT = {"file": "文件声明 file", "declared": "用户声明 declared", "detected": "自动识别 detected"}
#: the project types as users read them: stored code -> "桥梁 bridge"
PROJECT_TYPE_LABELS = {t: f"{TYPE_ZH.get(t, t)} {t.replace('_', ' ')}" for t in PROJECT_TYPES}
#: longest project / applicant name accepted
MAX_NAME = 200
_PSEUDO = {"gcj02": "GCJ-02 (高德/腾讯 Amap/Tencent; converted to WGS 84)",
           "bd09": "BD-09 (百度 Baidu; converted to WGS 84)"}


def project_type_label(code: str | None) -> str:
    """``"桥梁 bridge"`` for ``bridge``; ``""`` for none."""
    return PROJECT_TYPE_LABELS.get(code or "", code or "")


def clean_name(value: object, *, what: str) -> str:
    """A project / applicant name as one line of plain text (control characters dropped);
    :class:`ReviewError` when longer than :data:`MAX_NAME` characters."""
    text = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in str(value or ""))
    text = " ".join(text.split())
    if len(text) > MAX_NAME:
        msg = f"{what}: {len(text)} characters; give at most {MAX_NAME}"
        raise ReviewError(msg)
    return text


@dataclass(frozen=True)
class Intake:
    """What the review was asked: project, applicant, project type (a code of
    :data:`~cityplan.review.rules.PROJECT_TYPES`, or None: from the file's attributes) and the
    declared CRS (None: the file's own or detected)."""

    project: str = ""
    applicant: str = ""
    project_type: str | None = None
    crs: str | None = None

    @classmethod
    def make(cls, *, project: object = "", applicant: object = "", project_type: object = None,
             crs: object = None) -> Intake:
        """Checked and normalised (``桥梁`` -> ``bridge``; names as one line)."""
        ptype = None if project_type in (None, "") else normalise_type(project_type, where="--type")
        decl = str(crs).strip() if crs not in (None, "") else None
        return cls(project=clean_name(project, what="项目名称 project"),
                   applicant=clean_name(applicant, what="申请单位 applicant"), project_type=ptype, crs=decl)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (stored with the review)."""
        return {"project": self.project, "applicant": self.applicant, "project_type": self.project_type or "",
                "project_type_label": project_type_label(self.project_type), "crs_declared": self.crs or ""}


# ---------------------------------------------------------------------------- CRS as read
def _crs_fields(crs: CRS) -> tuple[str, int | None, str]:
    code = crs.to_epsg()
    if code is None and crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        code = 4326  # OGC:CRS84 (GeoJSON's own) is WGS 84 in lon/lat order
    if code is None and crs.equals(CRS.from_epsg(4490), ignore_axis_order=True):
        code = 4490
    name = CRS.from_epsg(code).name if code else crs.name
    return (f"EPSG:{code}" if code else name), code, name


def as_read(crs: CRS | str, how: str, basis: str) -> dict[str, Any]:
    """``{"crs": "EPSG:4530", "epsg": 4530, "name": "CGCS2000 / 3-degree Gauss-Kruger zone 42",
    "how": "detected", "basis": "..."}``; ``crs`` may be ``gcj02`` / ``bd09``."""
    if isinstance(crs, str) and crs in _PSEUDO:
        return {"crs": crs, "epsg": None, "name": _PSEUDO[crs], "how": how, "basis": basis}
    text, code, name = _crs_fields(crs if isinstance(crs, CRS) else CRS.from_user_input(crs))
    return {"crs": text, "epsg": code, "name": name, "how": how, "basis": basis}


def crs_text(info: dict[str, Any] | None) -> str:
    """``"EPSG:4530 CGCS2000 / 3-degree Gauss-Kruger zone 42 - 自动识别 detected: zone prefix 42 of
    the eastings"``; ``"?"`` when unknown."""
    if not info:
        return "?"
    head = info.get("crs") or "?"
    name = info.get("name") or ""
    if name and name != head:
        head += f" {name}"
    how = HOW_TEXT.get(str(info.get("how")), str(info.get("how") or ""))
    basis = f": {info['basis']}" if info.get("basis") else ""
    return f"{head} - {how}{basis}" if how else head


def _ogr_basis(suffix: str, crs: CRS) -> str:
    code = _crs_fields(crs)[1]
    if suffix in (".geojson", ".json", ".geojsonl", ".geojsons"):
        return ("GeoJSON is WGS 84 by specification (RFC 7946)" if code == 4326
                else "the GeoJSON's crs member")
    return {".gpkg": "the GeoPackage layer's SRS", ".shp": "the shapefile's .prj", ".kml": "KML is WGS 84 by specification",
            ".gml": "the GML's srsName", ".fgb": "the FlatGeobuf header"}.get(suffix, "the file's own CRS")


def _ogr_crs(path: Path, layer: str | None) -> CRS | None:
    import pyogrio

    try:
        text = pyogrio.read_info(path, layer=layer).get("crs")
    except Exception as exc:  # noqa: BLE001 - provenance is best effort; the read itself succeeded
        logger.debug("%s: CRS not read back (%s)", path, exc)
        return None
    return CRS.from_user_input(text) if text else None


def _file_crs(path: Path, layer: str | None, encoding: str | None) -> tuple[CRS | None, str, str]:
    """The CRS a file names (or its coordinates do) without a declaration: (crs, how, basis)."""
    from cityplan.io.archive import VECTOR_MEMBERS, extracted, member_for
    from cityplan.io.pointtable import read_point_table
    from cityplan.io.read import file_kind, resolve_layer

    kind = file_kind(path)
    if kind in ("kml", "kmz"):
        return CRS.from_epsg(4326), "file", "KML is WGS 84 by specification"
    if kind == "table":
        frame = read_point_table(path, layer=resolve_layer(path, layer), encoding=encoding)
        return frame.crs, "detected", "zone prefix of the eastings (Gauss-Krüger, CGCS2000 assumed)"
    if kind == "zip":
        member = member_for(path, layer, kinds=VECTOR_MEMBERS)
        with extracted(path, member) as inner:
            crs = _ogr_crs(inner, None)
            return crs, "file", f"{Path(member).name}: {_ogr_basis(inner.suffix.lower(), crs) if crs else '?'}"
    lyr = resolve_layer(path, layer) if kind == "ogr" else layer
    crs = _ogr_crs(path, lyr)
    return crs, "file", _ogr_basis(path.suffix.lower(), crs) if crs is not None else "the file's own CRS"


def crs_as_read(path: str | Path, frame: gpd.GeoDataFrame, *, declared: str | None = None,
                layer: str | None = None, encoding: str | None = None) -> dict[str, Any]:
    """The CRS ``path`` was read in and how it is known (see the module's doc).

    Parameters
    ----------
    path : path-like
        The file as given to :func:`~cityplan.io.read.read_vector`.
    frame : GeoDataFrame
        What ``read_vector`` returned (its ``attrs["crs_as_read"]``, set by readers that know
        more, e.g. the 界址点 reader's zone prefix, wins).
    declared : str, optional
        The user's ``--crs``.
    """
    p = Path(path)
    hook = frame.attrs.get("crs_as_read") if hasattr(frame, "attrs") else None
    if declared:
        decl = parse_crs(declared)
        if decl.datum != "crs":
            return as_read(decl.datum, "declared", f"declared by the user ({declared})")
        return as_read(decl.crs, "declared", f"declared by the user ({declared})")
    if isinstance(hook, dict) and hook.get("epsg"):
        return as_read(CRS.from_epsg(int(hook["epsg"])), str(hook.get("how") or "file"), str(hook.get("basis") or ""))
    try:
        crs, how, basis = _file_crs(p, layer, encoding)
    except Exception as exc:  # noqa: BLE001 - best effort: read_vector read the file, so the frame's CRS stands
        logger.debug("%s: CRS as read unknown (%s)", p, exc)
        crs, how, basis = None, "file", ""
    if crs is None:  # read_vector read it, so it named one: the frame keeps it when not converted
        crs = frame.crs
        basis = basis or "the file's own CRS"
    return as_read(crs, how, basis)


# ---------------------------------------------------------------------------- CRS choices
@lru_cache(maxsize=1)
def crs_choices(china: bool = True) -> list[tuple[str, list[tuple[str, str]]]]:
    """The desk's 坐标系 choices: ``[(group label, [(value, label), ...]), ...]``; the GK zones,
    GCJ-02 and BD-09 only for a map in China (``china``). Any other EPSG code is typed in."""
    geo = [("EPSG:4326", "WGS 84 经纬度 lon/lat (GPS) - EPSG:4326"),
           ("EPSG:4490", "CGCS2000 经纬度 lon/lat - EPSG:4490")]
    if not china:
        return [("经纬度 Geographic", geo)]
    web = [("gcj02", "GCJ-02 高德/腾讯 Amap/Tencent lon/lat"), ("bd09", "BD-09 百度 Baidu lon/lat")]

    def zones(first: int, last: int) -> list[tuple[str, str]]:
        return [(f"EPSG:{c}", f"{CRS.from_epsg(c).name} - EPSG:{c}") for c in range(first, last + 1)]

    return [("经纬度 Geographic", [*geo, *web]),
            ("CGCS2000 3° 高斯-克吕格 带号在前 zone-prefixed eastings (3-degree)", zones(4513, 4533)),
            ("CGCS2000 3° 高斯-克吕格 中央经线 no zone prefix (3-degree)", zones(4534, 4554)),
            ("CGCS2000 6° 高斯-克吕格 带号在前 zone-prefixed eastings (6-degree)", zones(4491, 4501)),
            ("CGCS2000 6° 高斯-克吕格 中央经线 no zone prefix (6-degree)", zones(4502, 4512))]


_EPSG_RE = re.compile(r"^(?:epsg:)?\s*(\d{4,6})$", re.IGNORECASE)


def choose_crs(choice: str | None, other: str | None = None) -> str | None:
    """The desk's 坐标系 choice (a value of :func:`crs_choices`, ``""`` = the file's own, or
    ``epsg`` with ``other`` an EPSG code) as a ``--crs`` value; :class:`ReviewError` if unusable."""
    c = (choice or "").strip()
    if c in ("", "file"):
        return None
    if c == "epsg":
        m = _EPSG_RE.match((other or "").strip())
        if not m:
            msg = f"坐标系 CRS: {other!r} is not an EPSG code; give e.g. EPSG:4551 or 4530"
            raise ReviewError(msg)
        c = f"EPSG:{m.group(1)}"
    elif c not in ("gcj02", "bd09"):
        m = _EPSG_RE.match(c)
        if not m:
            msg = f"坐标系 CRS: {c!r} is not one of the choices"
            raise ReviewError(msg)
        c = f"EPSG:{m.group(1)}"
    try:
        parse_crs(c)
    except CityplanError as exc:
        raise ReviewError(f"坐标系 CRS: {exc}") from None
    return c
