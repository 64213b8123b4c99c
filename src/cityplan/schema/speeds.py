"""Schema of the travel speeds (``layers/speeds.yaml``); read by :func:`cityplan.network.graph.load_speeds`.

One mapping per mode (``walk``, ``bike``, ``drive``, all required): ``default_kmh`` (positive),
optional ``by_class`` (``{road class: km/h}``; classes are OSM highway values or numeric class codes)
and ``forbidden`` (classes the mode may not use).
"""

from __future__ import annotations

import math
import os
from typing import Any

from pydantic import field_validator

from cityplan.schema._base import StrictModel, load_document


def _kmh(v: float) -> float:
    if not (math.isfinite(v) and 0 < v <= 500):
        msg = f"{v!r} km/h is not a travel speed; give a number > 0 and <= 500"
        raise ValueError(msg)
    return v


class ModeSpeedsModel(StrictModel):
    """Speeds of one mode."""

    default_kmh: float
    by_class: dict[int | str, float] = {}
    forbidden: list[int | str] = []

    @field_validator("default_kmh")
    @classmethod
    def _default(cls, v: float) -> float:
        return _kmh(v)

    @field_validator("by_class")
    @classmethod
    def _classes(cls, v: dict[Any, float]) -> dict[Any, float]:
        for k, x in v.items():
            try:
                _kmh(x)
            except ValueError as exc:
                msg = f"class {k!r}: {exc}"
                raise ValueError(msg) from None
        return v


class SpeedsModel(StrictModel):
    """The whole speeds file."""

    walk: ModeSpeedsModel
    bike: ModeSpeedsModel
    drive: ModeSpeedsModel


def load_speeds_document(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Speeds per mode as plain dicts (``{mode: {default_kmh, by_class, forbidden}}``).

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    SchemaError
        Anything wrong with it, one line naming the mode and field.
    """
    return load_document(path, SpeedsModel, what="speeds file").model_dump()
