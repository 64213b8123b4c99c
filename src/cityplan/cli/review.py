"""``cityplan review``: a proposal against the one map; exit 0 pass, 1 findings (fail, incomplete or
needs approval), 2 input error.

``cityplan review PROPOSAL --store`` also stores the review in the one map's reviews ledger
(:mod:`cityplan.services.reviews`, the web's review desk's too); ``cityplan review list``, ``show
ID`` and ``opinion ID --out FILE.pdf`` read stored reviews, whichever shell made them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cityplan.cli._common import FORMATS, ONEMAP_HELP, console, note, print_table

IMPACT_TYPES = ("school", "park", "parking", "ice-sports")  # cityplan.review.check.IMPACT_PRESETS
PROJECT_TYPES = ("bridge", "pipeline", "road", "building", "park_facility", "sports", "school", "other")


class _ReviewGroup(click.Group):
    """``cityplan review PROPOSAL ...`` runs :func:`check`; ``cityplan review list|show|opinion`` read
    stored reviews (a file named like a subcommand: ``./list``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:  # noqa: D102
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["check", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_ReviewGroup)
def review() -> None:
    """Review a red line against the one map, or read the stored reviews.

    \b
    cityplan review PROPOSAL [OPTIONS]   review a file (options: cityplan review check --help);
                                         --store keeps it in the one map, as the web's review desk does
    cityplan review list                 the stored reviews (web-made ones too)
    cityplan review show ID              one stored review
    cityplan review opinion ID --out F   its 审查意见 PDF, from the stored report
    """


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _default_data_dir() -> Path:
    from cityplan.cli.serve import default_data_dir

    return default_data_dir()


@review.command("check")
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
@click.option("--store", is_flag=True,
              help="Also store the review in the one map (listed and reopened by the web's /review page and "
                   "`cityplan review list`).")
@click.option("--user", "user", help="Who submits a --store review (default: your login name).")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="With --store: the server's data folder, where the file and the HTML report are kept "
                   "(default: that of `cityplan serve` here, out/server).")
def check(proposal, rules_path, crs, layer, encoding, name_column, project_type, facility_type, project, applicant,
          scale, dpi, onemap, out, fmt, overwrite, store, user, data_dir) -> None:
    """Check PROPOSAL against the one map's control lines and plans; print findings and a verdict.

    Exit 0 pass; 1 fail, incomplete (a forbidden-severity rule had no data to check) or needs
    approval; 2 input error.
    """
    from rich.markup import escape

    from cityplan.onemap import OneMap
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

    if (user or data_dir) and not store:
        raise click.UsageError("--user and --data-dir are for --store; add --store (or leave them out)")
    map_scale = parse_scale(scale)
    onemap = OneMap.coerce(onemap)
    rep = review_file(proposal, layer=layer, crs=crs, encoding=encoding, rules_path=rules_path,
                      onemap=onemap, facility_type=facility_type, name_column=name_column, project_type=project_type,
                      project=project, applicant=applicant)
    if store:
        from cityplan.services.reviews import store_report

        saved = store_report(onemap, rep, proposal, user=user or _login_name(),
                             intake={"project": rep.intake.get("project", ""),
                                     "applicant": rep.intake.get("applicant", ""),
                                     "project_type": rep.intake.get("project_type", "")},
                             crs=crs, facility_type=facility_type, data_dir=data_dir or _default_data_dir())
        note(f"stored review {saved.review_id} ({rep.verdict}) in {onemap.label}: cityplan review show "
             f"{saved.review_id}; the web's /review/{saved.review_id}")
    if out:
        _write(rep, Path(out), onemap, overwrite, opinion={"project": project, "applicant": applicant,
                                                          "submitted": Path(proposal).name, "scale": map_scale,
                                                          "dpi": dpi})
        note(f"wrote {out} (审查意见 review_opinion.pdf)")
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


def _write(rep, out: Path, onemap, overwrite: bool, *, opinion: dict[str, Any]) -> None:
    """The review's files and its 审查意见 PDF, published together (a failure leaves none)."""
    from cityplan.io.write import atomic_folder, write_gpkg
    from cityplan.maps.render import save_map
    from cityplan.review.opinion import write_opinion
    from cityplan.review.report import review_map, to_html, to_markdown

    with atomic_folder(out, overwrite=overwrite) as tmp:  # all the review's files or none
        for name, text in (("review.json", json.dumps(rep.to_dict(), ensure_ascii=False, indent=1, default=str)),
                           ("review.md", to_markdown(rep)), ("review.html", to_html(rep, map_file="review_map.html"))):
            (tmp / name).write_text(text, encoding="utf-8")
        write_gpkg({"proposal": rep.proposal, "overlaps": rep.overlaps, "findings": rep.findings},
                   tmp / "overlaps.gpkg", overwrite=True)
        save_map(review_map(rep, onemap), tmp / "review_map.html", overwrite=True)
        write_opinion(rep, tmp / "review_opinion.pdf", onemap=onemap, overwrite=True, **opinion)


# ---------------------------------------------------------------------------- stored reviews
LIST_SHOW = ["review_id", "created_at", "user", "file_name", "project", "applicant", "project_type", "verdict",
             "hits", "build_id"]


def _store(onemap: str | None) -> Any:
    from cityplan.onemap import OneMap

    return OneMap.coerce(onemap)


@review.command("list")
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N reviews.")
def list_(onemap: str | None, fmt: str, limit: int | None) -> None:
    """List the stored reviews, newest first (made here with --store or on the web's review desk)."""
    from cityplan.services.reviews import list_reviews

    om = _store(onemap)
    table = list_reviews(om.store)
    if limit:
        table = table.head(limit)
    if fmt == "table":
        table = table[[c for c in LIST_SHOW if c in table.columns]]
        print_table(table, title=f"Stored reviews of {om.label}",
                    caption="cityplan review show ID / cityplan review opinion ID --out FILE.pdf")
    else:
        print_table(table.reset_index(drop=True), fmt=fmt)
    if table.empty:
        note("no stored reviews yet: cityplan review PROPOSAL --store (or the web's review desk) stores one")


@review.command("show")
@click.argument("review_id")
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def show(review_id: str, onemap: str | None, fmt: str) -> None:
    """Show a stored review: what was asked, the verdict and the findings that hit."""
    import pandas as pd

    from cityplan.review.check import verdict_text
    from cityplan.services.reviews import require_review

    om = _store(onemap)
    rv = require_review(om.store, review_id)
    if fmt == "json":
        click.echo(json.dumps({k: v for k, v in rv.items() if not k.startswith("_")}, ensure_ascii=False,
                              indent=1, default=str))
        return
    doc = rv["report"]
    for key in ("review_id", "created_at", "user", "file_name", "project", "applicant", "project_type", "crs",
                "facility_type", "build_id"):
        value = rv.get(key)
        if value not in (None, "") and value == value:
            console.print(f"{key}: {value}", soft_wrap=True, highlight=False, markup=False)
    findings = pd.DataFrame(doc.get("findings") or [])
    if not findings.empty and "hit" in findings.columns:
        hit = findings[findings["hit"].astype(bool)]
        cols = [c for c in ("feature_name", "rule", "severity", "area_m2", "share", "distance_m", "message")
                if c in hit.columns]
        print_table(hit[cols], title="Findings that hit")
    console.print(f"verdict: {verdict_text(str(doc.get('verdict', '')))}", highlight=False, markup=False)
    if doc.get("verdict_reason"):
        console.print(f"  {doc['verdict_reason']}", soft_wrap=True, highlight=False, markup=False)


@review.command("opinion")
@click.argument("review_id")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The PDF to write (FILE.pdf).")
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--dpi", type=click.IntRange(50, 1200), default=150, show_default=True, help="Raster resolution.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def opinion(review_id: str, out: str, onemap: str | None, dpi: int, overwrite: bool) -> None:
    """Write a stored review's 审查意见 PDF from its stored report (the review is not run again)."""
    from cityplan.services.reviews import write_stored_opinion

    om = _store(onemap)
    path = write_stored_opinion(om, review_id, out, dpi=dpi, overwrite=overwrite)
    note(f"[green]wrote[/] {path}")


@review.command("recheck")
@click.argument("review_id")
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def recheck(review_id: str, onemap: str | None, fmt: str) -> None:
    """Check a stored review's proposal again against the current build (nothing is stored): the
    findings that changed, and the features of its constraint layers that changed since the build it
    was checked against (when that build is still kept). Exit 0 unchanged, 1 changed."""
    import sys

    from cityplan.services.reviews import recheck_review

    rc = recheck_review(_store(onemap), review_id)
    if fmt == "json":
        rec = {"review_id": rc.review_id, "build_then": rc.build_then, "build_now": rc.build_now,
               "verdict_then": rc.verdict_then, "verdict_now": rc.verdict_now, "note": rc.note,
               "findings": json.loads(rc.findings.to_json(orient="records", force_ascii=False)),
               "layers": json.loads(rc.layers.to_json(orient="records", force_ascii=False)),
               "features": json.loads(rc.features.to_json(orient="records", force_ascii=False))}
        click.echo(json.dumps(rec, ensure_ascii=False, indent=1))
    else:
        note(f"checked on build {rc.build_then['build_id'][:8]} ({rc.build_then['built_at']}), now "
             f"{rc.build_now['build_id'][:8]} ({rc.build_now['built_at']}); verdict {rc.verdict_then} → {rc.verdict_now}")
        print_table(rc.findings, title="Findings then and now 复核")
        if len(rc.features):
            print_table(rc.features, title="Constraint features changed since 约束图层变化")
        if rc.note:
            note(rc.note)
    sys.exit(1 if rc.changed else 0)
