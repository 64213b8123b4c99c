"""The ASGI application: :func:`create_app` wires the one map, accounts, desks and OGC API."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cityplan._cores import usable_cores
from cityplan.io.archive import scratch_in
from cityplan.maps.assets import leaflet_css, leaflet_js, own_asset
from cityplan.onemap import OneMap
from cityplan.server import (
    csrf,
    maptools,
    ogc,
    pages,
    progress_desk,
    review_desk,
    supervision,
    viewlayers,
    webfont,
)
from cityplan.server.auth import (
    SESSION_COOKIE,
    BasicCache,
    client_address,
    current_user,
    session_of,
)
from cityplan.server.context import AppContext, Extent, context
from cityplan.server.print_view import routes as print_routes
from cityplan.server.uploads import DEFAULT_MAX_BYTES
from cityplan.server.web import render
from cityplan.server.webfont import routes as font_routes
from cityplan.services import audit
from cityplan.services.accounts import UserStore
from cityplan.services.coverage import CoverageCache
from cityplan.services.progress import ProgressState
from cityplan.services.review_pool import TIME_LIMIT as REVIEW_TIME_LIMIT
from cityplan.services.review_pool import ReviewPool
from cityplan.services.sessions import RateLimiter, Sessions

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ static assets
@cache
def _asset(name: str) -> tuple[bytes, bytes, str, str]:
    """(body, gzipped body, media type, etag) of a packaged asset (compressed once, not per request)."""
    if name == "leaflet.js":
        text, media = leaflet_js(), "text/javascript"
    elif name == "leaflet.css":
        text, media = leaflet_css(), "text/css"
    elif name in ("cityplan.js", "cityplan.css"):
        text, media = own_asset(name), "text/javascript" if name.endswith(".js") else "text/css"
    elif name in ("server.js", "server.css"):
        text = (resources.files("cityplan.server") / "static" / name).read_text(encoding="utf-8")
        media = "text/javascript" if name.endswith(".js") else "text/css"
    else:
        raise KeyError(name)
    body = text.encode("utf-8")
    return (body, gzip.compress(body, compresslevel=9, mtime=0), f"{media}; charset=utf-8",
            '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


def static(request: Request) -> Response:
    """``/static/{name}``: Leaflet (from the installed wheel) and cityplan's JS/CSS - no CDN."""
    try:
        body, gz, media, etag = _asset(request.path_params["name"])
    except KeyError:
        return Response("not found", status_code=404)
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(gz, media_type=media, headers={**headers, "Content-Encoding": "gzip"})
    return Response(body, media_type=media, headers=headers)


# ------------------------------------------------------------------------------ login / logout
#: refused logins are audited once per client address and minute (a spray is one row a minute)
AUDIT_WINDOW = 60

def _safe_next(value: str | None) -> str:
    v = value or "/"
    return v if v.startswith("/") and not v.startswith("//") and "\\" not in v else "/"


def login_form(request: Request, *, message: str = "", status: int = 200, nxt: str | None = None) -> Response:
    """``GET /login``: the form, with a fresh double-submit token."""
    token = csrf.new_token()
    resp = render(request, "login.html.j2", status=status, title="登录 Log in", message=message, login_csrf=token,
                  next=_safe_next(nxt if nxt is not None else request.query_params.get("next")))
    resp.set_cookie(csrf.LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/login",
                    secure=context(request).secure_cookies)
    return resp


async def login_submit(request: Request) -> Response:
    """``POST /login``: rate limited; a new session (and CSRF token) on success."""
    form = await request.form(max_files=0, max_fields=10)
    name, password = str(form.get("username") or "")[:64], str(form.get("password") or "")[:1024]
    nxt = str(form.get("next") or "/")
    state = context(request)
    if not csrf.check_login(request, str(form.get(csrf.FIELD) or "")):
        return await run_in_threadpool(login_form, request, message="表单已过期, 请重新登录 the form expired; try again", status=403, nxt=nxt)
    keys = (f"ip:{client_address(request)}", f"user:{name}")
    wait, attempt = await run_in_threadpool(state.limiter.attempt, *keys)  # counted before the check
    if wait:
        await run_in_threadpool(audit.record, state.om.store, who=name or "-", role="", action="login", target=name,
                                outcome="denied", detail={"why": "rate limited"}, client=client_address(request),
                                per_source_window=AUDIT_WINDOW)
        resp = await run_in_threadpool(login_form, request, message=f"登录失败次数过多, 请 {wait} 秒后再试 too many failed logins; try again in {wait} s",
                                       status=429, nxt=nxt)
        resp.headers["Retry-After"] = str(wait)
        return resp
    user = await run_in_threadpool(state.users.authenticate, name, password)
    if user is None:
        await run_in_threadpool(audit.record, state.om.store, who=name or "-", role="", action="login", target=name,
                                outcome="denied", detail={"why": "wrong name or password"},
                                client=client_address(request), per_source_window=AUDIT_WINDOW)
        return await run_in_threadpool(login_form, request, message="用户名或密码错误 wrong user name or password", status=401, nxt=nxt)
    await run_in_threadpool(state.limiter.succeeded, attempt, f"user:{name}")
    old = await run_in_threadpool(session_of, request)
    if old is not None:
        await run_in_threadpool(state.sessions.drop, old.id)
    s = await run_in_threadpool(state.sessions.create, user.name)
    await run_in_threadpool(audit.record, state.om.store, who=user.name, role=user.role, action="login",
                            target=user.name, client=client_address(request))
    resp = RedirectResponse(_safe_next(nxt), status_code=303)
    resp.set_cookie(SESSION_COOKIE, s.id, httponly=True, samesite="strict", path="/", secure=state.secure_cookies)
    resp.delete_cookie(csrf.LOGIN_COOKIE, path="/login")
    return resp


async def logout(request: Request) -> Response:
    """``POST /logout`` (CSRF-checked)."""
    form = await request.form(max_files=0, max_fields=5)
    s = await run_in_threadpool(session_of, request)
    if s is not None and csrf.check(request, s, str(form.get(csrf.FIELD) or "")):
        await run_in_threadpool(context(request).sessions.drop, s.id)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


# ------------------------------------------------------------------------------ credentials
class CredentialsOffLoop:
    """Pure ASGI middleware: who asks is found in the thread pool before any endpoint runs - HTTP
    Basic credentials verified (argon2, 64 MiB), a session cookie looked up in the map's shared
    state (SQLite or a pooled PostGIS connection, which may wait) - so no async endpoint hashes or
    waits on the database on the event loop; the result is kept in the request scope, where
    :func:`current_user` and :func:`session_of` find it. Static files need no one."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and "app" in scope and not scope.get("path", "").startswith("/static/"):
            headers = scope.get("headers", ())
            if any((k == b"authorization" and v[:6].lower() == b"basic ")
                   or (k == b"cookie" and SESSION_COOKIE.encode() + b"=" in v) for k, v in headers):
                await run_in_threadpool(current_user, Request(scope, receive))
        await self.app(scope, receive, send)


#: seconds a client may take to send the next piece of a request body (a stalled upload is ended
#: with 408 instead of holding a connection and an upload slot for good)
BODY_CHUNK_TIMEOUT = 30.0


class BodyReadTimeout:
    """Pure ASGI middleware: each chunk of a request body must arrive within ``timeout`` seconds
    (header timeouts are the proxy's: nginx ``client_header_timeout``, docs/security.md)."""

    def __init__(self, app: Any, *, timeout: float = BODY_CHUNK_TIMEOUT) -> None:
        self.app, self.timeout = app, timeout

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        done = False
        started = False

        async def timed_receive() -> dict:
            nonlocal done
            if done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout=self.timeout)
            except TimeoutError:
                done = True
                raise BodyTimeoutError from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                done = True
            return message

        async def tracked_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except BodyTimeoutError:
            logger.info("request body stalled for %.0f s: %s %s", self.timeout, scope.get("method"), scope.get("path"))
            if not started:
                body = b"request body not received in time (408)"
                await send({"type": "http.response.start", "status": 408,
                            "headers": [(b"content-type", b"text/plain"), (b"connection", b"close"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})


class BodyTimeoutError(Exception):
    """A request body stopped arriving."""


class ScratchFolder:
    """Pure ASGI middleware: readers' scratch files (archive members) of a request go to the data
    folder's ``tmp`` - set for the request's context, never for the whole process."""

    def __init__(self, app: Any, *, folder: Path) -> None:
        self.app, self.folder = app, folder

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        with scratch_in(self.folder):
            await self.app(scope, receive, send)


# ------------------------------------------------------------------------------ headers
class SecurityHeaders:
    """Pure ASGI middleware adding CSP, framing, sniffing and referrer headers to every response."""

    def __init__(self, app: Any, *, img_src: str) -> None:
        self.app = app
        csp = (f"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src {img_src}; "
               "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
        self.headers = [(b"content-security-policy", csp.encode()), (b"x-frame-options", b"DENY"),
                        (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def _send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.headers
            await send(message)

        try:
            await self.app(scope, receive, _send)
        except Exception:
            # an internal error still answers with the security headers, and says nothing of the
            # server (paths, addresses, traceback): those go to the log only
            logger.exception("internal error answering %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            body = "internal error 内部错误 - the server log has the details; please report the time".encode()
            await send({"type": "http.response.start", "status": 500,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode()), *self.headers]})
            await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------------------ factory
def create_app(onemap: OneMap | str | os.PathLike[str] | None, *, data_dir: str | os.PathLike[str],
               max_upload: int = DEFAULT_MAX_BYTES, secure_cookies: bool = False, basemap: str = "osm",
               recipe: str = "onemap", warm: bool = True, login_limit: int = 5,
               review_workers: int | None = None, review_time_limit: float = REVIEW_TIME_LIMIT,
               public_url: str | None = None, allowed_hosts: list[str] | None = None,
               body_timeout: float = BODY_CHUNK_TIMEOUT) -> Starlette:
    """The cityplan server over a one map.

    Parameters
    ----------
    onemap : OneMap, path or URL
        The one map (GeoPackage or PostGIS).
    data_dir : path
        The server's data folder: uploads (sha256-named), review reports, temporary files (a
        request's scratch files go to its ``tmp``; the process's own settings are left alone).
    max_upload : int
        Largest upload in bytes (default 20 MiB).
    secure_cookies : bool
        Mark cookies ``Secure`` (serve behind TLS).
    basemap : {"osm", "tianditu", "gaode", "none"}
        Tiles under the map (``none`` for an intranet without a tile server).
    recipe : str
        The map recipe (``maps/NAME.yaml``) whose layers the map page shows.
    warm : bool
        Prepare the map layers in a background thread at start.
    login_limit : int
        Failed logins allowed per client address and per account in 5 minutes.
    review_workers : int, optional
        Processes running reviews (each opens the one map and keeps its rule constraints ready);
        0 runs them in one background thread of the server process. Default: 2 where the
        machine has 2 or more cores (reviewers submitting together are not queued behind one
        another; the workers run at a lower priority than the map), else 1.
    review_time_limit : float
        Seconds a review may run; past it its worker process is killed and replaced and the
        reviewer told why (default 300).
    public_url : str, optional
        The address users reach the service at (``https://onemap.example``): absolute links
        (OGC API) are built from it instead of the request's Host header.
    allowed_hosts : list of str, optional
        Host names a request may name (others get 400, so no link or cache entry is made for a
        forged Host); default: any (the CLI passes the bound address, localhost and the public
        URL's host).
    body_timeout : float
        Seconds a client may take to send the next piece of a request body (408 after).
    """
    om = OneMap.coerce(onemap)
    data = Path(data_dir).resolve()
    for sub in ("uploads", "reports", "tmp"):
        (data / sub).mkdir(parents=True, exist_ok=True)

    map_layers = viewlayers.MapLayers(om, recipe=recipe, basemap=basemap)
    img_src = "'self' data:" + (" https:" if map_layers.basemap.tiles else "")
    routes = [
        Route("/login", login_form, methods=["GET"]), Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]), Route("/static/{name}", static),
        Route("/favicon.ico", lambda _r: Response(status_code=204)),
        *pages.routes(), *viewlayers.routes(), *review_desk.routes(), *progress_desk.routes(), *supervision.routes(), *ogc.routes(),
        *maptools.routes(),
        *print_routes(), *font_routes(),
    ]
    location = str(om.path) if om.path is not None else getattr(om.store, "url", None)
    if review_workers is None:
        review_workers = min(2, usable_cores())
    reviews = ReviewPool(om, location, workers=review_workers, tmpdir=str(data / "tmp"), time_limit=review_time_limit)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        reviews.shutdown()

    hosts = [*(allowed_hosts or ["*"]), *([urlsplit(public_url).hostname] if public_url and allowed_hosts else [])]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders, img_src=img_src),
                                               Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
                                               Middleware(BodyReadTimeout, timeout=body_timeout),
                                               Middleware(ScratchFolder, folder=data / "tmp"),
                                               Middleware(CredentialsOffLoop),
                                               Middleware(GZipMiddleware, minimum_size=2048, compresslevel=5)])
    extents: dict[tuple[str, str], Extent | None] = {}

    def layer_extent(lid: str) -> Extent | None:
        key = (om.build_stamp, lid)
        if key not in extents:
            gdf = om.layer(lid)
            extents[key] = None if gdf.empty else tuple(float(v) for v in gdf.to_crs(4326).total_bounds)
        return extents[key]

    shared = om.store.shared()
    app.state.ctx = AppContext(
        om=om, data_dir=data, max_upload=int(max_upload), secure_cookies=bool(secure_cookies),
        users=UserStore(om.store), sessions=Sessions(shared), limiter=RateLimiter(shared, limit=login_limit),
        map_layers=map_layers, progress=ProgressState(om), coverage=CoverageCache(om), reviews=reviews,
        layer_extent=layer_extent, basic_cache=BasicCache(), public_url=public_url)
    if warm:
        threading.Thread(target=_warm, args=(map_layers, reviews, app.state.ctx.coverage, data / "fonts"), name="cityplan-warm",
                         daemon=True).start()
    logger.info("cityplan server over %s, data folder %s", om.label, data)
    return app


#: environment variable carrying :class:`ServeConfig` to spawned worker processes
CONFIG_ENV = "CITYPLAN_SERVE_CONFIG"


class ServeConfig(BaseModel):
    """What ``cityplan serve`` hands each worker process (``--workers N``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    onemap: str
    data_dir: str
    max_upload: int = DEFAULT_MAX_BYTES
    secure_cookies: bool = False
    basemap: str = "osm"
    review_workers: int | None = None
    review_time_limit: float = REVIEW_TIME_LIMIT
    public_url: str | None = None
    allowed_hosts: list[str] | None = None
    body_timeout: float = BODY_CHUNK_TIMEOUT

    def app_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`create_app` (all but the map)."""
        return self.model_dump(exclude={"onemap"})


def app_from_environment() -> Starlette:
    """The app of one worker process of ``cityplan serve --workers N`` (uvicorn's factory):
    built from the :class:`ServeConfig` JSON in ``$CITYPLAN_SERVE_CONFIG``."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        msg = f"${CONFIG_ENV} is not set: start workers with `cityplan serve --workers N`"
        raise RuntimeError(msg)
    config = ServeConfig.model_validate_json(raw)
    return create_app(config.onemap, **config.app_options())


def _warm(map_layers: viewlayers.MapLayers, reviews: ReviewPool, coverage: CoverageCache | None = None,
          fonts: Path | None = None) -> None:
    """Prepare the map layers and the review workers, and start computing the build's coverage runs
    not stored yet (:meth:`CoverageCache.start`: its own background thread, unless another process
    holds the build's claim) so the dashboards and the supervision have their figures sooner; then cut
    the web font's common slices not cut yet on this machine (``fonts``: the folder used when the
    machine's cache folder cannot be written)."""
    for attempt in range(3):  # a read racing another process's first open of the file can fail once
        try:
            map_layers.warm()
            reviews.start()
            if coverage is not None:
                try:
                    coverage.start()
                except Exception:  # noqa: BLE001 - the dashboards start it again on their first visit
                    logger.exception("starting the coverage computing failed")
            map_layers.seed()
            if fonts is not None:
                try:
                    webfont.warm(fonts)
                except Exception:  # noqa: BLE001 - a slice is cut on its first request instead
                    logger.exception("cutting the web font's common slices failed")
            return
        except Exception:  # noqa: BLE001 - the first request will report it
            logger.exception("preparing the map layers failed (attempt %d of 3)", attempt + 1)
            time.sleep(2)
