"""``cityplan serve``: the shared one-map service (uvicorn)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from cityplan.cli._common import ONEMAP_HELP, note


def default_data_dir() -> Path:
    """``out/server`` under the current folder."""
    from cityplan.paths import output_dir

    return output_dir(None, "server")


@click.command()
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for uploads, review reports and temporary files [default: out/server].")
@click.option("--max-upload-mb", default=20, show_default=True, type=click.IntRange(1, 2048),
              help="Largest upload accepted.")
@click.option("--basemap", type=click.Choice(["osm", "tianditu", "gaode", "none"]), default="osm",
              show_default=True, help="Tiles under the map (none: no tile server needed).")
@click.option("--review-workers", type=click.IntRange(0, 64), default=None,
              help="Processes running reviews [default: 2 on a machine with 2 or more cores, else 1; 0: a thread].")
@click.option("--review-time-limit", type=click.FloatRange(1, 86_400), default=300, show_default=True,
              help="Seconds a review may run; its worker is then stopped and replaced, the reviewer told why.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes sharing the port (sessions and login limits are shared through the map).")
@click.option("--secure-cookies", is_flag=True, help="Mark cookies Secure (when served behind TLS).")
@click.option("--public-url", metavar="URL",
              help="The address users reach the service at (https://onemap.example): links are built from it.")
@click.option("--allowed-hosts", metavar="HOSTS",
              help="Comma-separated host names requests may name (others: 400) [default: the bound address, "
                   "localhost and the --public-url host; any when bound to all addresses without --public-url].")
@click.option("--db-pool", type=click.IntRange(1, 100), default=None,
              help="Database connections per server process for a PostGIS map [default: 4]; keep "
                   "processes x pool under the server's max_connections.")
@click.option("--body-timeout", type=click.FloatRange(1, 3600), default=30, show_default=True,
              help="Seconds a client may take to send the next piece of an upload (408 after).")
@click.option("--proxy", "forwarded", default=None, metavar="IPS",
              help="Trust X-Forwarded-For/Proto from these proxy addresses (e.g. 127.0.0.1).")
def serve(onemap: str | None, host: str, port: int, data_dir: Path | None, max_upload_mb: int, basemap: str,
          review_workers: int | None, review_time_limit: float, workers: int, secure_cookies: bool,
          public_url: str | None, allowed_hosts: str | None, db_pool: int | None, body_timeout: float,
          forwarded: str | None) -> None:
    """Serve the one map, review desk, progress desk and OGC API - Features over HTTP.

    Several processes (``--workers``, or servers on other hosts over one PostGIS map behind a
    proxy) share sessions and login limits through the map: log in on one, act on another.
    """
    import uvicorn

    from cityplan.onemap import OneMap
    from cityplan.server.app import CONFIG_ENV, ServeConfig, create_app
    from cityplan.services.accounts import UserStore

    folder = (data_dir or default_data_dir()).resolve()
    if db_pool is not None:
        os.environ["CITYPLAN_PG_POOL"] = str(db_pool)  # this process, its workers and review workers
    om = OneMap.coerce(onemap)
    location = str(om.path) if om.path is not None else str(om.store.url)
    config = ServeConfig(onemap=location, data_dir=str(folder), max_upload=max_upload_mb * 1024 * 1024,
                         secure_cookies=secure_cookies, basemap=basemap, review_workers=review_workers,
                         review_time_limit=review_time_limit, public_url=public_url,
                         allowed_hosts=_hosts(allowed_hosts, host, public_url), body_timeout=body_timeout)
    note(f"cityplan serve: {om.label} on http://{host}:{port} (data folder {folder}, {workers} process(es))")
    if not len(UserStore(om.store).list()):
        note("no accounts yet: add one with `cityplan users add NAME --role admin`")
    # threads doing pandas work for the desks hold the GIL in 5 ms slices by default; 1 ms slices
    # let the event loop answer map requests in between
    sys.setswitchinterval(0.001)
    options = {"host": host, "port": port, "log_level": "warning", "proxy_headers": forwarded is not None,
               "forwarded_allow_ips": forwarded or "127.0.0.1", "server_header": False,
               "timeout_keep_alive": 75}  # as nginx: browsers and proxies reuse idle connections
    if workers == 1:
        uvicorn.run(create_app(om, **config.app_options()), workers=1, **options)
        return
    # worker processes are spawned: each builds the app from the configuration in its environment
    os.environ[CONFIG_ENV] = config.model_dump_json()
    uvicorn.run("cityplan.server.app:app_from_environment", factory=True, workers=workers, **options)


def _hosts(given: str | None, bound: str, public_url: str | None) -> list[str] | None:
    """Host names requests may name: those given; else the bound address, localhost and the
    public URL's host; None (any, said in a note) when bound to all addresses without a public URL."""
    from urllib.parse import urlsplit

    if given:
        return [h.strip() for h in given.split(",") if h.strip()]
    public = [urlsplit(public_url).hostname or ""] if public_url else []
    if bound in ("0.0.0.0", "::") and not public:
        note("assumption: any Host header is accepted (bound to all addresses); pass --public-url or "
             "--allowed-hosts so links never follow a forged Host")
        return None
    return [bound, "localhost", "127.0.0.1", "::1", *public]
