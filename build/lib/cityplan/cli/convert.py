"""``cityplan convert``: between CRSs, including GCJ-02 and BD-09."""

from __future__ import annotations

import click

from cityplan.cli._common import note, warn


@click.command()
@click.argument("src", type=click.Path(dir_okay=False))
@click.argument("dst", type=click.Path(dir_okay=False))
@click.option("--from", "from_crs", help="Source CRS: gcj02, bd09, wgs84, cgcs2000, EPSG:xxxx (default: the file's).")
@click.option("--to", "to_crs", default="EPSG:4326", show_default=True, help="Target CRS (same forms).")
@click.option("--layer", help="Layer of a multi-layer input.")
@click.option("--encoding", help="Text encoding of the input, e.g. gbk.")
@click.option("--skip-invalid", is_flag=True, help="Leave out features that cannot be converted (listed) instead of failing.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
def convert(src: str, dst: str, from_crs: str | None, to_crs: str, layer: str | None,
            encoding: str | None, skip_invalid: bool, overwrite: bool) -> None:
    """Convert SRC to DST between coordinate systems, keeping attributes."""
    from cityplan.convert import convert_file

    res = convert_file(src, dst, src_crs=from_crs, dst_crs=to_crs, layer=layer, encoding=encoding,
                       skip_invalid=skip_invalid, overwrite=overwrite)
    note(f"[green]wrote[/] {res.path}: {res.written} of {res.read} features, "
         f"{res.src_label} -> {res.dst_label}")
    for row, reason in res.skipped:
        warn(f"skipped row {row}: {reason}")
