"""``cityplan city``: another city from an OSM extract and its district boundaries."""

from __future__ import annotations

import json

import click

from cityplan.cli._common import console


@click.group("city")
def city() -> None:
    """Set up another city (its data folder and catalog) from OpenStreetMap."""


@city.command("new")
@click.argument("name")
@click.option("--osm", "osm", required=True, type=click.Path(dir_okay=False), help="OSM extract (.osm.pbf).")
@click.option("--districts", required=True, type=click.Path(dir_okay=False),
              help="District polygons: any vector file (GeoJSON, GeoPackage, Shapefile...).")
@click.option("--name-column", help="Column of --districts holding the district names (default: name).")
@click.option("--districts-crs", help="CRS of a districts file that declares none (EPSG:4326, gcj02...).")
@click.option("--census", type=click.Path(dir_okay=False),
              help="CSV: population (+ urban_share) per district, keyed by adcode or name.")
@click.option("--population-column", help="Census column holding the population (default: population, pop_YYYY...).")
@click.option("--country", help="ISO 3166-1 alpha-2 code (default CN inside China, else not known).")
@click.option("--timezone", help="IANA time zone, e.g. America/Sao_Paulo (default Asia/Shanghai in China, else UTC).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing folder.")
@click.option("--gtfs", type=click.Path(dir_okay=False),
              help="A GTFS feed (zip): validated, copied into the city and named in transit.yaml (timetable transit).")
def new(name: str, osm: str, districts: str, name_column: str | None, districts_crs: str | None,
        census: str | None, population_column: str | None, country: str | None, timezone: str | None,
        out: str, overwrite: bool, gtfs: str | None) -> None:
    """Write the profile and data of city NAME into OUT; then `cityplan build --city OUT --data OUT`."""
    from pathlib import Path

    from cityplan.city import new_city
    from cityplan.paths import write_project_file

    feed_note = None
    if gtfs:
        from cityplan.transit.gtfs import read_feed

        feed = read_feed(gtfs)  # a feed that cannot be read is refused before anything is written
        first, last = feed.coverage_dates()
        feed_note = (f"GTFS {feed.name}: {feed.n_stops} stops, {len(feed.route_id)} routes, {len(feed.trip_id)} trips, "
                     f"{len(feed.st_stop)} stop_times, service {first} to {last}; settings in transit.yaml")
    folder = new_city(name, osm=osm, districts=districts, name_column=name_column, districts_crs=districts_crs,
                      census=census, out=out, overwrite=overwrite, population_column=population_column,
                      country=country.upper() if country else None, timezone=timezone, gtfs=gtfs)
    cat = folder / "catalog.yaml"
    project = write_project_file(Path.cwd(), onemap=str(folder / "onemap.gpkg"), city=str(folder),
                                 data=str(folder))
    summary = json.loads((cat.parent / "city.json").read_text(encoding="utf-8"))
    layers = ", ".join(f"{k} {v}" for k, v in summary["layers"].items())
    osm_used = ", ".join(f"{k} {v['used']}/{v['read']}" for k, v in summary["osm"]["features"].items() if v["read"])
    console.print(f"{name}: working CRS {summary['working_crs']}, districts {summary['districts']['kept']} "
                  f"of {summary['districts']['read']}; layers: {layers}")
    console.print(f"OSM features used/read: {osm_used} (counts in {cat.parent / 'city.json'})")
    if feed_note:
        console.print(feed_note, markup=False)
    console.print(f"[green]wrote[/] {folder} (profile and data); {project.name} here names it: "
                  f"`cityplan build` builds {folder / 'onemap.gpkg'}")
