"""The settings files ``cityplan city new`` writes beside a new city's data (its profile).

``profile.yaml`` is made from what is known of the city (name, country, time zone); presets,
speeds, review rules and map recipes are copied from the generic template shipped with the
package (``cityplan/city/template``), for the office to edit. Nothing is copied from another city.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np
import yaml

from cityplan.crs import _out_of_china
from cityplan.schema.profile import ProfileSettings, defaults_for_country

logger = logging.getLogger(__name__)


def profile_id(name: str) -> str:
    """A profile id from a city name: ASCII letters and digits of its Latin part (``são-paulo`` -> ``sao-paulo``)."""
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")
    return (slug if slug[:1].isalpha() else f"city-{slug}".strip("-"))[:40] or "city"


def write_profile(folder: Path, *, name: str, bbox: tuple[float, float, float, float],
                  country: str | None = None, timezone: str | None = None) -> ProfileSettings:
    """Write ``profile.yaml`` and the generic settings files into ``folder``; the settings written.

    Country, time zone, languages, units and datum checks not given are defaults by where the
    extract lies, written down in the file as assumptions (and logged).
    """
    lon, lat = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    in_china = not bool(_out_of_china(np.array([lon]), np.array([lat]))[0])
    assumed = []
    if country is None and in_china:
        country = "CN"
        assumed.append("country CN (the extract lies in China)")
    if timezone is None:
        timezone = "Asia/Shanghai" if country == "CN" else "UTC"
        assumed.append(f"time zone {timezone} (not given: pass --timezone)")
    zh = name if re.search(r"[\u4e00-\u9fff]", name) else ""
    en = " ".join(w for w in name.split() if not re.search(r"[\u4e00-\u9fff]", w)) or name
    settings = ProfileSettings(id=profile_id(en), name_zh=zh, name_en=en, country=country, timezone=timezone,
                               **defaults_for_country(country))  # type: ignore[arg-type]
    head = ["# City profile written by `cityplan city new` (schema: cityplan.schema.profile).",
            "# Edit freely; rebuild the one map to store the change in it."]
    head += [f"# ASSUMED: {a}" for a in assumed]
    if country is None:
        head.append("# country: not known (no country-specific checks; pass --country XX to set it)")
    body = yaml.safe_dump(settings.model_dump(mode="json", exclude_none=True), allow_unicode=True,
                          sort_keys=False, default_flow_style=None)
    (folder / "profile.yaml").write_text("\n".join(head) + "\n" + body, encoding="utf-8")
    for a in assumed:
        logger.warning("%s: assumed %s", folder.name, a)
    _copy_tree(resources.files("cityplan.city").joinpath("template"), folder)
    return settings


def _copy_tree(src: Traversable, dst: Path) -> None:
    for child in src.iterdir():
        if child.is_dir():
            (dst / child.name).mkdir(exist_ok=True)
            _copy_tree(child, dst / child.name)
        elif child.name.endswith(".yaml"):
            (dst / child.name).write_bytes(child.read_bytes())
