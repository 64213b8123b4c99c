"""Schema of ``profile.yaml``: the city settings a profile folder holds besides its data files.

File format::

    version: 1
    id: harbin                       # short id (folder name of a built-in profile)
    name_zh: 哈尔滨
    name_en: Harbin
    country: CN                      # ISO 3166-1 alpha-2; decides the datum checks' defaults
    timezone: Asia/Shanghai          # IANA zone: dates and times users read
    languages: [zh, en]              # label languages, first = headline (zh and en today)
    area_units: [m2, ha, mu]         # area units outputs show (mu = 亩, only where enabled)
    datum_checks: [gcj02, bd09]      # Chinese web datums looked for in uploads (empty abroad)
    review_areas_in: working_crs     # always the map's working CRS (named in every output)

The working and storage CRSs, the extract box and the layers stay in ``catalog.yaml``.
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator

from cityplan.schema._base import StrictModel

LANGUAGES = ("zh", "en")
AREA_UNITS = ("m2", "ha", "mu", "km2")
DATUMS = ("gcj02", "bd09")


class ProfileSettings(StrictModel):
    """The city settings of a profile (``profile.yaml``)."""

    version: Literal[1] = 1
    id: str
    name_zh: str = ""
    name_en: str = ""
    country: str | None = None  # None: not known (no country-specific checks)
    timezone: str = "UTC"
    languages: tuple[Literal[LANGUAGES], ...] = ("en",)  # type: ignore[valid-type]
    area_units: tuple[Literal[AREA_UNITS], ...] = ("m2", "ha")  # type: ignore[valid-type]
    datum_checks: tuple[Literal[DATUMS], ...] = ()  # type: ignore[valid-type]

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,40}", v):
            msg = f"{v!r} is not a profile id; use lower-case letters, digits, '-' or '_' (e.g. 'harbin')"
            raise ValueError(msg)
        return v

    @field_validator("country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Z]{2}", v):
            msg = f"{v!r} is not an ISO 3166-1 alpha-2 country code (e.g. CN, BR, DE)"
            raise ValueError(msg)
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"{v!r} is not an IANA time zone (e.g. Asia/Shanghai, America/Sao_Paulo, UTC)"
            raise ValueError(msg) from None
        return v

    @field_validator("languages", "area_units")
    @classmethod
    def _nonempty_unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or len(set(v)) != len(v):
            msg = "give at least one value, each once (e.g. languages [zh, en], area_units [m2, ha])"
            raise ValueError(msg)
        return v

    @property
    def name(self) -> str:
        """The city's name in the headline language, with the other beside it when it differs."""
        names = {"zh": self.name_zh, "en": self.name_en}
        parts = [names[lang] for lang in self.languages if names.get(lang)]
        return " ".join(dict.fromkeys(parts)) or self.id


def defaults_for_country(country: str | None) -> dict[str, object]:
    """Units, languages and datum checks a new profile gets for ``country`` (the user may edit them)."""
    if country == "CN":
        return {"languages": ("zh", "en"), "area_units": ("m2", "ha", "mu"), "datum_checks": ("gcj02", "bd09")}
    return {"languages": ("en",), "area_units": ("m2", "ha"), "datum_checks": ()}
