"""Export the one map to files planners and other tools read: GeoParquet, GeoPackage, FlatGeobuf.

Every export carries the catalog's provenance (``sources.csv``: licence, attribution,
real/illustrative per layer). Layers whose licence forbids passing them on
(``redistribute: false`` in the catalog, e.g. the Aliyun DataV boundaries) are left out with
``public=True`` and otherwise exported with a warning.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyogrio

from cityplan._errors import LayerNotFoundError, SchemaError
from cityplan.io.write import atomic_folder, atomic_path, check_output, write_table
from cityplan.onemap import OneMap

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("parquet", "gpkg", "fgb")


@dataclass
class ExportResult:
    """What was written and what was left out (with the reason)."""

    files: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def export_onemap(onemap: OneMap | str | os.PathLike[str] | None, out: str | os.PathLike[str], *,
                  fmt: str = "parquet", layers: list[str] | None = None, public: bool = False,
                  overwrite: bool = False) -> ExportResult:
    """Write the one map's layers to ``out``.

    Parameters
    ----------
    onemap : OneMap, path or URL
    out : path
        A folder for ``parquet``/``fgb`` (one file per layer + ``sources.csv``); a ``.gpkg`` file
        for ``gpkg`` (all layers + the ``sources`` table).
    fmt : {"parquet", "gpkg", "fgb"}
    layers : list of str, optional
        Layer ids (default: every layer).
    public : bool
        Leave out layers whose licence forbids redistribution.
    overwrite : bool
        Replace existing files.
    """
    if fmt not in EXPORT_FORMATS:
        msg = f"--format {fmt!r} is unknown; use one of {EXPORT_FORMATS}"
        raise SchemaError(msg)
    om = OneMap.coerce(onemap)
    ids = layers or om.layer_ids
    unknown = [i for i in ids if not om.has_layer(i)]
    if unknown:
        msg = f"--layer {unknown[0]!r} is not a layer of {om.label}; layers: {om.layer_ids}"
        raise LayerNotFoundError(msg)
    cat = om.catalog.set_index("layer")
    res = ExportResult()
    chosen = []
    for lid in ids:
        restricted = "redistribute" in cat.columns and not bool(cat.loc[lid, "redistribute"])
        if restricted and public:
            res.skipped[lid] = f"licence forbids redistribution: {cat.loc[lid, 'licence']}"
            continue
        if restricted:
            res.warnings.append(f"{lid}: exported for local use only ({cat.loc[lid, 'licence']}); "
                                "pass --public to leave it out of files you hand on")
        chosen.append(lid)
    sources = cat.loc[chosen, ["title_zh", "title_en", "source", "licence", "attribution",
                               "illustrative"]].reset_index()
    sources["note"] = sources["illustrative"].map(
        {True: "示意 illustrative: placed by a documented rule, not real sites", False: ""})
    target = Path(out)
    if fmt == "gpkg":
        check_output(target, overwrite=overwrite)
        with atomic_path(target, overwrite=overwrite) as tmp:
            for lid in chosen:
                pyogrio.write_dataframe(om.layer(lid), tmp, layer=lid, driver="GPKG", append=tmp.exists())
            pyogrio.write_dataframe(sources, tmp, layer="sources", driver="GPKG", append=tmp.exists())
        res.files.append(target)
        return res
    with atomic_folder(target, overwrite=overwrite) as tmp_dir:  # no partial export on failure
        for lid in chosen:
            df = om.layer(lid)
            spatial = "geometry" in df.columns
            if fmt == "fgb" and not spatial:  # FlatGeobuf needs geometries; attribute tables go to CSV
                write_table(pd.DataFrame(df), tmp_dir / f"{lid}.csv", overwrite=True)
                res.files.append(target / f"{lid}.csv")
                continue
            path = tmp_dir / f"{lid}.{fmt}"
            with atomic_path(path, overwrite=True) as tmp:
                if fmt == "parquet":
                    (df if spatial else pd.DataFrame(df)).to_parquet(tmp, index=False)
                else:
                    pyogrio.write_dataframe(df, tmp, driver="FlatGeobuf")
            res.files.append(target / path.name)
        write_table(sources, tmp_dir / "sources.csv", overwrite=True)
    res.files.append(target / "sources.csv")
    return res
