"""The shared one-map service (``cityplan serve``): one map, review desk, progress desk, OGC API.

:func:`cityplan.server.app.create_app` builds the ASGI application over an opened
:class:`cityplan.onemap.OneMap`; ``cityplan serve`` runs it with uvicorn. Accounts, audit and
stored reviews live in append-only tables of the one map's store (they survive rebuilds);
uploaded files live under the server's data folder only.
"""

from cityplan.server.app import create_app

__all__ = ["create_app"]
