"""Basemaps: OSM, Tianditu (WGS84/CGCS2000), Gaode (GCJ-02) or none."""

from __future__ import annotations

import html
import os
import re
from dataclasses import dataclass

import xyzservices.providers as xyz

from cityplan._errors import CityplanError

BASEMAPS = ("osm", "tianditu", "gaode", "none")
TIANDITU_ENV = "CITYPLAN_TIANDITU_KEY"


class BasemapError(CityplanError):
    """A basemap cannot be used (unknown name, missing key)."""


@dataclass(frozen=True)
class Basemap:
    """Tile layers of a basemap and the datum its tiles are drawn in."""

    name: str
    tiles: tuple[tuple[str, str, str], ...]  # (url, attribution html, subdomains)
    gcj02: bool = False
    max_zoom: int = 19


def custom_basemap(url: str, *, attribution: str | None = None, max_zoom: int | None = None,
                   gcj02: bool = False) -> Basemap:
    """The office's own XYZ tile server (``--tiles URL``), e.g. ``http://tiles.intranet/{z}/{x}/{y}.png``.

    Parameters
    ----------
    url : str
        Tile URL template with ``{z}``, ``{x}`` and ``{y}`` (``{s}`` for subdomains a, b, c).
    attribution : str, optional
        Plain text credit of the tiles (escaped; shown in the attribution line).
    max_zoom : int, optional
        Highest zoom the server has (default 18).
    gcj02 : bool
        The tiles are drawn in GCJ-02 (Amap-style): overlays are shifted for display.
    """
    missing = [k for k in ("{z}", "{x}", "{y}") if k not in url]
    if missing or not re.match(r"^(https?:)?//|^/|^file:", url):
        msg = (f"--tiles {url!r}: not an XYZ tile URL template (missing {', '.join(missing) or 'http(s)://'}); "
               "give e.g. http://tiles.intranet/{z}/{x}/{y}.png")
        raise BasemapError(msg)
    if max_zoom is not None and not 0 <= max_zoom <= 24:
        msg = f"--tiles-max-zoom {max_zoom}: out of range; give a zoom level from 0 to 24 (typically 18)"
        raise BasemapError(msg)
    attr = html.escape(attribution.strip()) if attribution and attribution.strip() else "tiles: " + html.escape(
        re.sub(r"^(https?:)?//", "", url).split("/")[0])
    return Basemap("custom", ((url, attr, "abc"),), gcj02=gcj02, max_zoom=max_zoom or 18)


def get_basemap(name: str | Basemap) -> Basemap:
    """Resolve ``osm``, ``tianditu`` (needs ``$CITYPLAN_TIANDITU_KEY``), ``gaode`` or ``none``.

    A :class:`Basemap` (e.g. from :func:`custom_basemap`) is returned as it is.
    """
    if isinstance(name, Basemap):
        return name
    if name == "none":
        return Basemap("none", ())
    if name == "osm":
        p = xyz.OpenStreetMap.Mapnik
        return Basemap("osm", ((p.build_url(), p.html_attribution, "abc"),), max_zoom=p.max_zoom)
    if name == "gaode":
        p = xyz.Gaode.Normal
        url = p.url.replace("http://", "https://").replace("webrd01", "webrd0{s}")
        return Basemap("gaode", ((url, p.html_attribution, "1234"),), gcj02=True, max_zoom=18)
    if name == "tianditu":
        key = os.environ.get(TIANDITU_ENV, "").strip()
        if not key:
            msg = (f"--basemap tianditu needs a Tianditu API key in ${TIANDITU_ENV} "
                   "(free from https://console.tianditu.gov.cn); or use --basemap osm|gaode|none")
            raise BasemapError(msg)
        attr = "&copy; 天地图 Tianditu, National Geomatics Center of China"
        tpl = ("https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
               "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
               "&TILECOL={{x}}&tk={key}")
        return Basemap("tianditu", ((tpl.format(layer="vec", key=key), attr, "01234567"),
                                    (tpl.format(layer="cva", key=key), attr, "01234567")), max_zoom=18)
    msg = f"unknown basemap {name!r}; choose one of {BASEMAPS}"
    raise BasemapError(msg)
