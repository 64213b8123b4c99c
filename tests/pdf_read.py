"""A minimal PDF reader for tests (no dependency): page media boxes, font names, ToUnicode code points.

Matplotlib writes page dictionaries uncompressed and streams Flate-compressed; this reads both
directly from the bytes, independently of the library that wrote them.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)


def media_boxes(path: Path) -> list[tuple[float, ...]]:
    """``/MediaBox`` of every page object, in points."""
    data = Path(path).read_bytes()
    pages = re.findall(rb"/Type\s*/Page\b(?!s).*?/MediaBox\s*\[\s*([^\]]+)\]", data, re.S)
    return [tuple(float(v) for v in b.split()) for b in pages]


def base_fonts(path: Path) -> set[str]:
    """Names of the fonts the PDF embeds (subset prefixes kept)."""
    return {m.decode() for m in re.findall(rb"/BaseFont\s*/([^\s/>]+)", Path(path).read_bytes())}


def streams(path: Path) -> list[bytes]:
    """Every stream, inflated when Flate-compressed."""
    out = []
    for raw in _STREAM.findall(Path(path).read_bytes()):
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            out.append(raw)
    return out


def unicode_chars(path: Path) -> set[str]:
    """Characters the fonts' ToUnicode CMaps map glyphs to (the text the PDF can show)."""
    chars: set[str] = set()
    for s in streams(path):
        if b"begincmap" not in s:
            continue
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", s, re.S):
            for _src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                chars.update(_utf16(dst))
        for block in re.findall(rb"beginbfrange(.*?)endbfrange", s, re.S):
            entries = re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(\[[^\]]*\]|<[0-9A-Fa-f]+>)", block)
            for lo, hi, dst in entries:
                if dst.startswith(b"["):  # one destination per code
                    for d in re.findall(rb"<([0-9A-Fa-f]+)>", dst):
                        chars.update(_utf16(d))
                    continue
                base = _utf16(dst[1:-1])
                if len(base) == 1:
                    chars.update(chr(ord(base) + i) for i in range(int(hi, 16) - int(lo, 16) + 1))
    return chars


def _utf16(hexes: bytes) -> str:
    try:
        return bytes.fromhex(hexes.decode()).decode("utf-16-be")
    except (ValueError, UnicodeDecodeError):
        return ""
