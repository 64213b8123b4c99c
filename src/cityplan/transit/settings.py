"""A city's timetable transit: ``transit.yaml`` of the profile -> the feed networks of a run.

:func:`load_transit` reads the settings (:mod:`cityplan.schema.transit`); :func:`feed_networks`
builds, for one run, the **full** network (the published feeds, or the feed generated from the
metro layers and ``speeds.yaml``, plus every planned line) and the **counterfactual** (default:
without the planned lines and planned sections) as :class:`~cityplan.transit.access.FeedNetwork`.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from cityplan._errors import CoverageError
from cityplan.crs import to_working
from cityplan.network.graph import RoadGraph
from cityplan.network.transit import line_geometry
from cityplan.profile import Profile
from cityplan.schema.transit import load_transit_document
from cityplan.transit.access import FeedNetwork
from cityplan.transit.feedgen import LineSpec, concat_feeds, generate_feed
from cityplan.transit.gtfs import Feed, parse_date, parse_times, parse_window, read_feed
from cityplan.transit.scenarios import apply_without, drop_routes

logger = logging.getLogger(__name__)

TRANSIT_FILE = "transit.yaml"

#: the settings a run uses when the profile has no transit.yaml but --gtfs is given (printed as assumptions)
DEFAULTS: dict[str, Any] = {
    "feeds": [], "metro_from_speeds": False, "engine": None, "date": None, "depart": "07:00-09:00", "percentile": 75,
    "decide_by": "median", "max_transfers": 3, "transfer_penalty_min": 0, "min_change_min": 1,
    "max_walk_m": 1000, "max_transfer_walk_m": 400, "max_stop_snap_m": 300, "planned_lines": {}, "sections": {},
    "source": "assumed defaults (the profile has no transit.yaml): up to 3 transfers, 1 min to change at a stop, "
              "1000 m walks to and from stops, 400 m walks between stops, no transfer penalty",
}


def load_transit(profile: Profile) -> dict[str, Any] | None:
    """``transit.yaml`` of ``profile`` (validated), or None when it has none."""
    if not profile.has(TRANSIT_FILE):
        return None
    return profile.memo("transit", lambda: load_transit_document(profile.file(TRANSIT_FILE)))


def _metro_lines(cfg: dict[str, Any], lines: gpd.GeoDataFrame, stations: gpd.GeoDataFrame,
                 crs: Any) -> tuple[list[LineSpec], dict[str, list[str]], np.ndarray, np.ndarray]:
    """Lines of ``speeds.yaml`` ``transit:`` over the metro layers (as the headway model reads them).

    Returns the line specs, the sections (``{id: stop ids}``), and per station (stop id
    ``station:ROW``) the access and egress seconds.
    """
    st = to_working(stations.reset_index(drop=True), crs)
    ln = to_working(lines.reset_index(drop=True), crs)
    ll = stations.reset_index(drop=True).to_crs(4326)
    lon, lat = ll.geometry.x.to_numpy(), ll.geometry.y.to_numpy()
    names = st["name"].astype(str).to_numpy() if "name" in st.columns else np.array([""] * len(st))
    col = cfg.get("line_column", "line")
    if col not in ln.columns:
        msg = f"metro lines layer: no column {col!r} (transit.line_column in speeds.yaml); columns: {list(ln.columns)}"
        raise CoverageError(msg)
    specs = []
    for lid, spec in cfg["lines"].items():
        seq_col = spec["sequence"]
        if seq_col not in st.columns:
            msg = f"metro stations layer: no column {seq_col!r} (transit.lines.{lid}.sequence); columns: {list(st.columns)}"
            raise CoverageError(msg)
        seq = pd.to_numeric(st[seq_col], errors="coerce")
        on = seq.dropna().sort_values(kind="stable")
        geom = line_geometry(ln, col, lid, spec)
        pos = shapely.line_locate_point(geom, st.geometry.to_numpy()[on.index.to_numpy()])
        d = np.abs(np.diff(pos))
        loop = bool(spec.get("loop")) and len(on) > 2
        if loop:
            d = np.r_[d, abs(pos[-1] - pos[0])]
        if geom.is_closed:
            d = np.minimum(d, geom.length - d)
        idx = on.index.to_numpy()
        specs.append(LineSpec(line_id=lid, name=str(spec["match"]), stop_ids=[f"station:{i}" for i in idx],
                              stop_names=[names[i] for i in idx], lon=lon[idx], lat=lat[idx], leg_m=d,
                              headway_min=float(spec["headway_min"]), speed_kmh=float(cfg["speed_kmh"]), loop=loop))
    sections = {}
    for sid, sec in (cfg.get("sections") or {}).items():
        if sec["flag"] not in st.columns:
            msg = (f"section {sid!r}: the stations layer has no flag column {sec['flag']!r}; "
                   "declare it under the metro stations' flags in catalog.yaml")
            raise CoverageError(msg)
        sections[sid] = [f"station:{i}" for i in np.flatnonzero(st[sec["flag"]].fillna(False).astype(bool))]
    return specs, sections, np.full(len(st), float(cfg["access_min"]) * 60), np.full(len(st), float(cfg["egress_min"]) * 60)


def _planned(settings: dict[str, Any], base: Feed) -> list[LineSpec]:
    """``planned_lines`` as generated lines (an existing stop id reuses that stop's position)."""
    known = {s: i for i, s in enumerate(base.stop_id.tolist())} if base is not None else {}
    out = []
    to_m = None
    for lid, pl in settings.get("planned_lines", {}).items():
        lon, lat, ids, names = [], [], [], []
        for k, s in enumerate(pl["stops"]):
            if s["lon"] is not None and s["lat"] is not None:
                lon.append(s["lon"])
                lat.append(s["lat"])
            elif s["id"] in known:
                lon.append(float(base.stop_lon[known[s["id"]]]))
                lat.append(float(base.stop_lat[known[s["id"]]]))
            else:
                msg = (f"transit.yaml planned_lines.{lid}.stops[{k}]: stop {s['id']!r} is in no feed and has no "
                       "lon/lat; give its coordinates or an existing stop id")
                raise CoverageError(msg)
            ids.append(s["id"])
            names.append(s["name"] or s["id"])
        lon_a, lat_a = np.array(lon), np.array(lat)
        if to_m is None:
            zone = int((lon_a.mean() + 180) // 6) + 1
            to_m = Transformer.from_crs(4326, 32600 + zone if lat_a.mean() >= 0 else 32700 + zone, always_xy=True)
        x, y = to_m.transform(lon_a, lat_a)
        if pl.get("geometry"):  # along the line's course: stops located on it
            gx, gy = to_m.transform(*np.asarray(pl["geometry"], float).T)
            course = shapely.LineString(np.column_stack([gx, gy]))
            pos = shapely.line_locate_point(course, shapely.points(np.column_stack([x, y])))
            legs = np.abs(np.diff(pos))
            if pl["loop"]:
                d = abs(pos[-1] - pos[0])
                legs = np.r_[legs, course.length - d if course.is_closed else d]
            far = shapely.distance(course, shapely.points(np.column_stack([x, y])))
            if (far > 300).any():
                k = int(np.argmax(far))
                msg = (f"transit.yaml planned_lines.{lid}.stops[{k}]: stop {ids[k]!r} is {far[k]:.0f} m from the "
                       "line's geometry; fix its coordinates or the geometry")
                raise CoverageError(msg)
        else:
            legs = np.hypot(np.diff(x), np.diff(y))
            if pl["loop"]:
                legs = np.r_[legs, np.hypot(x[-1] - x[0], y[-1] - y[0])]
        a, b = pl["service"].split("-")
        t = parse_times(pd.Series([a.strip() + ":00", b.strip() + ":00"]), where=f"transit.yaml planned_lines.{lid}.service")
        out.append(LineSpec(line_id=lid, name=pl["title"] or lid, stop_ids=ids, stop_names=names, lon=lon_a, lat=lat_a,
                            leg_m=legs, headway_min=pl["headway_min"], speed_kmh=pl["speed_kmh"], loop=pl["loop"],
                            start_s=int(t[0]), end_s=int(t[1]), planned=True))
    return out


def feed_networks(*, walk: RoadGraph, settings: dict[str, Any], profile: Profile, gtfs: tuple[str, ...] | None,
                  data_dir: str | None,
                  date: str | None, depart: str | None, without: tuple[str, ...] | None, walk_kmh: float | None,
                  crs: Any, speeds: dict[str, Any], metro: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame] | None,
                  ) -> tuple[dict[str, FeedNetwork], dict[str, Any], list[str]]:
    """The full network and its counterfactual for one run (see the module docstring).

    Returns ``({"full": net, "without X": net}, params, warnings)``.

    Raises
    ------
    CoverageError
        No feed, a feed that cannot be read, no date, an unknown ``--without-line`` id.
    """
    warnings: list[str] = []
    feeds: list[Feed] = []
    paths = list(gtfs) if gtfs else [str(p) for p in settings.get("feeds", [])]
    for p in paths:
        path = Path(p)
        if not path.is_absolute() and not gtfs:  # relative to the map's data folder (city new), else the profile's
            bases = [Path(b) for b in (data_dir, profile.folder) if b]
            found = [b / path for b in bases if (b / path).exists()]
            if not found:
                msg = (f"transit.yaml feeds: {p!r} is not in the map's data folder or the profile folder "
                       f"({', '.join(str(b) for b in bases) or 'none known'}); put it there or pass --gtfs FEED.zip")
                raise CoverageError(msg)
            path = found[0]
        feeds.append(read_feed(path))
    sections: dict[str, list[str]] = {k: list(v["stops"]) for k, v in settings.get("sections", {}).items()}
    planned_sections = [k for k, v in settings.get("sections", {}).items() if v.get("planned")]
    acc_parts: list[tuple[str, float, float]] = []
    if settings.get("metro_from_speeds") and not gtfs:
        cfg = speeds.get("transit")
        if not cfg or metro is None:
            msg = ("transit.yaml metro_from_speeds: true needs a 'transit:' section in speeds.yaml and the map's "
                   "metro_lines and metro_stations layers")
            raise CoverageError(msg)
        specs, secs, acc, egr = _metro_lines(cfg, metro[0], metro[1], crs)
        feeds.append(generate_feed(specs, name="metro"))
        sections.update(secs)
        planned_sections += [k for k, v in (cfg.get("sections") or {}).items() if v.get("planned")]
        acc_parts.append(("station:", float(acc[0]) if len(acc) else 0.0, float(egr[0]) if len(egr) else 0.0))
    if not feeds and not settings.get("planned_lines"):
        msg = "--mode transit with a timetable needs a feed: --gtfs FEED.zip, or feeds / metro_from_speeds in transit.yaml"
        raise CoverageError(msg)
    base = concat_feeds(feeds, name="+".join(f.name for f in feeds)) if feeds else None
    planned = _planned(settings, base)
    full = concat_feeds([base, generate_feed(planned, name="planned")]) if planned and base is not None else \
        (generate_feed(planned, name="planned") if planned else base)
    assert full is not None
    planned_ids = [r for r in full.route_id.tolist() if r.startswith("planned:")] if base is not None and planned \
        else [ln.line_id for ln in planned]
    # the analysis date: given, else the profile's, else the first weekday the feed runs
    day = parse_date(date) if date else parse_date(settings["date"]) if settings.get("date") else None
    if day is None:
        a, b = full.coverage_dates()
        if a is None:
            msg = "the feed's calendar has no date; give --date YYYY-MM-DD"
            raise CoverageError(msg)
        day = max(a, min(b, dt.date.today())) if b else a
        while day.weekday() > 4 and b and day < b:
            day += dt.timedelta(days=1)
        warnings.append(f"analysis date assumed: {day.isoformat()} (a weekday the feed covers; give --date to choose)")
    window = parse_window(depart or settings["depart"])
    sx, sy = Transformer.from_crs(4326, crs, always_xy=True).transform(full.stop_lon, full.stop_lat)
    stop_xy = np.column_stack([sx, sy])  # NaN where stops.txt gives no position
    acc = np.zeros(full.n_stops)
    egr = np.zeros(full.n_stops)
    for prefix, a, e in acc_parts:
        hit = np.char.startswith(full.stop_id.astype(str), prefix)
        acc[hit], egr[hit] = a, e
    shared: dict[str, Any] = {}

    def net(feed: Feed, removed: tuple[str, ...]) -> FeedNetwork:
        return FeedNetwork(walk=walk, feed=feed, settings=settings, date=day, window=window, walk_kmh=walk_kmh,
                           stop_xy=stop_xy, stop_access_s=acc, stop_egress_s=egr, removed=removed, shared=shared)

    out = {"full": net(full, ())}
    default = tuple(planned_ids) + tuple(planned_sections)
    ids = tuple(without) if without is not None else default
    if ids:
        cut = full
        plan_ids = [i for i in ids if i in planned_ids or f"planned:{i}" in planned_ids]
        rest = tuple(i for i in ids if i not in plan_ids)
        if plan_ids:
            cut = drop_routes(cut, [i if i in planned_ids else f"planned:{i}" for i in plan_ids])
        cut = apply_without(cut, rest, sections)
        # the counterfactual keeps the full feed's stop list, so the walks are computed once
        out["without " + "+".join(ids)] = net(cut, ids)
    s, e = window
    params = {
        "engine": "timetable (time-expanded search over every departure minute)",
        "feeds": [f.name for f in feeds] + (["planned lines: " + ", ".join(ln.line_id for ln in planned)] if planned else []),
        "date": day.isoformat(), "depart": f"{s // 3600:02d}:{s // 60 % 60:02d}-{e // 3600:02d}:{e // 60 % 60:02d}",
        "percentile": settings["percentile"], "decide_by": settings["decide_by"],
        "max_transfers": settings["max_transfers"], "transfer_penalty_min": settings["transfer_penalty_min"],
        "min_change_min": settings["min_change_min"], "max_walk_m": settings["max_walk_m"],
        "max_transfer_walk_m": settings["max_transfer_walk_m"], "transit_source": settings["source"],
        "without_lines": list(ids), "planned_lines": {ln.line_id: ln.name for ln in planned},
        "sections": {k: v.get("title", "") for k, v in settings.get("sections", {}).items()}
        | {k: v.get("title", "") for k, v in ((speeds.get("transit") or {}).get("sections") or {}).items()
           if settings.get("metro_from_speeds")},
    }
    return out, params, warnings
