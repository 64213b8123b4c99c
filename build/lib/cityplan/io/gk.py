"""Gauss-Krueger coordinates as Chinese offices exchange them: zones, prefixes, EPSG codes.

Survey files write the easting with the zone number in front (``42512345.67`` = zone 42,
easting 512345.67) or without it (then the central meridian must be known). 3-degree
zones 25-45 and 6-degree zones 13-23 cover China, so the prefix says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cityplan._errors import CRSMismatchError

#: first EPSG code of each (datum, zone width, prefixed) family; zone/CM offsets follow
_FIRST = {
    ("cgcs2000", 3, True): 4513, ("cgcs2000", 3, False): 4534,
    ("cgcs2000", 6, True): 4491, ("cgcs2000", 6, False): 4502,
    ("xian80", 3, True): 2349, ("xian80", 3, False): 2370,
    ("xian80", 6, True): 2327, ("xian80", 6, False): 2338,
    ("beijing54", 3, True): 2401, ("beijing54", 3, False): 2422,
    ("beijing54", 6, True): 21413, ("beijing54", 6, False): 21453,
}
ZONES = {3: (25, 45), 6: (13, 23)}
DATUM_LABELS = {"cgcs2000": "CGCS2000", "xian80": "Xian 1980", "beijing54": "Beijing 1954"}


@dataclass(frozen=True)
class GKZone:
    """A Gauss-Krueger zone: width (3 or 6 degrees), number, datum, prefixed eastings or not."""

    width: int
    zone: int
    datum: str = "cgcs2000"
    prefixed: bool = True

    @property
    def central_meridian(self) -> int:
        """Central meridian in degrees east."""
        return self.zone * 3 if self.width == 3 else self.zone * 6 - 3

    @property
    def epsg(self) -> int:
        """EPSG code of the zone (zone-prefixed or central-meridian variant)."""
        first = _FIRST[(self.datum, self.width, self.prefixed)]
        if self.prefixed:
            return first + self.zone - ZONES[self.width][0]
        return first + (self.central_meridian - 75) // self.width

    def describe(self) -> str:
        """E.g. ``CGCS2000 3-degree GK zone 42 (CM 126E, zone-prefixed eastings) = EPSG:4530``."""
        kind = "zone-prefixed eastings" if self.prefixed else "eastings without zone prefix"
        return (f"{DATUM_LABELS[self.datum]} {self.width}-degree GK zone {self.zone} "
                f"(CM {self.central_meridian}E, {kind}) = EPSG:{self.epsg}")


def zone_from_cm(cm: float, width: int = 3, datum: str = "cgcs2000", *, prefixed: bool = False) -> GKZone:
    """The zone whose central meridian is ``cm`` (degrees east)."""
    zone = round(cm / 3) if width == 3 else round((cm + 3) / 6)
    lo, hi = ZONES[width]
    if not lo <= zone <= hi or GKZone(width, zone).central_meridian != round(cm):
        msg = f"central meridian {cm}E is not a {width}-degree Gauss-Krueger zone of China"
        raise CRSMismatchError(msg)
    return GKZone(width, zone, datum, prefixed)


def prefixed_zone(eastings: np.ndarray) -> GKZone | None:
    """Zone of zone-prefixed eastings (8 digits before the decimal point), else ``None``.

    Raises
    ------
    CRSMismatchError
        If the eastings carry different zone prefixes.
    """
    e = np.asarray(eastings, dtype=float)
    e = e[np.isfinite(e)]
    if not len(e) or not ((e >= 1.0e7) & (e < 1.0e8)).all():
        return None
    zones = np.unique(np.floor(e / 1.0e6).astype(int))
    rest = e - np.floor(e / 1.0e6) * 1.0e6
    if not ((rest > 1.0e5) & (rest < 9.0e5)).all():
        return None
    if len(zones) > 1:
        msg = (f"eastings carry several zone prefixes {zones.tolist()[:5]}; split the file by "
               "zone or convert it to one CRS first")
        raise CRSMismatchError(msg)
    z = int(zones[0])
    for width, (lo, hi) in ZONES.items():
        if lo <= z <= hi:
            return GKZone(width, z)
    return None


def looks_plain_gk(eastings: np.ndarray, northings: np.ndarray) -> bool:
    """True for metre coordinates of China without zone prefix (easting 100-900 km)."""
    e, n = np.asarray(eastings, float), np.asarray(northings, float)
    ok = np.isfinite(e) & np.isfinite(n)
    if not ok.any():
        return False
    e, n = e[ok], n[ok]
    return bool(((e > 1.0e5) & (e < 9.0e5) & (n > 1.0e6) & (n < 6.5e6)).all())


def datum_from_text(text: str) -> str | None:
    """``cgcs2000`` / ``xian80`` / ``beijing54`` from a header such as ``2000国家大地坐标系``."""
    t = text.replace(" ", "").lower()
    if "2000" in t or "cgcs" in t:
        return "cgcs2000"
    if "80" in t or "西安" in t or "xian" in t:
        return "xian80"
    if "54" in t or "北京" in t or "beijing" in t:
        return "beijing54"
    return None
