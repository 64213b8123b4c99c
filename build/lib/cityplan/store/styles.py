"""QGIS styles (QML) from the catalog's style hints, so QGIS opens the one map as planners expect.

The QML goes into the standard ``layer_styles`` table (default style), which QGIS reads from
GeoPackage and PostGIS alike. Illustrative layers get dashed outlines, as on cityplan's maps.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

_HEAD = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"

#: Leaflet-style weight (CSS px) -> QGIS millimetres
_PX_MM = 0.26


def _rgba(color: str | None, alpha: int = 255) -> str:
    c = (color or "#555555").lstrip("#")
    if len(c) == 3:
        c = "".join(ch * 2 for ch in c)
    try:
        r, g, b = int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    except ValueError:
        r, g, b = 85, 85, 85
    return f"{r},{g},{b},{alpha}"


def _opt(name: str, value: object) -> str:
    return f'<Option name={quoteattr(name)} type="QString" value={quoteattr(str(value))}/>'


def qml_for(geometry: str, style: dict[str, Any], *, illustrative: bool = False, title: str = "") -> str:
    """A QML document for a layer of ``geometry`` type drawn with the catalog ``style``.

    Returns an empty string for attribute tables (``geometry == "None"``/``"table"``).
    """
    g = geometry.lower()
    if g in ("none", "table", ""):
        return ""
    color = style.get("color", "#555555")
    weight = float(style.get("weight", 1)) * _PX_MM
    dashed = bool(style.get("dash")) or illustrative
    line_style = "dash" if dashed else "solid"
    if "point" in g:
        size = max(1.0, float(style.get("radius", 4)) * 2 * _PX_MM)
        kind, cls = "marker", "SimpleMarker"
        opts = [_opt("name", "circle"), _opt("color", _rgba(color, 200)), _opt("size", f"{size:.2f}"),
                _opt("size_unit", "MM"), _opt("outline_color", _rgba("#ffffff")),
                _opt("outline_style", line_style), _opt("outline_width", "0.2")]
    elif "line" in g:
        kind, cls = "line", "SimpleLine"
        opts = [_opt("line_color", _rgba(color)), _opt("line_width", f"{weight:.2f}"),
                _opt("line_width_unit", "MM"), _opt("line_style", line_style),
                _opt("capstyle", "round"), _opt("joinstyle", "round")]
    else:
        fill = style.get("fill", True)
        kind, cls = "fill", "SimpleFill"
        fill_opts = ([_opt("style", "no")] if fill is False else
                     [_opt("style", "solid"), _opt("color", _rgba(fill if isinstance(fill, str) else color, 140))])
        opts = [*fill_opts, _opt("outline_color", _rgba(color)), _opt("outline_width", f"{weight:.2f}"),
                _opt("outline_width_unit", "MM"), _opt("outline_style", line_style)]
    body = "".join(opts)
    label = f"<!-- {title} -->" if title and "--" not in title else ""
    return (f"{_HEAD}<qgis version=\"3.28.0\" styleCategories=\"Symbology\">{label}"
            "<renderer-v2 type=\"singleSymbol\" symbollevels=\"0\" enableorderby=\"0\" forceraster=\"0\">"
            f"<symbols><symbol type=\"{kind}\" name=\"0\" alpha=\"1\" clip_to_extent=\"1\" force_rhr=\"0\">"
            f"<layer class=\"{cls}\" enabled=\"1\" pass=\"0\" locked=\"0\"><Option type=\"Map\">{body}"
            "</Option></layer></symbol></symbols><rotation/><sizescale/></renderer-v2>"
            "<blendMode>0</blendMode><featureBlendMode>0</featureBlendMode>"
            "<layerGeometryType>" + {"marker": "0", "line": "1", "fill": "2"}[kind] + "</layerGeometryType>"
            "</qgis>\n")
