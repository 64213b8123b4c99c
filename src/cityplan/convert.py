"""Convert vector files between CRSs, including the GCJ-02 and BD-09 pseudo-datums."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd

from cityplan._errors import OutsideChinaError
from cityplan.crs import SourceCRS, convert_datum, parse_crs, rows_outside_china
from cityplan.io.read import read_vector
from cityplan.io.write import check_output, write_vector

logger = logging.getLogger(__name__)


@dataclass
class ConvertResult:
    """What :func:`convert_file` did."""

    path: Path
    read: int
    written: int
    src_label: str
    dst_label: str
    skipped: list[tuple[int, str]] = field(default_factory=list)


def convert_frame(
    gdf: gpd.GeoDataFrame, src: str | SourceCRS, dst: str | SourceCRS, *, skip_invalid: bool = False,
    source: str = "input",
) -> tuple[gpd.GeoDataFrame, list[tuple[int, str]]]:
    """Convert ``gdf`` (coordinates in ``src``) to ``dst``; returns (result, skipped rows).

    Features outside China cannot go through GCJ-02/BD-09: with ``skip_invalid``
    they are left out and returned as ``(row, reason)``; otherwise
    :class:`OutsideChinaError` names them.
    """
    s, d = parse_crs(src), parse_crs(dst)
    skipped: list[tuple[int, str]] = []
    work = gdf
    if "gcj02" in (s.datum, d.datum) or "bd09" in (s.datum, d.datum):
        geo = gdf if s.datum != "crs" else gdf.to_crs("EPSG:4326")
        bad = rows_outside_china(geo.geometry)
        if bad:
            rows = [int(gdf.index[i]) for i in bad]
            if not skip_invalid:
                msg = (f"{source}: {len(rows)} feature(s) outside China (rows {rows[:10]}) cannot be "
                       f"converted {s.label} -> {d.label}; fix them or pass --skip-invalid")
                raise OutsideChinaError(msg)
            skipped = [(r, "outside China: GCJ-02/BD-09 undefined") for r in rows]
            work = gdf.drop(index=rows)
    return convert_datum(work, s, d), skipped


def output_layer_name(dst: str | os.PathLike[str], layer: str | None = None) -> str | None:
    """Layer name for a written file: ``layer``, else the target's stem (never the temp name).

    Only GeoPackages name their layers; other formats take the name from the file.
    """
    if Path(dst).suffix.lower() != ".gpkg":
        return None
    return layer or Path(dst).stem.lstrip(".") or "layer"


def convert_file(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], *, src_crs: str | None = None,
    dst_crs: str = "EPSG:4326", layer: str | None = None, encoding: str | None = None,
    skip_invalid: bool = False, overwrite: bool = False, out_layer: str | None = None,
) -> ConvertResult:
    """Convert the file ``src`` into ``dst`` (format from its suffix), keeping attributes.

    Parameters
    ----------
    src, dst : path-like
        Input and output files; ``dst`` is written atomically.
    src_crs : str, optional
        Source declaration (required for GCJ-02/BD-09 or files without CRS).
    dst_crs : str, default "EPSG:4326"
        Target: a CRS or ``gcj02``/``bd09`` (written with a WGS84 tag, as Amap expects).
    skip_invalid : bool
        Leave out (and report) features that cannot be converted.
    overwrite : bool
        Replace an existing ``dst``.
    out_layer : str, optional
        Name of the written layer (GeoPackage); default: the stem of ``dst``.
    """
    check_output(dst, overwrite=overwrite)
    decl = parse_crs(src_crs) if src_crs else None
    pseudo = decl is not None and decl.datum != "crs"
    raw = read_vector(src, layer=layer, crs="EPSG:4326" if pseudo else decl, encoding=encoding,
                      datum_hint=not pseudo)
    # a declared pseudo-datum (GCJ-02/BD-09) is read as WGS84 and shifted by convert_frame; any
    # other declaration was applied by the reader, whose frame carries the CRS its coordinates
    # are in now (a DXF is returned in WGS84): never transform those coordinates twice
    origin = decl if pseudo or raw.crs is None else SourceCRS("crs", raw.crs)
    out, skipped = convert_frame(raw, origin, dst_crs, skip_invalid=skip_invalid, source=str(src))
    path = write_vector(out, dst, layer=output_layer_name(dst, out_layer), overwrite=overwrite)
    res = ConvertResult(path=path, read=len(raw), written=len(out), src_label=(decl or origin).label,
                        dst_label=parse_crs(dst_crs).label, skipped=skipped)
    logger.info("converted %s -> %s: %d of %d features", src, dst, res.written, res.read)
    return res
