"""``cityplan review``: a proposal against the one map; exit 0 pass, 1 findings (fail, incomplete or
needs approval), 2 input error."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cityplan.cli._common import ONEMAP_HELP, console, note, print_table

IMPACT_TYPES = ("school", "park", "parking", "ice-sports")  # cityplan.review.check.IMPACT_PRESETS
PROJECT_TYPES = ("bridge", "pipeline", "road", "building", "park_facility", "sports", "school", "other")


@click.command()
@click.argument("proposal", type=click.Path(dir_okay=False))
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False), help="Rules file (default review_rules.yaml).")
@click.option("--crs", help="Declared CRS if the file has none, or gcj02 / bd09 for Amap / Baidu coordinates.")
@click.option("--layer", help="Layer of a multi-layer file.")
@click.option("--encoding", help="Text encoding, e.g. gbk.")
@click.option("--name-column", help="Attribute naming each feature in the report.")
@click.option("--type", "project_type", type=click.Choice(PROJECT_TYPES),
              help="Project type for every feature (default: each feature's type / 项目类型 attribute, else other).")
@click.option("--facility-type", type=click.Choice(IMPACT_TYPES), help="Also report the coverage change in its district.")
@click.option("--project", default="", help="项目名称 Project name: stored with the review and printed in every output.")
@click.option("--applicant", default="", help="申请单位 Applicant: stored with the review and printed in every output.")
@click.option("--scale", "scale", default="auto", show_default=True, help="Scale of the PDF's map: 1:N or auto.")
@click.option("--dpi", type=click.IntRange(50, 1200), default=300, show_default=True, help="Raster resolution of print output.")
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--out", type=click.Path(file_okay=False),
              help="Write review.json/.md/.html, review_map.html, overlaps.gpkg and the 审查意见 review_opinion.pdf here.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "md", "html"]), default="table")
@click.option("--overwrite", is_flag=True, help="Replace files in --out.")
def review(proposal, rules_path, crs, layer, encoding, name_column, project_type, facility_type, project, applicant,
           scale, dpi, onemap, out, fmt, overwrite) -> None:
    """Check PROPOSAL against the one map's control lines and plans; print findings and a verdict.

    Exit 0 pass; 1 fail, incomplete (a forbidden-severity rule had no data to check) or needs
    approval; 2 input error.
    """
    from rich.markup import escape

    from cityplan.report.layout import parse_scale
    from cityplan.review import review_file
    from cityplan.review.check import verdict_text
    from cityplan.review.proposal import format_area
    from cityplan.review.report import (
        areas_line,
        finding_table,
        intake_lines,
        notes_shown,
        to_html,
        to_markdown,
        unchecked_lines,
        verdict_lines,
    )

    map_scale = parse_scale(scale)
    rep = review_file(proposal, layer=layer, crs=crs, encoding=encoding, rules_path=rules_path,
                      onemap=onemap, facility_type=facility_type, name_column=name_column, project_type=project_type,
                      project=project, applicant=applicant)
    if out:
        _write(rep, Path(out), onemap, overwrite)
        from cityplan.review.opinion import write_opinion

        pdf = write_opinion(rep, Path(out) / "review_opinion.pdf", onemap=onemap, project=project,
                            applicant=applicant, submitted=Path(proposal).name, scale=map_scale, dpi=dpi,
                            overwrite=True)
        note(f"wrote {out} (审查意见 {pdf.name})")
    if fmt == "json":
        click.echo(json.dumps(rep.to_dict(), ensure_ascii=False, indent=1, default=str))
    elif fmt == "md":
        click.echo(to_markdown(rep))
    elif fmt == "html":
        click.echo(to_html(rep))
    else:
        show = finding_table(rep, ["feature_name", "project_type", "rule", "severity", "hit", "area_m2", "share",
                                   "distance_m", "features_hit", "message"])
        print_table(show, title=f"One-map review of {proposal}: {verdict_text(rep.verdict)}",
                    caption=f"one map built {rep.data_version.get('onemap_built_at')}; areas {areas_line(rep)}")
        for label, value in intake_lines(rep):
            console.print(f"{escape(label)}: {escape(value)}", soft_wrap=True)
        if rep.impact is not None:
            print_table(rep.impact, title="Coverage impact")
        s = rep.summary
        if s.get("area_m2"):
            console.print(f"proposal: {format_area(s, rep.area_units)}; "
                          f"centroid {s['centroid_lon']:.6f}, {s['centroid_lat']:.6f}; "
                          f"measured in {s.get('working_crs_name') or s['working_crs']}")
        for line in unchecked_lines(rep):
            console.print(escape(line), style="magenta", soft_wrap=True)
        for n in notes_shown(rep):
            console.print(f"[yellow]note:[/] {escape(n)}", soft_wrap=True)
        console.print(f"verdict: [bold]{verdict_text(rep.verdict)}[/]")
        for line in verdict_lines(rep):
            console.print(f"  {escape(line)}", soft_wrap=True)
    raise SystemExit(rep.exit_code)


def _write(rep, out: Path, onemap, overwrite: bool) -> None:
    from cityplan._errors import OutputExistsError
    from cityplan.io.write import atomic_path, write_gpkg
    from cityplan.maps.render import save_map
    from cityplan.review.report import review_map, to_html, to_markdown

    if out.exists() and any(out.iterdir()) and not overwrite:
        msg = f"{out}: output folder is not empty; pass --overwrite"
        raise OutputExistsError(msg)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (("review.json", json.dumps(rep.to_dict(), ensure_ascii=False, indent=1, default=str)),
                       ("review.md", to_markdown(rep)), ("review.html", to_html(rep, map_file="review_map.html"))):
        with atomic_path(out / name, overwrite=overwrite) as tmp:  # exclusive: a concurrent review refuses
            tmp.write_text(text, encoding="utf-8")
    write_gpkg({"proposal": rep.proposal, "overlaps": rep.overlaps, "findings": rep.findings}, out / "overlaps.gpkg",
               overwrite=True)
    save_map(review_map(rep, onemap), out / "review_map.html", overwrite=True)
