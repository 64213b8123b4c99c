"""Where things live: the project root, the sample-data folder and default outputs."""

from __future__ import annotations

import os
from pathlib import Path

from cityplan._errors import LayerNotFoundError

DATA_ENV = "CITYPLAN_DATA"
ONEMAP_ENV = "CITYPLAN_ONEMAP"


def project_root() -> Path:
    """The repository root (parent of ``src/``), or the working directory if installed elsewhere."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "layers").is_dir() else Path.cwd()


def data_dir(data: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data folder: ``data`` > ``$CITYPLAN_DATA`` > ``../shared/data/harbin``.

    Raises
    ------
    LayerNotFoundError
        If the folder does not exist.
    """
    if data is not None:
        p, how = Path(data), "--data"
    elif os.environ.get(DATA_ENV):
        p, how = Path(os.environ[DATA_ENV]), f"${DATA_ENV}"
    else:
        p, how = project_root().parent / "shared" / "data" / "harbin", "the default"
    if not p.is_dir():
        msg = (f"data folder {p} (from {how}) does not exist; pass --data DIR or set "
               f"${DATA_ENV} to the folder holding the Harbin sample data")
        raise LayerNotFoundError(msg)
    return p


def default_onemap() -> Path:
    """Default one-map GeoPackage: ``$CITYPLAN_ONEMAP`` or ``layers/build/harbin.gpkg``."""
    env = os.environ.get(ONEMAP_ENV)
    return Path(env) if env else project_root() / "layers" / "build" / "harbin.gpkg"
