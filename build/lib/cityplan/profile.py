"""A city profile: everything a city needs besides its data, in one folder.

A profile folder holds ``profile.yaml`` (city settings: :mod:`cityplan.schema.profile`),
``catalog.yaml`` (layers, roles, sources, licences, CRSs), ``tasks.yaml`` (task register),
``quotas.yaml``, ``coverage_presets.yaml``, ``speeds.yaml``, ``review_rules.yaml`` (+ the
land-use table it names), ``run.yaml`` (the main job's showcase) and ``maps/*.yaml`` (map recipes
and ``maps/labels.yaml``). Only ``profile.yaml`` and ``catalog.yaml`` are required; a missing
register, quota, preset or rule file means the city has none (and outputs say so).

Where a profile comes from:

* ``--city harbin`` - a profile shipped inside the package (``cityplan/cities/harbin``);
* ``--city DIR`` - a folder (``cityplan city new`` writes one);
* the one map: ``cityplan build`` writes every text file of the profile into the map's
  ``cityplan_profile`` table, and every command on that map reads its settings from there
  (:attr:`cityplan.onemap.OneMap.profile`), never from the working directory or the repository.

Files are read through :class:`~importlib.resources.abc.Traversable`, so the three sources look
the same to the loaders (:func:`cityplan.catalog.load_catalog` and its siblings take a profile).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import pandas as pd

from cityplan._errors import LayerNotFoundError, OneMapError, SchemaError
from cityplan.schema._base import load_document
from cityplan.schema.profile import ProfileSettings

__all__ = ["PROFILE_FILE", "MemoryTree", "Profile", "builtin_profiles", "load_profile"]

T = TypeVar("T")

#: the settings file every profile has
PROFILE_FILE = "profile.yaml"
#: files of a profile written into the one map (its settings; sample workbooks stay in the folder)
TEXT_SUFFIXES = (".yaml", ".yml")
#: largest profile stored in a map (bytes, all text files together)
MAX_PROFILE_BYTES = 8 * 1024 * 1024
_BUILTIN_PACKAGE = "cityplan.cities"


class MemoryTree(Traversable):
    """A read-only folder of text files held in memory (the profile stored in a one map)."""

    def __init__(self, files: Mapping[str, bytes], *, label: str, path: str = "") -> None:
        self._files = dict(files)
        self._label = label
        self._path = path.strip("/")

    def __str__(self) -> str:
        return f"{self._label}/{self._path}" if self._path else self._label

    __repr__ = __str__

    @property
    def name(self) -> str:  # noqa: D102
        return PurePosixPath(self._path).name

    def _children(self) -> set[str]:
        prefix = f"{self._path}/" if self._path else ""
        return {prefix + k[len(prefix):].split("/", 1)[0] for k in self._files if k.startswith(prefix)}

    def iterdir(self) -> Iterator[Traversable]:  # noqa: D102
        for child in sorted(self._children()):
            yield MemoryTree(self._files, label=self._label, path=child)

    def is_file(self) -> bool:  # noqa: D102
        return self._path in self._files

    def is_dir(self) -> bool:  # noqa: D102
        return not self.is_file() and (not self._path or bool(self._children()))

    def joinpath(self, *descendants: str | os.PathLike[str]) -> Traversable:  # noqa: D102
        parts = [self._path, *(str(d) for d in descendants)]
        path = str(PurePosixPath(*[p for p in parts if p]))
        if ".." in PurePosixPath(path).parts:
            msg = f"{self}: '..' is not allowed in a profile path"
            raise SchemaError(msg)
        return MemoryTree(self._files, label=self._label, path=path)

    def open(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        if not self.is_file():
            raise FileNotFoundError(str(self))
        data = self._files[self._path]
        if "b" in mode:
            return io.BytesIO(data)
        return io.TextIOWrapper(io.BytesIO(data), *args, **({"encoding": "utf-8"} | kwargs))


class Profile:
    """One city's profile, read through a :class:`Traversable` root (package, folder or map).

    Parameters
    ----------
    root : Traversable
        The profile folder.
    label : str
        How messages name it (``built-in profile harbin``, a folder, ``MAP: profile``).
    folder : Path, optional
        The folder on disk, when there is one (sample workbooks and proposals of ``run.yaml``
        are read from it; a profile read from a map has none).
    """

    def __init__(self, root: Traversable, *, label: str, folder: Path | None = None) -> None:
        self.root = root
        self.label = label
        self.folder = folder
        self._memo: dict[str, Any] = {}
        self._lock = threading.RLock()
        if not root.joinpath(PROFILE_FILE).is_file():
            msg = (f"{label}: not a city profile (no {PROFILE_FILE}); name a profile folder made by "
                   f"`cityplan city new`, or a built-in profile: {', '.join(builtin_profiles())}")
            raise LayerNotFoundError(msg)

    def __repr__(self) -> str:
        return f"Profile({self.label!r})"

    # -- files ------------------------------------------------------------------------------
    def file(self, rel: str) -> Traversable:
        """The profile file ``rel`` (``maps/task.yaml``); it may not exist (see :meth:`has`)."""
        return self.root.joinpath(*PurePosixPath(rel).parts)

    def has(self, rel: str) -> bool:
        """True when the profile holds the file ``rel``."""
        return self.file(rel).is_file()

    def text_files(self) -> dict[str, bytes]:
        """Every settings file (``*.yaml``) of the profile, by relative POSIX path."""
        out: dict[str, bytes] = {}

        def walk(node: Traversable, prefix: str) -> None:
            for child in node.iterdir():
                rel = f"{prefix}{child.name}"
                if child.is_dir():
                    walk(child, rel + "/")
                elif child.name.endswith(TEXT_SUFFIXES):
                    out[rel] = child.read_bytes()

        walk(self.root, "")
        return dict(sorted(out.items()))

    def table(self) -> pd.DataFrame:
        """The profile as the one map stores it: ``path, text, sha256`` per settings file."""
        files = self.text_files()
        total = sum(len(b) for b in files.values())
        if total > MAX_PROFILE_BYTES:
            msg = f"{self.label}: settings files of {total:,} bytes; a profile may hold {MAX_PROFILE_BYTES:,}"
            raise SchemaError(msg)
        return pd.DataFrame({"path": list(files), "text": [b.decode("utf-8-sig") for b in files.values()],
                             "sha256": [hashlib.sha256(b).hexdigest() for b in files.values()]},
                            columns=["path", "text", "sha256"])

    @cached_property
    def sha256(self) -> str:
        """One hash of every settings file with its path (identifies this profile's content)."""
        h = hashlib.sha256()
        for rel, data in self.text_files().items():
            h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
        return h.hexdigest()

    @cached_property
    def settings(self) -> ProfileSettings:
        """``profile.yaml``: id, names, country, time zone, languages, area units, datum checks."""
        return load_document(self.file(PROFILE_FILE), ProfileSettings, what="profile settings")

    @property
    def id(self) -> str:
        """The profile's id (``harbin``)."""
        return self.settings.id

    def memo(self, key: str, build: Callable[[], T]) -> T:
        """``build()`` once per profile object (parsed documents live as long as the profile)."""
        with self._lock:
            if key not in self._memo:
                self._memo[key] = build()
            return self._memo[key]

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_table(cls, table: pd.DataFrame, *, label: str) -> Profile:
        """The profile a one map stores (:data:`cityplan.store.base.PROFILE_TABLE`)."""
        files = {str(p): str(t).encode("utf-8") for p, t in zip(table["path"], table["text"], strict=True)}
        return cls(MemoryTree(files, label=label), label=label)


def profile_file(source: Profile | str | os.PathLike[str] | Traversable, rel: str) -> Traversable:
    """``source``'s file ``rel`` when ``source`` is a profile, else ``source`` itself (a file path)."""
    if isinstance(source, Profile):
        return source.file(rel)
    return source if isinstance(source, Traversable) else Path(source)


def builtin_profiles() -> list[str]:
    """Ids of the profiles shipped inside the package (``harbin``)."""
    root = resources.files(_BUILTIN_PACKAGE)
    return sorted(c.name for c in root.iterdir()
                  if c.is_dir() and c.joinpath(PROFILE_FILE).is_file())


def load_profile(city: str | os.PathLike[str] | Profile) -> Profile:
    """The profile ``city`` names: a built-in id (``harbin``) or a profile folder.

    Raises
    ------
    LayerNotFoundError
        Neither a built-in profile nor a folder holding ``profile.yaml`` (one line naming both).
    """
    if isinstance(city, Profile):
        return city
    text = os.fspath(city)
    p = Path(text).expanduser()
    if p.is_dir():
        return Profile(p, label=str(p), folder=p)
    if text in builtin_profiles():
        root = resources.files(_BUILTIN_PACKAGE).joinpath(text)
        folder = Path(str(root)) if Path(str(root)).is_dir() else None
        return Profile(root, label=f"built-in profile {text}", folder=folder)
    msg = (f"--city {text}: neither a built-in profile ({', '.join(builtin_profiles())}) nor a folder "
           "holding profile.yaml; pass --city harbin, or --city DIR for a folder made by `cityplan city new`")
    raise LayerNotFoundError(msg)


def profile_from_store(table: pd.DataFrame | None, *, label: str) -> Profile:
    """The profile stored in a map; :class:`OneMapError` naming the fix when the map has none."""
    if table is None or table.empty:
        msg = (f"{label}: this one map holds no city profile (built by an older cityplan); rebuild it with "
               "`cityplan build --city harbin|DIR --overwrite`")
        raise OneMapError(msg)
    return Profile.from_table(table, label=f"{label} profile")
