"""Detect text decoded with the wrong encoding (GBK read as Latin-1, the shapefile classic)."""

from __future__ import annotations

from collections.abc import Iterable

_CANDIDATES = ("gbk", "gb18030", "big5", "utf-8")


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef"


def detect_mojibake(values: Iterable[object]) -> str | None:
    """Guess the real encoding of strings that look mis-decoded as Latin-1.

    A shapefile without ``.cpg`` is read by GDAL as ISO-8859-1; Chinese GBK text
    then appears as runs of accented Latin characters (``¹þ¶û±õ`` for 哈尔滨).

    Parameters
    ----------
    values : iterable
        Attribute values; non-strings are ignored.

    Returns
    -------
    str or None
        The encoding under which the suspicious strings decode to CJK text, or
        ``None`` if the text looks fine.
    """
    suspicious = [
        v for v in values
        if isinstance(v, str) and sum("\u0080" <= c <= "\u00ff" for c in v) >= 2
    ]
    if not suspicious:
        return None
    raw = []
    for v in suspicious[:50]:
        try:
            raw.append(v.encode("latin-1"))
        except UnicodeEncodeError:
            return None
    for enc in _CANDIDATES:
        try:
            decoded = [b.decode(enc) for b in raw]
        except UnicodeDecodeError:
            continue
        chars = "".join(decoded)
        if chars and sum(_is_cjk(c) for c in chars) / len(chars) > 0.3:
            return enc
    return None
