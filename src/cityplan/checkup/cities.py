"""Which cities a check-up runs: every ``*.gpkg`` of a folder, or a list file of paths / URLs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cityplan._errors import CityplanError
from cityplan.store import is_url


class CheckupError(CityplanError):
    """A check-up request that cannot run (no cities, duplicate names, unknown preset, outputs exist)."""


@dataclass(frozen=True)
class City:
    """One city of the check-up: its name (file stem, or the URL's schema / database) and one map."""

    name: str
    location: str

    @property
    def label(self) -> str:
        """Where the one map lives, passwords masked."""
        if not is_url(self.location):
            return self.location
        parts = urlsplit(self.location)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.location


def city_name(location: str) -> str:
    """A city's name: a file's stem; for a ``postgresql://`` URL its ``schema`` or database name."""
    if is_url(location):
        parts = urlsplit(location)
        schema = parse_qs(parts.query).get("schema")
        return schema[0] if schema else (parts.path.lstrip("/") or parts.hostname or location)
    return Path(location).stem


def read_cities(source: str | os.PathLike[str] | list[str]) -> list[City]:
    """The cities of ``source``: a folder (every ``*.gpkg``, sorted), one ``*.gpkg`` (one city), a text
    file (one path or URL per line, ``#`` comments and blank lines ignored, relative paths from the
    file's folder) or a list.

    A path that does not exist is kept: the check-up reports it as a failed city.

    Raises
    ------
    CheckupError
        ``source`` missing, a folder without ``*.gpkg``, an empty list, two cities of one name.
    """
    if isinstance(source, list):
        locs = [str(s) for s in source]
        where = "the city list"
    else:
        p = Path(source)
        where = str(p)
        if p.is_dir():
            locs = [str(f) for f in sorted(p.glob("*.gpkg"))]
            if not locs:
                msg = f"--cities {p}: no *.gpkg one map in this folder; build one per city or pass a list file"
                raise CheckupError(msg)
        elif p.is_file() and p.read_bytes()[:16] == b"SQLite format 3\x00":
            locs = [str(p)]  # one one-map GeoPackage
        elif p.is_file():
            locs = []
            try:
                text = p.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError as exc:
                msg = (f"--cities {p}: not a GeoPackage nor a UTF-8 list of one map per line (byte {exc.start}); "
                       "give a folder of *.gpkg, one *.gpkg, or a text file of paths/URLs")
                raise CheckupError(msg) from None
            for raw in text.splitlines():
                line = raw.split("#", 1)[0].strip() if not is_url(raw.strip()) else raw.strip()
                if not line:
                    continue
                locs.append(line if is_url(line) or Path(line).is_absolute() else str(p.parent / line))
        else:
            msg = f"--cities {p}: no such folder or list file; give a folder of *.gpkg or a text file of paths/URLs"
            raise CheckupError(msg)
    if not locs:
        msg = f"--cities {where}: no city listed; put one GeoPackage path or postgresql:// URL per line"
        raise CheckupError(msg)
    cities = [City(city_name(loc), loc) for loc in locs]
    seen: dict[str, str] = {}
    for c in cities:
        if c.name in seen:
            msg = (f"--cities {where}: two cities are named {c.name!r} ({seen[c.name]} and {c.label}); "
                   "city names come from file stems / URL schemas - rename one")
            raise CheckupError(msg)
        seen[c.name] = c.label
    return cities
