"""Zipped inputs (zipped shapefiles, KMZ) opened safely.

Every member is checked before anything is read: no absolute paths or ``..``
(path traversal), no symlinks, no encryption, at most :data:`MAX_MEMBERS` members,
at most :data:`MAX_TOTAL_BYTES` uncompressed and no member expanding more than
:data:`MAX_RATIO` times (zip bombs). Only the members a reader needs are copied,
by their checked names and bounded by their declared sizes, into a private
temporary folder that is removed after the read.
"""

from __future__ import annotations

import contextlib
import contextvars
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from cityplan._errors import LayerNotFoundError, SchemaError

MAX_MEMBERS = 1000
MAX_TOTAL_BYTES = 2 * 1024**3
MAX_RATIO = 200
#: members smaller than this may compress any amount (a small blank DBF does) ...
RATIO_FREE_BYTES = 1024**2
#: ... and all members together may expand to at most MAX_RATIO x the archive's size, or this
TOTAL_FREE_BYTES = 16 * 1024**2
SHAPE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
VECTOR_MEMBERS = (".shp", ".kml", ".geojson", ".json", ".gpkg")


class UnsafeArchiveError(SchemaError):
    """A zip that could write outside its folder, or expand beyond the limits."""


def _unsafe(name: str) -> str | None:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "a path leaving the archive ('..')"
    if "\x00" in name:
        return "a NUL byte in its name"
    return None


def check_zip(path: Path) -> list[zipfile.ZipInfo]:
    """Return the members of ``path`` after the safety checks.

    Raises
    ------
    UnsafeArchiveError
        Naming the first offending member and the limit.
    LayerNotFoundError
        If the file is not a zip archive.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        msg = f"{path}: not a readable zip archive ({exc})"
        raise LayerNotFoundError(msg) from None
    if len(infos) > MAX_MEMBERS:
        msg = f"{path}: {len(infos)} members, more than the {MAX_MEMBERS} allowed; zip only the layer's files"
        raise UnsafeArchiveError(msg)
    total = 0
    for info in infos:
        why = _unsafe(info.filename)
        if why is None and stat.S_ISLNK(info.external_attr >> 16):
            why = "a symbolic link"
        if why is None and info.flag_bits & 0x1:
            why = "encrypted"
        if why is None and info.file_size > RATIO_FREE_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            why = (f"a compression ratio of {info.file_size / max(info.compress_size, 1):.0f}:1 "
                   f"(limit {MAX_RATIO}:1; a zip bomb?)")
        if why is not None:
            msg = f"{path}: member {info.filename!r} is {why}; refusing the archive"
            raise UnsafeArchiveError(msg)
        total += info.file_size
    allowed = min(MAX_TOTAL_BYTES, max(TOTAL_FREE_BYTES, MAX_RATIO * Path(path).stat().st_size))
    if total > allowed:  # many small members, each under the per-member check, add up too
        msg = (f"{path}: members expand to {total / 1024**2:.0f} MiB, more than the "
               f"{allowed / 1024**2:.0f} MiB allowed for an archive of this size; a zip bomb?")
        raise UnsafeArchiveError(msg)
    return infos


def vector_members(path: Path) -> list[str]:
    """Names of the readable vector members (``.shp``, ``.kml``, ...) of a checked zip."""
    return [i.filename for i in check_zip(path)
            if not i.is_dir() and PurePosixPath(i.filename).suffix.lower() in VECTOR_MEMBERS
            and not PurePosixPath(i.filename).name.startswith(("._", "."))]


def member_for(path: Path, layer: str | None, *, kinds: tuple[str, ...] = VECTOR_MEMBERS) -> str:
    """The member to read: named by ``layer`` (stem or name) or the only one."""
    names = [n for n in vector_members(path) if PurePosixPath(n).suffix.lower() in kinds]
    if not names:
        msg = f"{path}: the archive holds no {'/'.join(kinds)} file"
        raise LayerNotFoundError(msg)
    if layer is None:
        if len(names) > 1:
            if path.suffix.lower() == ".kmz" and any(PurePosixPath(n).name == "doc.kml" for n in names):
                return next(n for n in names if PurePosixPath(n).name == "doc.kml")
            msg = f"{path}: holds {len(names)} layers {[PurePosixPath(n).stem for n in names]}; choose one with --layer"
            raise LayerNotFoundError(msg)
        return names[0]
    hit = [n for n in names if layer in (n, PurePosixPath(n).name, PurePosixPath(n).stem)]
    if not hit:
        msg = f"{path}: no layer {layer!r}; available layers: {[PurePosixPath(n).stem for n in names]}"
        raise LayerNotFoundError(msg)
    return hit[0]


#: where archive members are extracted in this context (None: the system's temporary folder); the
#: server sets its data folder's ``tmp`` per request (:func:`scratch_in`), nothing process-wide
SCRATCH: contextvars.ContextVar[Path | None] = contextvars.ContextVar("cityplan_scratch", default=None)


@contextlib.contextmanager
def scratch_in(folder: Path | None) -> Iterator[None]:
    """Extract archive members into ``folder`` inside the block (this context and the threads it
    starts through Starlette/AnyIO, which copy the context)."""
    token = SCRATCH.set(folder)
    try:
        yield
    finally:
        SCRATCH.reset(token)


@contextlib.contextmanager
def extracted(path: Path, member: str) -> Iterator[Path]:
    """Copy ``member`` (and a shapefile's side files) to a private temp folder; yield its path."""
    infos = {i.filename: i for i in check_zip(path)}
    stem = member[: -len(PurePosixPath(member).suffix)]
    wanted = [member]
    if member.lower().endswith(".shp"):
        wanted += [n for n in infos if n != member and n[: len(stem)] == stem
                   and n[len(stem):].lower() in SHAPE_PARTS]
        if not any(n[len(stem):].lower() == ".dbf" for n in wanted):
            msg = f"{path}: {member} has no .dbf beside it in the archive; zip all the shapefile's files"
            raise SchemaError(msg)
    scratch = SCRATCH.get()
    tmp = Path(tempfile.mkdtemp(prefix="cityplan-zip-", dir=scratch))
    try:
        try:
            with zipfile.ZipFile(path) as zf:
                for name in wanted:
                    target = tmp / PurePosixPath(name).name
                    # ZipExtFile stops at the declared (checked) size and verifies the CRC
                    with zf.open(infos[name]) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, length=1024 * 1024)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            msg = f"{path}: member {member!r} could not be extracted ({exc})"
            raise LayerNotFoundError(msg) from None
        yield tmp / PurePosixPath(member).name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
