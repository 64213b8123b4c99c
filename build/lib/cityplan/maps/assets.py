"""Leaflet and cityplan's own JS/CSS: CDN links for online maps, inlined for offline ones."""

from __future__ import annotations

import base64
import re
from functools import cache
from importlib import resources
from pathlib import Path

from cityplan._errors import LayerNotFoundError

LEAFLET_VERSION = "1.9.4"
LEAFLET_CDN_JS = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist/leaflet.js"
LEAFLET_CDN_CSS = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist/leaflet.css"


def _leaflet_dir() -> Path:
    try:
        root = resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"
    except ModuleNotFoundError:
        msg = ("offline maps need Leaflet from the package 'django-js-lib-leaflet'; "
               "install it with: pip install django-js-lib-leaflet")
        raise LayerNotFoundError(msg) from None
    return Path(str(root))


@cache
def leaflet_js() -> str:
    """Leaflet's minified JS from the installed package."""
    return (_leaflet_dir() / "leaflet.js").read_text(encoding="utf-8")


@cache
def leaflet_css() -> str:
    """Leaflet's CSS with its images inlined as data URIs (nothing fetched at view time)."""
    root = _leaflet_dir()
    css = (root / "leaflet.css").read_text(encoding="utf-8")

    def _inline(m: re.Match[str]) -> str:
        path = root / m.group(1)
        if not path.exists():
            return m.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    return re.sub(r"url\((images/[^)]+\.png)\)", _inline, css)


@cache
def own_asset(name: str) -> str:
    """``cityplan.js`` or ``cityplan.css`` shipped with the package."""
    return (resources.files("cityplan.maps") / "static" / name).read_text(encoding="utf-8")


def script_safe(text: str) -> str:
    """Make code safe inside an inline ``<script>``/``<style>`` element (no early close tag)."""
    return re.sub(r"</(script|style)", r"<\\/\1", text, flags=re.IGNORECASE)
