"""The pages' CJK web font: unicode-range slices of the Noto Sans CJK SC the package already ships.

A thin client or kiosk without a CJK font shows every Chinese label as □ unless the page brings
its own. The font :mod:`cityplan.fonts` uses for print (``mplfonts``' Noto Sans CJK SC, 16 MB) is
cut with fontTools into WOFF2 slices, each declared by an ``@font-face`` rule of the family
:data:`FAMILY` with its ``unicode-range`` in ``server/static/server.css``; the browser fetches only
the slices holding characters a page shows:

- slice ``00``: Latin, punctuation, CJK symbols, full-width forms and every character of the
  package's own texts (templates, the map's script, the code and header dictionaries, the
  built-in profiles' names: ``server/static/webfont-first.txt``) - nearly all a page needs;
- slices ``01``-``08``: the rest of GB 2312 level 1 (the common hanzi) in its order;
- slices ``09``-``14``: GB 2312 level 2 (less common hanzi);
- then every other character of the font (rare hanzi, extension A/B, kana, hangul) in slices of
  500 by code point: data names and typed-in project names with rare characters still render.

The slices are fixed by the font's character map and ``webfont-first.txt`` (not by a city), so
``server.css`` is a static file; ``python -m cityplan.server.webfont`` rewrites its font block
(``--first`` also re-collects ``webfont-first.txt`` from the package's texts); a test fails when
the block is out of date; ``--warm`` cuts the common slices 00-14 into the cache folder ahead of use
(after an install, or before a test run). A slice is cut on first request (2-6 s, one at a time; WOFF2's Brotli
costs most of it) into the machine's cache folder (:func:`cache_folder`: ``$CITYPLAN_CACHE``,
else ``$XDG_CACHE_HOME/cityplan``, else ``~/.cache/cityplan``; the server's data folder when
that cannot be written), shared by every server on the machine, and served with a year-long,
immutable HTTP cache (the file name carries the slicing's hash).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import sys
import tempfile
import threading
from functools import cache
from importlib import resources
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityplan.fonts import shipped_font_file
from cityplan.io.write import atomic_path
from cityplan.server.context import context

logger = logging.getLogger(__name__)

#: the family the pages' CSS names first
FAMILY = "cityplan CJK"
#: code point ranges of slice 00 (what nearly every page shows besides hanzi)
BASIC = ((0x20, 0x7E), (0xA0, 0x24F), (0x2000, 0x206F), (0x2100, 0x22FF), (0x2460, 0x24FF), (0x2500, 0x25FF),
         (0x3000, 0x303F), (0xFF00, 0xFFEF))
L1_SLICES, L2_SLICES, REST_SIZE = 8, 6, 500
_BEGIN, _END = "/* cjk-webfont:begin (python -m cityplan.server.webfont) */", "/* cjk-webfont:end */"
_NAME = re.compile(r"^cjk-([0-9a-f]{8})-(\d\d)\.woff2$")
#: one slice is cut at a time per process (CPU-bound; the others wait for the file)
_cutting = threading.Lock()
#: the package's own texts whose characters go into slice 00 (``--first`` collects them)
FIRST_SOURCES = ("server/templates/*.j2", "server/*.py", "maps/static/*.js", "text.py", "report/headers.py",
                 "review/intake.py",
                 "report/layout.py", "cities/*/*.yaml", "cities/*/maps/*.yaml", "city/template/*.yaml",
                 "city/template/maps/*.yaml")


def _gb2312(first: int, last: int) -> list[int]:
    """The characters of GB 2312 rows ``first``-``last`` (0xB0-0xD7: level 1, 0xD8-0xF7: level 2)."""
    out = []
    for b1 in range(first, last + 1):
        for b2 in range(0xA1, 0xFF):
            try:
                out.append(ord(bytes((b1, b2)).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return out


def _chunks(items: list[int], n: int) -> list[list[int]]:
    size = -(-len(items) // n)
    return [items[i:i + size] for i in range(0, len(items), size)]


@cache
def font_cmap() -> frozenset[int]:
    """The code points of the shipped font (empty without ``mplfonts``)."""
    path = shipped_font_file()
    if path is None:
        return frozenset()
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as f:
        return frozenset(f.getBestCmap())


def first_file() -> Path:
    """``server/static/webfont-first.txt``: the characters of the package's own texts."""
    return Path(str(resources.files("cityplan.server") / "static" / "webfont-first.txt"))


def collect_first() -> str:
    """The CJK characters of :data:`FIRST_SOURCES` (sorted, one string)."""
    import cityplan
    from cityplan.text import has_cjk

    root = Path(cityplan.__file__).parent
    chars = {ch for pattern in FIRST_SOURCES for f in sorted(root.glob(pattern))
             for ch in f.read_text(encoding="utf-8") if ord(ch) > 0x7F and has_cjk(ch)}
    return "".join(sorted(chars))


@cache
def slices() -> tuple[tuple[int, ...], ...]:
    """The code points of each slice, in order (see the module's text)."""
    cmap = font_cmap()
    first = {ord(ch) for ch in first_file().read_text(encoding="utf-8").strip()}
    basic = sorted({c for lo, hi in BASIC for c in range(lo, hi + 1)} | first)
    basic = [c for c in basic if c in cmap]
    l1 = [c for c in _gb2312(0xB0, 0xD7) if c in cmap and c not in first]
    l2 = [c for c in _gb2312(0xD8, 0xF7) if c in cmap and c not in first]
    taken = set(basic) | set(l1) | set(l2)
    rest = sorted(c for c in cmap if c not in taken and c > 0x7F)
    parts = [basic, *_chunks(l1, L1_SLICES), *_chunks(l2, L2_SLICES),
             *[rest[i:i + REST_SIZE] for i in range(0, len(rest), REST_SIZE)]]
    return tuple(tuple(p) for p in parts if p)


@cache
def version() -> str:
    """Eight hex digits naming this slicing (in every slice's file name: a new slicing, new URLs)."""
    h = hashlib.sha256(repr(slices()).encode())
    return h.hexdigest()[:8]


def unicode_range(points: tuple[int, ...]) -> str:
    """``U+20-7E,U+A0`` for the code points (consecutive ones as ranges).

    Examples
    --------
    >>> unicode_range((0x20, 0x21, 0x22, 0x4E00, 0x4E02))
    'U+20-22,U+4E00,U+4E02'
    """
    out, start, prev = [], None, None
    for c in [*sorted(points), None]:
        if start is not None and (c is None or c != prev + 1):
            out.append(f"U+{start:X}" if start == prev else f"U+{start:X}-{prev:X}")
            start = None
        if c is not None and start is None:
            start = c
        prev = c
    return ",".join(out)


def slice_name(i: int) -> str:
    """The file name of slice ``i`` (``cjk-<version>-07.woff2``)."""
    return f"cjk-{version()}-{i:02d}.woff2"


def font_css() -> str:
    """The ``@font-face`` rules of every slice (the block ``server.css`` holds); the ranges do not
    overlap, so the browser fetches a slice only for a character it holds."""
    rules = [f'@font-face {{ font-family: "{FAMILY}"; src: url("/static/fonts/{slice_name(i)}") format("woff2"); '
             f"font-display: swap; unicode-range: {unicode_range(points)}; }}" for i, points in enumerate(slices())]
    return "\n".join([_BEGIN, *rules, _END])


def css_block(css: str) -> str | None:
    """The font block of a stylesheet's text (None when it has none)."""
    if _BEGIN not in css or _END not in css:
        return None
    return css[css.index(_BEGIN):css.index(_END) + len(_END)]


def make_slice(i: int) -> bytes:
    """Slice ``i`` as WOFF2 bytes, cut from the shipped font with fontTools (layout features kept)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    opts = subset.Options()
    opts.flavor = "woff2"
    opts.layout_features = ["*"]
    opts.name_IDs = ["*"]
    opts.notdef_outline = True
    with TTFont(shipped_font_file(), lazy=True) as font:
        sub = subset.Subsetter(opts)
        sub.populate(unicodes=slices()[i])
        sub.subset(font)
        font.flavor = "woff2"
        buf = io.BytesIO()
        font.save(buf)
    return buf.getvalue()


def cache_folder(fallback: Path) -> Path:
    """Where cut slices are kept: ``$CITYPLAN_CACHE/webfont``, ``$XDG_CACHE_HOME/cityplan/webfont``
    or ``~/.cache/cityplan/webfont`` (every server of the machine shares them); ``fallback`` when
    that folder cannot be made or written."""
    root = os.environ.get("CITYPLAN_CACHE") or (
        str(Path(os.environ["XDG_CACHE_HOME"]) / "cityplan") if os.environ.get("XDG_CACHE_HOME")
        else str(Path.home() / ".cache" / "cityplan"))
    folder = Path(root) / "webfont"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return fallback


def slice_file(i: int, folder: Path) -> Path:
    """Slice ``i`` in ``folder``, cut once (one cut at a time in this process; a file another
    process wrote meanwhile is taken as it is: the writes are atomic)."""
    path = folder / slice_name(i)
    if path.is_file():
        return path
    with _cutting:
        if not path.is_file():
            data = make_slice(i)
            with atomic_path(path, overwrite=True) as tmp:
                tmp.write_bytes(data)
            logger.info("web font slice %s: %d characters, %d bytes", path.name, len(slices()[i]), len(data))
    return path


def warm(fallback: Path) -> Path:
    """Cut the common slices (00: Latin and the package's texts; GB 2312) that are not cut yet, into
    the machine's cache (:func:`cache_folder`); returns the folder. A fresh install's first pages
    then need no cutting (the server's warm-up thread calls this)."""
    folder = cache_folder(fallback)
    for i in range(1 + L1_SLICES + L2_SLICES):
        slice_file(i, folder)
    return folder


async def font_slice(request: Request) -> Response:
    """``GET /static/fonts/cjk-<version>-NN.woff2``: one slice, cached for a year (immutable)."""
    m = _NAME.match(request.path_params["name"])
    if m is None or m.group(1) != version() or int(m.group(2)) >= len(slices()):
        return Response("not found", status_code=404)
    etag = f'"{m.group(1)}-{m.group(2)}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=31536000, immutable",
               "Access-Control-Allow-Origin": "*"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    folder = cache_folder(context(request).data_dir / "fonts")
    path = await run_in_threadpool(slice_file, int(m.group(2)), folder)
    body = await run_in_threadpool(path.read_bytes)
    return Response(body, media_type="font/woff2", headers=headers)


def stylesheet() -> Path:
    """``server/static/server.css`` of the installed package (the file the block is written into)."""
    return Path(str(resources.files("cityplan.server") / "static" / "server.css"))


def write_css_block(path: Path | None = None) -> bool:
    """Put :func:`font_css` into ``server.css`` (replacing the old block); True when it changed."""
    path = path or stylesheet()
    css = path.read_text(encoding="utf-8")
    old = css_block(css)
    new = font_css()
    if old == new:
        return False
    css = css.replace(old, new) if old is not None else new + "\n" + css
    path.write_text(css, encoding="utf-8")
    return True


def routes() -> list[Route]:
    """The font slices' route."""
    return [Route("/static/fonts/{name}", font_slice)]


if __name__ == "__main__":  # the developers' tool: refresh server.css after the font or the texts changed
    logging.basicConfig(level=logging.INFO)
    if "--first" in sys.argv:
        first_file().write_text(collect_first() + "\n", encoding="utf-8")
        slices.cache_clear()
        version.cache_clear()
    if "--warm" in sys.argv:  # cut the common slices now (after an install), not on first requests
        folder = warm(Path(tempfile.gettempdir()) / "cityplan-webfont")
        logger.info("common slices 00-%02d in %s", L1_SLICES + L2_SLICES, folder)
        sys.exit(0)
    changed = write_css_block()
    logger.info("server.css font block %s (%d slices, version %s)", "rewritten" if changed else "up to date",
                len(slices()), version())
    sys.exit(0)
