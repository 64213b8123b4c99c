"""The server's one state holder: :class:`AppContext`, typed, made once by ``create_app``.

Routes reach it with :func:`context` (``context(request).om``) instead of loose attributes of
Starlette's ``app.state``; everything a request may use is listed here, with its type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

if TYPE_CHECKING:
    from cityplan.onemap import OneMap
    from cityplan.server.auth import BasicCache
    from cityplan.server.viewlayers import MapLayers
    from cityplan.services.accounts import UserStore
    from cityplan.services.coverage import CoverageCache
    from cityplan.services.progress import ProgressState
    from cityplan.services.review_pool import ReviewPool
    from cityplan.services.sessions import RateLimiter, Sessions

Extent = tuple[float, float, float, float]


@dataclass
class AppContext:
    """What every route of one server process shares."""

    om: OneMap
    data_dir: Path
    max_upload: int
    secure_cookies: bool
    users: UserStore
    sessions: Sessions
    limiter: RateLimiter
    map_layers: MapLayers
    progress: ProgressState
    coverage: CoverageCache
    reviews: ReviewPool
    #: WGS84 bounds of a layer (None when empty), per build
    layer_extent: Callable[[str], Extent | None]
    basic_cache: BasicCache
    #: the service's public address (links are built from it, never from a Host header)
    public_url: str | None = None
    #: OGC API definitions per (build, base URL, collections)
    ogc_openapi: dict[tuple, dict[str, Any]] = field(default_factory=dict)


def context(request: Request) -> AppContext:
    """The :class:`AppContext` of the app serving ``request``."""
    return request.app.state.ctx
