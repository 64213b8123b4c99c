"""folium elements: a map without CDN defaults, inline assets, compact layers, chrome."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import folium
from branca.element import Element, MacroElement

from cityplan.maps.assets import (
    LEAFLET_CDN_CSS,
    LEAFLET_CDN_JS,
    leaflet_css,
    leaflet_js,
    own_asset,
    script_safe,
)
from cityplan.maps.payload import json_for_script
from cityplan.text import BOTH, bilingual

#: the texts ``cityplan.js`` writes itself (legend head, search, buttons...): key -> (中文, English);
#: the script shows them bilingual (``Legend 图例``) unless ``Chrome`` is given ``texts``
UI_TEXTS: dict[str, tuple[str, str]] = {
    "illustrative_site": ("示意", "illustrative - not a real site"),
    "tiles_unavailable": ("底图瓦片无法加载", "basemap tiles unavailable — neutral background shown"),
    "layers": ("图层", "Layers"),
    "legend": ("图例", "Legend"),
    "fold": ("点击折叠", "click to fold"),
    "illustrative_tag": (" 示意", " illustrative"),
    "search": ("搜索…", "Search…"),
    "no_match": ("无结果", "no match"),
    "fullscreen": ("全屏", "Fullscreen"),
    "measure":
        ("测距（点击各点，再次点击按钮结束）", "Measure distance (click points, click the button again to stop)"),
    "measure_area": ("测面积（椭球面；点击各角点，再次点击按钮结束）",
                     "Measure area (geodesic; click corners, click the button again to stop)"),
    "locate": ("定位", "My location"),
    "locate_failed": ("无法定位", "location unavailable"),
    "opacity": ("透明度", "opacity"),
    "attribute_table": ("属性表", "Attribute table"),
    "table_button": ("表", "Table"),
    "in_view": ("视图内", "in view"),
    "all_features": ("全部", "all"),
    "clear_selection": ("清除选择", "clear selection"),
    "close": ("关闭", "close"),
    "filter": ("筛选", "filter"),
    "rows": ("行", "rows"),
    "first": ("前", "first"),
    "selected": ("已选", "selected"),
}


def ui_texts(languages: Iterable[str] | None) -> dict[str, str]:
    """What ``cityplan.js`` shows for each of its :data:`UI_TEXTS` in ``languages`` (``Chrome``'s
    ``texts``); empty when both Chinese and English are shown: the script's bilingual defaults."""
    langs = tuple(languages or BOTH)
    if set(BOTH) <= set(langs):
        return {}
    return {k: bilingual(zh, en, langs) for k, (zh, en) in UI_TEXTS.items()}


class Raw(Element):
    """Text put into the page verbatim.

    branca compiles every ``Element`` as a Jinja template; data (polyline strings,
    user names containing ``{{``) must never be parsed as one.
    """

    def __init__(self, text: str) -> None:
        super().__init__("")
        self._text = text

    def render(self, **kwargs: Any) -> str:  # noqa: D102, ARG002
        return self._text


class CityMap(folium.Map):
    """folium.Map without folium's CDN JS/CSS (jQuery, Bootstrap, ...): Leaflet comes from :class:`Assets`."""

    default_js: list[tuple[str, str]] = []
    default_css: list[tuple[str, str]] = []


class Assets(MacroElement):
    """Leaflet (inlined when ``offline``, else from the CDN) and cityplan's JS/CSS (always inlined)."""

    def __init__(self, *, offline: bool) -> None:
        super().__init__()
        self._name = "CityplanAssets"
        self.offline = offline

    def render(self, **kwargs: Any) -> None:  # noqa: D102
        header = self.get_root().header
        if self.offline:
            header.add_child(Raw(f"<style>{script_safe(leaflet_css())}</style>"), name="leaflet_css")
            header.add_child(Raw(f"<script>{script_safe(leaflet_js())}</script>"), name="leaflet_js")
        else:
            header.add_child(Raw(f'<link rel="stylesheet" href="{LEAFLET_CDN_CSS}"/>'), name="leaflet_css")
            header.add_child(Raw(f'<script src="{LEAFLET_CDN_JS}"></script>'), name="leaflet_js")
        header.add_child(Raw(f"<style>{script_safe(own_asset('cityplan.css'))}</style>"),
                         name="cityplan_css")
        header.add_child(Raw(f"<script>{script_safe(own_asset('cityplan.js'))}</script>"),
                         name="cityplan_js")


class _Script(MacroElement):
    """A script line calling ``cityplan.FUNC(map, DATA)``, added verbatim (see :class:`Raw`)."""

    func = ""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__()
        self._name = type(self).__name__
        self.data = json_for_script(data)

    def render(self, **kwargs: Any) -> None:  # noqa: D102, ARG002
        # a JSON string handed to JSON.parse parses much faster than a JS object literal
        js = (f"var {self.get_name()} = cityplan.{self.func}({self._parent.get_name()}, "
              f"JSON.parse({json.dumps(self.data, ensure_ascii=False)}));")
        self.get_root().script.add_child(Raw(js), name=self.get_name())


class CompactLayer(_Script):
    """A layer drawn by ``cityplan.addLayer`` from a compact payload (see :mod:`cityplan.maps.payload`)."""

    func = "addLayer"

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload)
        self.layer_id = payload["id"]


class Chrome(_Script):
    """Layer control, legend, search, scale bar, fullscreen, measure, minimap, panel, attribution.

    ``texts`` (:func:`ui_texts`), when given, replaces the chrome's own bilingual texts.
    """

    func = "init"
