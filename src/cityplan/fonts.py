"""A CJK font for printed maps and documents, shipped by a pip dependency (``mplfonts``).

The Noto Sans CJK SC file inside the ``mplfonts`` wheel is registered with matplotlib's font
manager on first use (the package itself is not imported: only its font file is used), so Chinese
text renders on any fresh machine; fonts installed on the system are the fallback.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

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


def cjk_rc() -> dict[str, object]:
    """matplotlib settings for bilingual text: the CJK font first, no Unicode minus (missing
    from some CJK fonts). Scoped with :func:`cjk_figures`, never set process-wide."""
    return {"font.sans-serif": font_families(), "font.family": "sans-serif", "axes.unicode_minus": False}


def cjk_figures(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` - which makes, lays out or saves figures - under :func:`cjk_rc` only.

    Figures are made with ``matplotlib.figure.Figure`` (no pyplot, no process-wide backend), so
    a program embedding cityplan keeps its own matplotlib settings.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(cjk_rc()):
            return fn(*args, **kwargs)

    return wrapper


def agg_figure(**kwargs: Any) -> Figure:
    """A matplotlib figure drawn by Agg, made without pyplot (no process-wide backend, nothing
    kept in pyplot's figure list): ``kwargs`` go to ``Figure``."""
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig
