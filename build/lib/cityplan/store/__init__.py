"""One-map storage backends: GeoPackage (embedded default) and PostGIS (shared)."""

from __future__ import annotations

import os
from pathlib import Path

from cityplan.store.base import BuildPayload, LayerMeta, Store

URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(location: str | os.PathLike[str] | None) -> bool:
    """True for a ``postgresql://`` URL (never to be taken for a file name)."""
    return isinstance(location, str) and location.lower().startswith(URL_SCHEMES)


def open_store(location: str | os.PathLike[str]) -> Store:
    """The store at ``location``: a ``postgresql://`` URL or a GeoPackage path."""
    if is_url(location):
        from cityplan.store.postgis import PostgisStore

        return PostgisStore(str(location))
    if isinstance(location, str) and "://" in location:
        from cityplan._errors import OneMapError

        scheme = location.split("://", 1)[0]
        msg = (f"--onemap {location!r}: unsupported URL scheme {scheme!r}; use a .gpkg path or "
               "postgresql://USER@HOST:PORT/DB[?schema=NAME]")
        raise OneMapError(msg)
    from cityplan.store.gpkg import GpkgStore

    return GpkgStore(Path(location))


def location_label(location: str | os.PathLike[str]) -> str:
    """Location for messages, with any password masked."""
    if is_url(location):
        from cityplan.store.postgis import mask_url

        return mask_url(str(location))
    return str(location)


__all__ = ["BuildPayload", "LayerMeta", "Store", "is_url", "location_label", "open_store"]
