"""Which one map and which data folder a command uses, when the user did not say.

Nothing here reads a city's settings: those live in the one map (:mod:`cityplan.profile`).
What a user did not name on the command line is looked up in this order, and a missing answer
is a one-line error saying how to name it (never a silent default):

* the one map: ``--onemap`` > ``$CITYPLAN_ONEMAP`` > ``onemap`` in a ``cityplan.toml`` of the
  current folder or one of its parents (``cityplan build`` and ``cityplan city new`` write it);
* the data folder of a build: ``--data`` > ``$CITYPLAN_DATA`` > ``data`` in that ``cityplan.toml``;
* outputs: the folder given, else ``out/`` under the current folder (outputs, not settings).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from cityplan._errors import LayerNotFoundError, OneMapError, SchemaError

DATA_ENV = "CITYPLAN_DATA"
ONEMAP_ENV = "CITYPLAN_ONEMAP"
#: the pointer file naming a folder's one map, its profile and data folder
PROJECT_FILE = "cityplan.toml"
_KEYS = ("onemap", "city", "data")


@dataclass(frozen=True)
class ProjectFile:
    """A ``cityplan.toml``: which map (and profile, data folder) commands in this folder use."""

    path: Path
    onemap: str | None = None
    city: str | None = None
    data: str | None = None

    @property
    def city_location(self) -> str | None:
        """The ``city``: a folder (relative to this file) when one exists there, else a built-in id."""
        folder = self.resolve(self.city)
        return folder if folder is not None and Path(folder).is_dir() else self.city

    def resolve(self, value: str | None) -> str | None:
        """``value`` as written (URL) or as a path relative to the file's folder."""
        if value is None or "://" in value:
            return value
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else self.path.parent / p)


def find_project_file(start: Path | None = None) -> ProjectFile | None:
    """The nearest ``cityplan.toml`` in ``start`` (default: the current folder) or a parent."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        p = folder / PROJECT_FILE
        if p.is_file():
            return read_project_file(p)
    return None


def read_project_file(p: Path) -> ProjectFile:
    """Parse ``p``; :class:`SchemaError` naming the file and key when it is not what we wrote."""
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{p}: not a valid {PROJECT_FILE} ({exc}); fix it or delete it and run `cityplan build` again"
        raise SchemaError(msg) from None
    unknown = sorted(set(doc) - set(_KEYS))
    bad = [k for k in _KEYS if k in doc and not isinstance(doc[k], str)]
    if unknown or bad:
        msg = (f"{p}: key {(unknown or bad)[0]!r} is {'unknown' if unknown else 'not text'}; "
               f"{PROJECT_FILE} holds {', '.join(_KEYS)} as quoted text")
        raise SchemaError(msg)
    return ProjectFile(path=p, **{k: doc.get(k) for k in _KEYS})


def write_project_file(folder: Path, *, onemap: str, city: str | None = None,
                       data: str | None = None) -> Path:
    """Write ``folder/cityplan.toml`` naming the map (paths relative to ``folder`` where possible)."""

    def rel(v: str | None) -> str | None:
        if v is None or "://" in v:
            return v
        p = Path(v).resolve()
        try:
            return p.relative_to(folder.resolve()).as_posix()
        except ValueError:
            return str(p)

    values = {"onemap": rel(onemap), "city": rel(city) if city and Path(city).is_dir() else city,
              "data": rel(data)}
    lines = ["# Written by cityplan: the one map commands in this folder (and below) use.",
             *(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in values.items() if v is not None)]
    out = folder / PROJECT_FILE
    tmp = out.with_name(f".{PROJECT_FILE}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


def default_location() -> str | Path:
    """The one map a command uses when ``--onemap`` is not given (see the module docstring).

    Raises
    ------
    OneMapError
        No ``$CITYPLAN_ONEMAP`` and no ``cityplan.toml`` naming a map here or above.
    """
    env = os.environ.get(ONEMAP_ENV)
    if env:
        return env if "://" in env else Path(env)
    project = find_project_file()
    if project is not None and project.onemap:
        loc = project.resolve(project.onemap)
        assert loc is not None
        return loc if "://" in loc else Path(loc)
    msg = ("no one map named: pass --onemap PATH.gpkg|postgresql://…, set $CITYPLAN_ONEMAP, or run "
           f"`cityplan build --city harbin|DIR --data DIR` here (it writes {PROJECT_FILE} naming the map)")
    raise OneMapError(msg)


def data_dir(data: str | os.PathLike[str] | None = None) -> Path:
    """The data folder of a build: ``data`` > ``$CITYPLAN_DATA`` > ``cityplan.toml``'s ``data``.

    Raises
    ------
    LayerNotFoundError
        None named, or the folder does not exist.
    """
    project = find_project_file() if data is None and not os.environ.get(DATA_ENV) else None
    if data is not None:
        p, how = Path(data), "--data"
    elif os.environ.get(DATA_ENV):
        p, how = Path(os.environ[DATA_ENV]), f"${DATA_ENV}"
    elif project is not None and project.data:
        p, how = Path(project.resolve(project.data) or ""), str(project.path)
    else:
        msg = (f"no data folder named: pass --data DIR (the folder the profile's catalog paths are "
               f"relative to) or set ${DATA_ENV}")
        raise LayerNotFoundError(msg)
    if not p.is_dir():
        msg = f"data folder {p} (from {how}) does not exist; pass --data DIR or set ${DATA_ENV}"
        raise LayerNotFoundError(msg)
    return p


def output_dir(out: str | os.PathLike[str] | None, *parts: str) -> Path:
    """``out``, else ``out/<parts…>`` under the current folder (where a user's outputs go)."""
    return Path(out) if out is not None else Path("out", *parts)
