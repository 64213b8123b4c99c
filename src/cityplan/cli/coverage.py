"""``cityplan coverage``: standards-based service areas, per district, with gaps."""

from __future__ import annotations

import click
import pandas as pd
from rich.markup import escape

from cityplan.cli._common import (
    ONEMAP_HELP,
    FiniteFloat,
    console,
    note,
    print_table,
    progress_bar,
    warn,
)

METHODS = ("euclid", "walk", "bike", "drive", "transit")  # cityplan.coverage.presets.METHODS, not imported for speed
SCENARIOS = ("existing", "planned", "both")  # cityplan.coverage.spec.SCENARIOS
STEPS = ["facilities", "demand", "search", "isochrone", "areas", "gaps", "write"]
#: a per-district table longer than this is summarised on the terminal (the files have every row)
MAX_PRINTED_ROWS = 150


@click.group("coverage", invoke_without_command=True)
@click.option("--preset", help="A coverage preset (see `cityplan coverage presets`).")
@click.option("--facilities", multiple=True, help="Facility layer id or vector file (repeatable).")
@click.option("--demand", help="Demand layer id or vector file (default: residential).")
@click.option("--within", help="Limit with unit: 500m, 1.5km, 15min, 1h.")
@click.option("--mode", "method", type=click.Choice(METHODS), help="euclid, walk, bike, drive or transit (walk + metro, or a GTFS timetable: --gtfs/--depart).")
@click.option("--scenario", type=click.Choice(SCENARIOS), default="both", show_default=True,
              help="existing (real facilities only), planned (existing + plan sites) or both with their difference.")
@click.option("--season", help="Speed preset of speeds.yaml (winter, summer); default: the preset's.")
@click.option("--without-line", "without_lines", multiple=True,
              help="Transit: leave out a line or section (e.g. 3-nw; by timetable also a route id, stop:ID,ID or section:ID,ID; repeatable); default: the planned sections (and planned lines).")
@click.option("--gtfs", multiple=True, type=click.Path(exists=True),
              help="Transit by timetable: a GTFS feed (zip or folder; repeatable) instead of the profile's transit.yaml feeds.")
@click.option("--date", "date_", help="Transit by timetable: analysis date YYYY-MM-DD (default: transit.yaml's, else a weekday the feed covers).")
@click.option("--depart", help="Transit by timetable: departure window HH:MM-HH:MM (default: transit.yaml's, 07:00-09:00).")
@click.option("--transit-engine", type=click.Choice(["timetable", "headway"]),
              help="timetable (GTFS / generated feed, every departure minute) or headway (metro, half-headway waits); "
                   "default: timetable when --gtfs/--date/--depart is given or the profile has only transit.yaml.")
@click.option("--speed", "speed_kmh", type=FiniteFloat(0, min_open=True), help="Travel speed in km/h (e.g. 3.6 for winter walking).")
@click.option("--by", type=click.Choice(["district"]), default="district", show_default=True, help="Aggregate by.")
@click.option("--capacity", help="Facility column with capacity (seats, spaces): adds 2SFCA accessibility.")
@click.option("--demand-share", type=FiniteFloat(0, 1, min_open=True), default=1.0, show_default=True, help="Share of population that needs the facility (2SFCA).")
@click.option("--population", help="Demand column with population (default: estimated from the census).")
@click.option("--network", help="Routing network: road_graph (default) or any line layer / file, noded.")
@click.option("--max-snap", type=FiniteFloat(0, min_open=True), default=300.0, show_default=True, help="Max distance (m) to snap to the network.")
@click.option("--offroad", type=FiniteFloat(0), default=100.0, show_default=True, help="Isochrone width off the reached roads (m).")
@click.option("--crs", help="Declared CRS of --facilities/--demand files without one (or gcj02).")
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (default out/coverage-NAME).")
@click.option("--format", "formats", multiple=True, type=click.Choice(["csv", "xlsx", "json"]), default=["csv"], show_default=True)
@click.option("--no-map", is_flag=True, help="Do not write coverage_map.html.")
@click.option("--overwrite", is_flag=True, help="Replace files in an existing output folder.")
@click.pass_context
def coverage(ctx: click.Context, preset, facilities, demand, within, method, scenario, season, without_lines,
             gtfs, date_, depart, transit_engine, speed_kmh, by, capacity, demand_share, population, network, max_snap, offroad, crs, onemap, out,
             formats, no_map, overwrite) -> None:
    """Who lives within N metres / minutes of a facility, per district, and where the gaps are."""
    from cityplan.coverage import run_coverage, write_coverage
    from cityplan.coverage.run import ALL, scenario_label

    if ctx.invoked_subcommand is not None:
        return
    if not preset and not (facilities and within and method):
        raise click.UsageError("give --preset NAME, or --facilities, --within and --mode")
    name = preset or f"{method}-{within}"
    if preset and method:
        name = f"{preset}-{method}"
    with progress_bar(len(STEPS), "coverage") as bar:
        task = bar.add_task(f"coverage {name}", total=len(STEPS), item="")
        res = run_coverage(onemap, preset=preset, facilities=list(facilities) or None, demand=demand,
                           method=method, within=within, speed_kmh=speed_kmh, capacity=capacity,
                           population=population, demand_share=demand_share, max_snap_m=max_snap,
                           offroad_m=offroad, network=network, crs=crs, scenario=scenario, season=season,
                           without_lines=list(without_lines) or None, gtfs=list(gtfs) or None, date=date_,
                           depart=depart, transit_engine=transit_engine,
                           progress=lambda s: bar.update(task, advance=1, item=s))
        from cityplan.paths import output_dir

        folder = output_dir(out, f"coverage-{name}")
        bar.update(task, item="write")
        written = write_coverage(res, folder, formats=tuple(formats), overwrite=overwrite)
        if not no_map:
            from pathlib import Path

            from cityplan.maps.coverage_map import coverage_map
            from cityplan.maps.render import save_map

            written.append(save_map(coverage_map(res, onemap, offline=True), Path(folder) / "coverage_map.html",
                                    overwrite=True))
        bar.update(task, advance=1)
    p = res.params
    langs = p.get("languages")
    # the headline first: the existing scenario (real facilities only), planned beside it with its basis
    for line in headline_lines(res, langs):
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    # the terminal shows the figures a district office reads; per_district.csv/.xlsx have every column
    cols = ["scenario", "district", "population", "population_covered", "population_share", "area_share",
            "features_covered", "not_snapped_or_unreachable"] + [c for c in ("meets_target",) if c in res.districts.columns]
    speed = f" at {p['speed_kmh']} km/h" if p.get("speed_kmh") else ""
    season = f" ({p['season']} speeds)" if p.get("season") else ""
    caption = (f"method {p['method']} within {p['within']}{speed}{season}; facilities {', '.join(p['facilities'])} "
               f"({p['facility_count_existing']} existing, {p['facility_count_plan']} planned, "
               f"{p['facility_count_illustrative']} of them illustrative); population: {p['population']}; "
               "compounds covered: the compound's representative point (entrance) reached within the limit; "
               "the shares count the land inside the service area")
    table = res.by_scenario
    if "network" in table.columns:
        table = table[table["network"] == "full"]
    view = table[cols].rename(columns={"population": "population (est.)", "population_covered": "covered (est.)",
                                       "population_share": "pop. share", "features_covered": "compounds covered",
                                       "not_snapped_or_unreachable": "not routable"})
    view = view.assign(scenario=[scenario_label(s, langs) for s in view["scenario"]])
    title = f"Coverage {name} by district: existing (headline) / planned / difference"
    if len(view) > MAX_PRINTED_ROWS:  # a country-sized city: the terminal shows the city, the files every district
        n_rows = len(view)
        view = view[view["district"] == ALL]
        title = f"Coverage {name}, whole city: existing (headline) / planned / difference"
        caption += (f"; {n_rows - len(view)} district rows are in per_district.csv "
                    f"(more than {MAX_PRINTED_ROWS} rows are not printed)")
    print_table(view, title=title, caption=caption)
    if isinstance(p.get("transit"), dict) and p["transit"].get("engine", "").startswith("timetable"):
        t = p["transit"]
        note(f"transit by timetable: {', '.join(t['feeds'])} on {t['date']}, departures {t['depart']} every minute; "
             f"covered = {t['decide_by']} travel time within {p['within']} (p{t['percentile']:g} beside it); "
             f"up to {t['max_transfers']} transfers, walks up to {t['max_walk_m']:g} m")
    if res.network_effect is not None:
        eff = res.network_effect
        print_table(eff, title=f"Residents within {p['within']} by transit, with and without {eff['without'].iloc[0]}",
                    caption="population_gained = covered with the line(s) minus covered without them (estimates)")
    if p.get("citation"):
        note(f"[dim]{p['citation']}[/]")
    for text in res.notes:  # e.g. population unavailable: the map has no census
        note(f"[bold]note:[/] {escape(text)}")
    for w in res.warnings:
        warn(w)
    note(f"[green]wrote[/] {len(written)} files to {folder}")


def headline_lines(res, languages=None) -> list[str]:
    """The headline the terminal prints above the table: the existing scenario's city-wide share,
    labelled, with the planned share beside it and how much of planned is illustrative."""
    from cityplan.coverage.run import HEADLINE, scenario_label

    metric = res.share_metric
    what = "population share" if metric == "population_share" else "residential land share (no census)"
    lines = []
    planned = res.scenario_rows("planned")
    for scen in (HEADLINE, "planned"):
        rows = res.scenario_rows(scen)
        if rows.empty:
            continue
        v = res.share(scen, metric=metric)
        tag = "headline" if scen == res.scenario else "beside it"
        basis = (f" ({res.planned_basis(languages)})" if scen == "planned" else
                 f" ({int(res.params.get('facility_count_existing') or 0)} real facilities)")
        lines.append(f"{tag}: {scenario_label(scen, languages)}: {what} city-wide {v:.4f}{basis}")
    if res.scenario_rows(HEADLINE).empty:
        lines.insert(0, f"{HEADLINE} scenario not computed (--scenario {res.scenario}): the figures are not the "
                        "city as it is")
    if planned.empty:
        lines.append("planned scenario not computed (--scenario existing)")
    return lines


@coverage.command("presets")
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--city", help="A city profile (harbin, or a folder) instead of the one map's: "
                             "availability then follows the catalog's roles only (not built).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def presets(onemap: str | None, city: str | None, fmt: str) -> None:
    """List the coverage presets of the city (the one map's profile), whether this map can run each, and their sources."""
    from cityplan.coverage import load_presets
    from cityplan.coverage.roles import describe_facilities, preset_availability
    from cityplan.onemap import OneMap
    from cityplan.profile import load_profile

    source = load_profile(city) if city else OneMap.coerce(onemap)
    profile = source if city else source.profile

    rows = []
    for p in load_presets(profile).values():
        available, reason = preset_availability(p, source)
        rows.append({"id": p.id, "available": available, "reason": reason, "method": p.method,
                     "within": p.within.text, "facilities": describe_facilities(p, source),
                     "speed_kmh": p.speed_kmh, "target": f"{p.target['metric']} >= {p.target['min']}" if p.target else "",
                     "title_zh": p.title_zh, "title_en": p.title_en, "citation": p.citation})
    what = f"profile {profile.label} (catalog roles; not built)" if city else source.label
    print_table(pd.DataFrame(rows), title=f"Coverage presets of {what}", fmt=fmt)


@coverage.command("store")
@click.option("--onemap", help=ONEMAP_HELP)
@click.option("--preset", "presets", multiple=True, help="Only these presets (default: every preset of the profile).")
@click.option("--no-transit", is_flag=True, help="Leave out the transit (walk + metro) runs of the walking presets.")
@click.option("--retry-failed", is_flag=True, help="Compute again the runs that failed for this build.")
def store(onemap: str | None, presets: tuple[str, ...], no_transit: bool, retry_failed: bool) -> None:
    """Compute every coverage preset once for the map's current build and store the results in the
    one map, where dashboards (every server process) and `cityplan report` read them.

    Runs already stored for this build are kept (a rebuilt map starts again). Exit code 1 when a run
    failed or a preset is not available on this map."""
    from cityplan.onemap import OneMap
    from cityplan.services.coverage import FAILED, coverage_runs, ensure_stored, run_states

    om = OneMap.coerce(onemap)
    specs = coverage_runs(om, list(presets) or None, transit=not no_transit)
    with progress_bar(len(specs), "coverage store") as bar:
        task = bar.add_task("coverage store", total=len(specs), item="")
        states = ensure_stored(om, list(presets) or None, transit=not no_transit, retry_failed=retry_failed,
                               progress=lambda s: bar.update(task, advance=0 if s.endswith(": computing") else 1,
                                                             item=s))
    got = run_states(om)
    rows = [{"run": run, "state": state, "seconds": got[run][2]["seconds"] if run in got else None,
             "reason": got[run][1] if run in got else "not stored (the map could not be written)"}
            for run, state in states.items()]
    print_table(pd.DataFrame(rows), title=f"Coverage stored for build {om.build_stamp} of {om.label}", fmt="table")
    missing = [r["run"] for r in rows if r["run"] not in got]
    if missing:
        warn(f"not stored: {', '.join(missing)} (is the map writable?)")
    if missing or any(s != "done" for s in states.values()):
        if any(s == FAILED for s in states.values()):
            warn("some runs failed: see the reason column; --retry-failed computes them again")
        raise SystemExit(1)
