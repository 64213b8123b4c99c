"""Times a review prints, in the city profile's time zone (``timezone`` in ``profile.yaml``).

Machine-readable outputs (JSON, Markdown, HTML) carry ISO 8601 with the offset and no
fractions of a second (``2026-12-06T21:05:00+08:00``); the 审查意见 and the web pages print
``2026-12-06 21:05 北京时间 (UTC+8)``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: IANA zones whose civil time is 北京时间 (China Standard Time)
BEIJING_ZONES = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "PRC"})


def zone(tz: str | None) -> dt.tzinfo:
    """The zone ``tz`` (UTC when empty or unknown)."""
    if not tz or tz.upper() == "UTC":
        return dt.UTC
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def parse_time(value: object) -> dt.datetime | None:
    """A datetime from an ISO 8601 text (``Z``, an offset, or none = UTC) or a datetime; None if not one."""
    if isinstance(value, dt.datetime):
        t = value
    else:
        text = str(value or "").strip()
        if not text:
            return None
        try:
            t = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def now(tz: str | None) -> dt.datetime:
    """Now in ``tz``, to the second."""
    return dt.datetime.now(zone(tz)).replace(microsecond=0)


def local_iso(value: object, tz: str | None) -> str:
    """``2026-12-06T21:05:00+08:00``: ``value`` in ``tz``, to the second; a non-time as it is."""
    t = parse_time(value)
    if t is None:
        return "" if value is None else str(value)
    return t.astimezone(zone(tz)).replace(microsecond=0).isoformat(timespec="seconds")


def _offset(t: dt.datetime) -> str:
    off = t.utcoffset() or dt.timedelta(0)
    minutes = int(off.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "") if minutes else "UTC"


def local_text(value: object, tz: str | None) -> str:
    """``2026-12-06 21:05 北京时间 (UTC+8)`` (other zones: ``... America/Sao_Paulo (UTC-3)``,
    ``... UTC``); a non-time as it is."""
    t = parse_time(value)
    if t is None:
        return "" if value is None else str(value)
    t = t.astimezone(zone(tz))
    stamp = t.strftime("%Y-%m-%d %H:%M")
    off = _offset(t)
    if tz in BEIJING_ZONES:
        return f"{stamp} 北京时间 ({off})"
    if off == "UTC" and (not tz or tz.upper() == "UTC" or zone(tz) is dt.UTC):
        return f"{stamp} UTC"
    return f"{stamp} {tz} ({off})"


def local_date(value: object, tz: str | None) -> str:
    """``2026-12-06``: the day of ``value`` in ``tz``."""
    t = parse_time(value)
    return t.astimezone(zone(tz)).date().isoformat() if t is not None else str(value or "")
