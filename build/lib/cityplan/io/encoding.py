"""Text encodings of users' files.

Two problems: text already decoded with the wrong encoding (GBK read as Latin-1, the
shapefile classic: :func:`detect_mojibake`), and raw bytes whose encoding has to be chosen
(:func:`decode_text` for point lists and 界址点 files, :func:`decode_table` for attribute
tables such as census CSVs). Legacy single-byte Western text (Latin-1 / Windows-1252) and
Chinese GB 18030 are told apart by plausibility (:func:`legacy_scores`): bytes of accented
Latin words decode under GB 18030 to isolated, rare ideographs wedged between ASCII letters
(``Regi鉶 Oeste``), and Chinese decodes under Windows-1252 to long runs of symbols and
accented letters (``ÄÏ¸ÚÇø`` for 南岗区).
"""

from __future__ import annotations

import codecs
import re
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


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f]")
#: share of non-ASCII characters that must look right for a legacy encoding to be chosen
_PLAUSIBLE = 0.5


def _is_ascii_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _in_gb2312(ch: str) -> bool:
    """True for the 7,445 characters of GB 2312, where nearly all Chinese place text lies."""
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _runs(text: str) -> list[tuple[str, str, str]]:
    """Maximal runs of non-ASCII characters with the characters just before and after them."""
    return [(text[m.start() - 1] if m.start() else "", m.group(), text[m.end()] if m.end() < len(text) else "")
            for m in _NON_ASCII_RUN.finditer(text)]


def gb_plausibility(text: str) -> float:
    """Share (0-1) of the non-ASCII characters of ``text`` that look like real Chinese.

    A character counts fully when it is a CJK ideograph, CJK punctuation or a full-width form
    in GB 2312, half when it is an ideograph outside GB 2312 (rare characters); nothing when
    it is anything else, or when it stands alone between two ASCII letters - the shape of
    an accented Latin letter and the ASCII letter after it read as one GB 18030 character
    (``Regi鉶 Oeste`` for ``Região Oeste``). ``0`` for pure ASCII.
    """
    total = good = 0.0
    for before, run, after in _runs(text):
        total += len(run)
        if len(run) == 1 and _is_ascii_letter(before) and _is_ascii_letter(after):
            continue
        good += sum(1.0 if _in_gb2312(c) else 0.5 for c in run if _is_cjk(c) or "\u3400" <= c <= "\u4dbf")
    return good / total if total else 0.0


def latin_plausibility(text: str) -> float:
    """Share (0-1) of the non-ASCII characters of ``text`` that look like Western European text.

    A run of non-ASCII characters counts when it is one character (``São``, ``€ 5``, ``12 °C``)
    or two to three letters next to an ASCII letter (``População``, ``Straße``); longer runs
    and runs holding symbols are the shape of Chinese read as Windows-1252 (``ÄÏ¸ÚÇø`` for
    南岗区). ``0`` for pure ASCII.
    """
    total = good = 0
    for before, run, after in _runs(text):
        total += len(run)
        if len(run) == 1 and run.isprintable():
            good += 1
        elif len(run) <= 3 and run.isalpha() and (_is_ascii_letter(before) or _is_ascii_letter(after)):
            good += len(run)
    return good / total if total else 0.0


def legacy_scores(data: bytes) -> dict[str, tuple[str, float]]:
    """The text of ``data`` under GB 18030 and Windows-1252 and how plausible each reading is.

    Returns
    -------
    dict
        ``{"gb18030": (text, score), "cp1252": (text, score)}`` for the encodings that decode
        ``data`` without error (scores from :func:`gb_plausibility` and
        :func:`latin_plausibility`).
    """
    out: dict[str, tuple[str, float]] = {}
    for enc, score in (("gb18030", gb_plausibility), ("cp1252", latin_plausibility)):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        out[enc] = (text, score(text))
    return out


def _line_of(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1


def _decode_declared(data: bytes, encoding: str, source: str) -> tuple[str, str]:
    enc = check_encoding_name(encoding)
    try:
        return data.decode("utf-8-sig" if enc == "utf-8" else enc), enc
    except UnicodeDecodeError as exc:
        msg = (f"{source}: line {_line_of(data, exc.start)} is not valid {enc} "
               f"(bytes {data[exc.start:exc.start + 4]!r}); try --encoding {'gbk' if enc != 'gbk' else 'utf-8'}")
        raise EncodingError(msg) from None


def _latin_sample(text: str) -> str:
    """The first word holding a non-ASCII character, to show a reading in a message."""
    m = re.search(r"\w*[^\x00-\x7f]+\w*", text)
    return m.group() if m else ""


def decode_text(data: bytes, encoding: str | None, *, source: str) -> tuple[str, str]:
    """Decode a text file: the given encoding, else UTF-8, else GBK (GB 18030) if it reads as Chinese.

    Western text in Latin-1 / Windows-1252 is not decoded here (point lists and 界址点 files
    name it with ``--encoding``) but it is never taken for Chinese either: when its
    Windows-1252 reading is at least as plausible as its GB 18030 one
    (:func:`legacy_scores`), the error suggests ``--encoding cp1252``.

    Returns
    -------
    (text, encoding used)

    Raises
    ------
    EncodingError
        One line with the byte offset, the bad bytes and the ``--encoding`` to pass.
    """
    if encoding is not None:
        return _decode_declared(data, encoding, source)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    scores = legacy_scores(data)
    gb_text, gb = scores.get("gb18030", ("", 0.0))
    latin_text, latin = scores.get("cp1252", ("", 0.0))
    wide = [c for c in gb_text if ord(c) > 0x7F]
    if wide and sum(_is_cjk(c) for c in wide) / len(wide) > 0.8 and gb > latin:
        return gb_text, "gbk"
    hint = (f"; it reads as Western text with --encoding cp1252 ({_latin_sample(latin_text)!r})"
            if latin >= _PLAUSIBLE and latin >= gb else "")
    msg = (f"{source}: line {_line_of(data, first_bad)} is not UTF-8 (bytes {data[first_bad:first_bad + 4]!r}) "
           f"nor Chinese GBK{hint}; pass its encoding, e.g. --encoding gbk, --encoding big5 or --encoding latin-1")
    raise EncodingError(msg)


#: encodings :func:`decode_table` recognises by itself (any other is given with ``--encoding``)
TABLE_ENCODINGS = ("utf-8", "gb18030", "cp1252")


def _refuse_binary(data: bytes, source: str) -> None:
    """Raise for UTF-16/32 text and binary files, which no table encoding reads."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        msg = (f"{source}: is UTF-16 text (byte-order mark {data[:2].hex(' ').upper()}), not a UTF-8, GB 18030 "
               "or Windows-1252 table; save it as 'CSV UTF-8' or pass --encoding utf-16")
        raise EncodingError(msg)
    nul = data.find(b"\x00")
    if nul < 0:
        return
    head = data[:4096]
    if head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4:
        msg = (f"{source}: looks like UTF-16 text without byte-order mark (NUL bytes between the letters); "
               "save it as 'CSV UTF-8' or pass --encoding utf-16-le (or utf-16-be)")
        raise EncodingError(msg)
    kind = " (a ZIP archive or XLSX workbook)" if data.startswith(b"PK\x03\x04") else ""
    msg = (f"{source}: is a binary file{kind}, not a text table (NUL byte at offset {nul}); "
           "export the table as CSV")
    raise EncodingError(msg)


def decode_table(data: bytes, encoding: str | None, *, source: str) -> tuple[str, str]:
    """Decode a text table (CSV): UTF-8 (with or without BOM), GB 18030 or Windows-1252.

    An explicit ``encoding`` (any Python codec name) is used as given. Otherwise strict
    UTF-8 is tried first; bytes that are not UTF-8 are read as GB 18030 (a superset of GBK
    and GB 2312) or as Windows-1252 (a superset of the printable Latin-1), whichever
    reading is more plausible (:func:`legacy_scores`): Chinese is never preferred for
    Latin text. The encoding chosen is logged by the caller.

    Parameters
    ----------
    data : bytes
        The whole file.
    encoding : str, optional
        Declared encoding (``--encoding``); overrides detection.
    source : str
        Names the file in messages.

    Returns
    -------
    (text, encoding used)
        ``encoding used`` is ``"utf-8"``, ``"gb18030"``, ``"cp1252"`` or the canonical name
        of the declared encoding. A leading BOM is removed.

    Raises
    ------
    EncodingError
        One line: UTF-16/32 or binary content, control characters, bytes no candidate reads,
        or two equally plausible readings - each with the ``--encoding`` to pass.
    """
    if encoding is not None:
        text, used = _decode_declared(data, encoding, source)
        return text.removeprefix("\ufeff"), used
    _refuse_binary(data, source)
    try:
        text, used = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
        scores = legacy_scores(data)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1][1])
        if not ranked or ranked[0][1][1] < _PLAUSIBLE:
            readings = ", ".join(f"{enc} gives {_latin_sample(t)!r}" for enc, (t, _) in ranked) or "none reads it"
            msg = (f"{source}: line {_line_of(data, first_bad)} is not UTF-8 (bytes "
                   f"{data[first_bad:first_bad + 4]!r}) and reads as neither Chinese (GB 18030) nor Western "
                   f"text (Windows-1252) ({readings}); pass its encoding, e.g. --encoding big5 or --encoding latin-1")
            raise EncodingError(msg) from None
        if len(ranked) > 1 and ranked[0][1][1] == ranked[1][1][1]:
            (a, (ta, _)), (b, (tb, _)) = ranked[:2]
            msg = (f"{source}: line {_line_of(data, first_bad)} reads equally well as {a} "
                   f"({_latin_sample(ta)!r}) and {b} ({_latin_sample(tb)!r}); pass --encoding {a} or --encoding {b}")
            raise EncodingError(msg) from None
        used, (text, _) = ranked[0]
    bad = _CONTROL.search(text)
    if bad:
        line = text[: bad.start()].count("\n") + 1
        msg = (f"{source}: line {line} holds control character {bad.group()!r}: a binary file, or text in "
               f"another encoding than {used}; export the table as CSV or pass --encoding")
        raise EncodingError(msg)
    return text, used
