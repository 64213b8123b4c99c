"""Uploads streamed into the server's data folder, bounded, and typed by their content.

* The body is refused before it is read when ``Content-Length`` exceeds the limit, and while
  it streams when the bytes counted exceed it (chunked bodies, lying headers).
* The multipart body is parsed as it arrives (python-multipart's streaming parser): form fields
  are kept in memory (bounded), the one file goes to ``DATA/tmp/`` and, once complete, is renamed
  to ``DATA/uploads/<sha256>.<ext>``. Nothing is written anywhere else; the client's file name is
  kept only as text to show (any directory part dropped).
* The CSRF token must arrive before the file: a wrong or missing token stops the upload at the
  file's first byte.
* The type comes from the content (magic bytes, zip members), never from the name; a name whose
  extension contradicts the content is refused. Zips are checked member by member
  (:func:`cityplan.io.archive.check_zip`: path traversal, links, zip bombs) before any reader
  sees them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from cityplan._errors import CityplanError
from cityplan.io.archive import UnsafeArchiveError, check_zip
from cityplan.io.jzd import is_jzd

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
FORM_OVERHEAD = 64 * 1024
MAX_FIELD_BYTES = 4096
MAX_FIELDS = 20

#: content kind -> stored extension (the readers dispatch on it)
KIND_EXT = {"geojson": ".geojson", "zip": ".zip", "kmz": ".kmz", "gpkg": ".gpkg", "kml": ".kml",
            "dxf": ".dxf", "jzd": ".txt", "xlsx": ".xlsx", "csv": ".csv"}
KIND_TEXT = {"geojson": "GeoJSON", "zip": "a zip archive (zipped shapefile)", "kmz": "KMZ", "gpkg": "GeoPackage",
             "kml": "KML", "dxf": "DXF", "jzd": "界址点 coordinate TXT", "xlsx": "an XLSX workbook",
             "csv": "CSV text"}
#: extension the client named -> kinds its content may be
EXT_KINDS = {".geojson": {"geojson"}, ".json": {"geojson"}, ".zip": {"zip"}, ".kmz": {"kmz"},
             ".gpkg": {"gpkg"}, ".kml": {"kml"}, ".dxf": {"dxf"}, ".txt": {"jzd", "csv"},
             ".xlsx": {"xlsx"}, ".csv": {"csv"}}
REDLINE_KINDS = ("geojson", "zip", "kmz", "gpkg", "kml", "dxf", "jzd")
PROGRESS_KINDS = ("xlsx", "csv")


class UploadError(CityplanError):
    """An upload refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    """A received form: its small fields and the stored file."""

    fields: dict[str, str] = field(default_factory=dict)
    file_name: str = ""          # the client's name, display only
    path: Path | None = None     # DATA/uploads/<sha256>.<ext>
    sha256: str = ""
    size: int = 0
    kind: str = ""


def display_name(name: str) -> str:
    """The client's file name without any directory part, control characters or excess length."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    base = "".join(ch for ch in base if ch.isprintable())
    return base[:200] or "upload"


def sniff(path: Path) -> str | None:
    """The content kind of a file (see ``KIND_EXT``), or None when unrecognised.

    Raises
    ------
    UploadError
        For an unsafe zip (traversal, links, bombs) - named by the member.
    """
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith(b"SQLite format 3\x00"):
        return "gpkg"
    if head.startswith(b"PK\x03\x04"):
        try:
            names = [i.filename for i in check_zip(path) if not i.is_dir()]
        except UnsafeArchiveError as exc:
            raise UploadError(str(exc).replace(str(path), "the zip"), 400) from None
        except CityplanError:
            return None
        low = [n.lower() for n in names]
        if "[content_types].xml" in low and any(n.startswith("xl/") for n in low):
            return "xlsx"
        if any(n.endswith(".kml") for n in low) and not any(n.endswith(".shp") for n in low):
            return "kmz"
        if any(n.endswith((".shp", ".geojson", ".json", ".gpkg", ".kml")) for n in low):
            return "zip"
        return None
    if is_jzd(head):
        return "jzd"
    if b"\x00" in head:
        return None
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    if text.startswith("{"):
        return "geojson"
    if text.startswith("<") and "<kml" in text[:4096]:
        return "kml"
    lines = [x.strip() for x in text.splitlines()[:4]]
    if len(lines) >= 2 and lines[0] == "0" and lines[1] in ("SECTION", "$ACADVER"):
        return "dxf"
    if "," in text or "\t" in text:
        return "csv"
    return None


class _Form:
    """Callbacks of the streaming parser."""

    def __init__(self, tmp_dir: Path, csrf_ok: Callable[[dict[str, str]], bool]) -> None:
        self.tmp_dir = tmp_dir
        self.csrf_ok = csrf_ok
        self.up = Upload()
        self._hname = b""
        self._hval = b""
        self._headers: dict[bytes, bytes] = {}
        self._field: str | None = None
        self._buf = bytearray()
        self._fh = None
        self._tmp: Path | None = None
        self._hash = hashlib.sha256()
        self.error: UploadError | None = None

    def callbacks(self) -> dict:
        return {"on_part_begin": self._part_begin, "on_header_field": self._hfield,
                "on_header_value": self._hvalue, "on_header_end": self._hend,
                "on_headers_finished": self._headers_done, "on_part_data": self._data,
                "on_part_end": self._part_end}

    def _fail(self, msg: str, status: int) -> None:
        if self.error is None:
            self.error = UploadError(msg, status)
        raise self.error

    def _part_begin(self) -> None:
        self._headers = {}
        self._field = None
        self._buf = bytearray()

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._hval += data[start:end]

    def _hend(self) -> None:
        self._headers[self._hname.strip().lower()] = self._hval.strip()
        self._hname, self._hval = b"", b""

    def _headers_done(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in opts:
            if self._fh is not None or self.up.path is not None:
                self._fail("one file per upload", 400)
            if not self.csrf_ok(self.up.fields):
                self._fail("missing or wrong CSRF token (reload the page and try again)", 403)
            self.up.file_name = display_name(opts[b"filename"].decode("utf-8", "replace"))
            self._tmp = self.tmp_dir / f"upload-{secrets.token_hex(12)}.part"
            fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._fh = os.fdopen(fd, "wb")
        else:
            if len(self.up.fields) >= MAX_FIELDS:
                self._fail("too many form fields", 400)
            self._field = name

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._fh is not None:
            self._fh.write(chunk)
            self._hash.update(chunk)
            self.up.size += len(chunk)
        else:
            self._buf += chunk
            if len(self._buf) > MAX_FIELD_BYTES:
                self._fail(f"form field {self._field!r} longer than {MAX_FIELD_BYTES} bytes", 400)

    def _part_end(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self.up.sha256 = self._hash.hexdigest()
            self.up.path = self._tmp
        elif self._field is not None:
            self.up.fields[self._field] = self._buf.decode("utf-8", "replace")

    def cleanup(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()


async def receive(request: Request, data_dir: Path, *, max_bytes: int, kinds: tuple[str, ...],
                  csrf_ok: Callable[[dict[str, str]], bool]) -> Upload:
    """Stream a ``multipart/form-data`` upload into ``data_dir`` and type it by content.

    Raises
    ------
    UploadError
        413 too large, 415 not multipart / wrong type, 403 CSRF, 400 malformed or unsafe.
    """
    ctype, opts = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in opts:
        raise UploadError("send the file as multipart/form-data (an HTML form with a file field)", 415)
    limit = max_bytes + FORM_OVERHEAD
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise UploadError("bad Content-Length", 400) from None
        if n > limit:
            raise UploadError(f"the upload is {n / 1024**2:.0f} MB; the limit is {max_bytes / 1024**2:.0f} MB", 413)
    tmp_dir = data_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    form = _Form(tmp_dir, csrf_ok)
    parser = MultipartParser(opts[b"boundary"], form.callbacks())
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise UploadError(f"the upload exceeds the limit of {max_bytes / 1024**2:.0f} MB", 413)
            try:
                parser.write(chunk)
            except UploadError:
                raise
            except Exception as exc:  # python-multipart's parse errors
                if form.error is not None:
                    raise form.error from None
                raise UploadError(f"malformed multipart body ({type(exc).__name__})", 400) from None
        parser.finalize()
        up = form.up
        if up.path is None:
            if not csrf_ok(up.fields):
                raise UploadError("missing or wrong CSRF token (reload the page and try again)", 403)
            raise UploadError("no file in the upload; choose a file", 400)
        if up.size > max_bytes:
            raise UploadError(f"the file exceeds the limit of {max_bytes / 1024**2:.0f} MB", 413)
        if up.size == 0:
            raise UploadError(f"{up.file_name}: the file is empty", 400)
        kind = sniff(up.path)
        allowed = ", ".join(KIND_TEXT[k] for k in kinds)
        if kind not in kinds:
            what = KIND_TEXT.get(kind or "", "not a recognised format")
            raise UploadError(f"{up.file_name}: the content is {what}; expected {allowed}", 415)
        suffix = PurePosixPath(up.file_name).suffix.lower()
        if suffix in EXT_KINDS and kind not in EXT_KINDS[suffix]:
            raise UploadError(f"{up.file_name}: named {suffix} but the content is {KIND_TEXT[kind]}; "
                              "rename the file or upload the right one", 415)
        up.kind = kind
        final_dir = data_dir / "uploads"
        final_dir.mkdir(parents=True, exist_ok=True)
        final = final_dir / f"{up.sha256}{KIND_EXT[kind]}"
        if final.exists():
            up.path.unlink()
        else:
            os.replace(up.path, final)
        up.path = final
        form._tmp = None
        return up
    finally:
        form.cleanup()
