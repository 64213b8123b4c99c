"""Detect text decoded with the wrong encoding (GBK read as Latin-1, the shapefile classic)."""

from __future__ import annotations

import codecs
from collections.abc import Iterable

from cityplan._errors import EncodingError

_CANDIDATES = ("gbk", "gb18030", "big5", "utf-8")


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef"


def _high(ch: str) -> bool:
    return "\u0080" <= ch <= "\u00ff"


def _paired_share(text: str) -> float:
    """Share of Latin-1 high characters standing in runs of two or more.

    A CJK character in GBK is two high bytes, so mis-decoded Chinese is made of
    runs; accented Western words ("Crème brûlée", "Hélène") have isolated ones.
    """
    high = paired = 0
    run = 0
    for ch in text + " ":
        if _high(ch):
            run += 1
            continue
        high += run
        paired += run if run >= 2 else 0
        run = 0
    return paired / high if high else 0.0


def detect_mojibake(values: Iterable[object]) -> str | None:
    """Guess the real encoding of strings that look mis-decoded as Latin-1.

    A shapefile without ``.cpg`` is read by GDAL as ISO-8859-1; Chinese GBK text
    then appears as runs of accented Latin characters (``¹þ¶û±õ`` for 哈尔滨).
    Only DBF text can be misread this way: GeoJSON and GeoPackage are UTF-8 by
    definition, so callers check shapefiles only. Isolated accented letters of
    real words ("Crème brûlée", "Hélène") are never taken for mojibake.

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
        if isinstance(v, str) and sum(_high(c) for c in v) >= 2 and _paired_share(v) >= 0.8
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


#: encodings suggested in messages (any name Python's codecs know is accepted)
COMMON_ENCODINGS = ("utf-8", "gbk", "gb18030", "big5", "latin-1", "utf-16")


def check_encoding_name(name: str, *, option: str = "--encoding") -> str:
    """Return Python's canonical name of ``name`` or raise a one-line error listing valid ones."""
    try:
        return codecs.lookup(name).name
    except (LookupError, TypeError, ValueError):
        msg = (f"{option} {name!r}: unknown text encoding; use one of "
               f"{', '.join(COMMON_ENCODINGS)} (any Python codec name)")
        raise EncodingError(msg) from None


def decode_text(data: bytes, encoding: str | None, *, source: str) -> tuple[str, str]:
    """Decode a text file: the given encoding, else UTF-8, else GBK (GB 18030) if it reads as Chinese.

    Returns
    -------
    (text, encoding used)

    Raises
    ------
    EncodingError
        One line with the byte offset, the bad bytes and the ``--encoding`` to pass.
    """
    if encoding is not None:
        enc = check_encoding_name(encoding)
        try:
            return data.decode("utf-8-sig" if enc == "utf-8" else enc), enc
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            msg = (f"{source}: line {line} is not valid {enc} (bytes {data[exc.start:exc.start + 4]!r}); "
                   f"try --encoding {'gbk' if enc != 'gbk' else 'utf-8'}")
            raise EncodingError(msg) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = ""
    wide = [c for c in text if ord(c) > 0x7F]
    if wide and sum(_is_cjk(c) for c in wide) / len(wide) > 0.8:
        return text, "gbk"
    line = data[:first_bad].count(b"\n") + 1
    msg = (f"{source}: line {line} is not UTF-8 (bytes {data[first_bad:first_bad + 4]!r}) nor Chinese "
           "GBK; pass its encoding, e.g. --encoding gbk, --encoding big5 or --encoding latin-1")
    raise EncodingError(msg)
