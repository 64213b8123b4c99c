"""A CJK font for printed maps and documents, shipped by a pip dependency (``mplfonts``).

The Noto Sans CJK SC file inside the ``mplfonts`` wheel is registered with matplotlib's font
manager on first use (the package itself is not imported: only its font file is used), so Chinese
text renders on any fresh machine; fonts installed on the system are the fallback.
"""

from __future__ import annotations

import importlib.util
import logging
from functools import lru_cache
from pathlib import Path

from matplotlib import font_manager

logger = logging.getLogger(__name__)

#: (pip package, font file inside its ``fonts/`` folder, family name)
SHIPPED = (("mplfonts", "NotoSansCJKsc-Regular.otf", "Noto Sans CJK SC"),)
SYSTEM_CJK = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
              "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC", "AR PL UMing CN")


def shipped_font_file() -> Path | None:
    """Path of the CJK font file a pip dependency ships, if installed."""
    for package, name, _family in SHIPPED:
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            path = Path(folder) / "fonts" / name
            if path.is_file():
                return path
    return None


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Family name of a CJK-capable font (the shipped one first), registered with matplotlib."""
    path = shipped_font_file()
    if path is not None:
        font_manager.fontManager.addfont(str(path))
        return font_manager.FontProperties(fname=str(path)).get_name()
    names = {f.name for f in font_manager.fontManager.ttflist}
    found = next((f for f in SYSTEM_CJK if f in names), None)
    if found is None:
        logger.warning("no CJK font: install the 'mplfonts' package so Chinese text renders in print")
    return found


def font_families() -> list[str]:
    """``font.sans-serif`` list: the CJK font, then DejaVu Sans for anything it lacks."""
    f = cjk_font()
    return [f, "DejaVu Sans"] if f else ["DejaVu Sans"]
