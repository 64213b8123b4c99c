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
@click.option("--proxy", "forwarded", default=None, metavar="IPS",
              help="Trust X-Forwarded-For/Proto from these proxy addresses (e.g. 127.0.0.1).")
def serve(onemap: str | None, host: str, port: int, data_dir: Path | None, max_upload_mb: int, basemap: str,
          review_workers: int | None, review_time_limit: float, workers: int, secure_cookies: bool,
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
    om = OneMap.coerce(onemap)
    location = str(om.path) if om.path is not None else str(om.store.url)
    config = ServeConfig(onemap=location, data_dir=str(folder), max_upload=max_upload_mb * 1024 * 1024,
                         secure_cookies=secure_cookies, basemap=basemap, review_workers=review_workers,
                         review_time_limit=review_time_limit)
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
