"""Feeds generated from line geometries: a line = stops in order + headway + speed.

Used for a city without a published feed for some line (Harbin's metro: the profile's
``transit:`` lines of ``speeds.yaml``) and for **planned lines** (a scenario): each line becomes
one route with two frequency-based trips (one per direction; a ``loop`` line runs its stops in
order and on round the ring: each run goes round twice, so no ride shorter than a round needs a
change), running every ``headway_min`` from ``start`` to ``end`` every day,
the in-vehicle time between two stops being their distance along the line geometry at
``speed_kmh`` (stops included, as the speed is an average). :func:`concat_feeds` joins a
generated feed to a published one; :func:`write_feed` writes any :class:`Feed` as a GTFS zip.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from cityplan.io.write import atomic_path
from cityplan.transit.gtfs import Feed


@dataclass
class LineSpec:
    """One generated line.

    Attributes
    ----------
    line_id : str
        Route id (also prefixes the stop and trip ids).
    stop_ids, stop_names : list of str
        The stops in order (a stop id shared by two lines is one stop: an interchange).
    lon, lat : arrays
        WGS84 stop coordinates.
    leg_m : array
        Distance along the line between consecutive stops (metres; a ``loop`` line has one more
        leg, from its last stop back to its first).
    headway_min, speed_kmh : float
    loop : bool
    start_s, end_s : int
        Service window (seconds after midnight).
    dwell_s : int
        Stop time at each stop (0: the speed already includes stops).
    """

    line_id: str
    stop_ids: list[str]
    lon: np.ndarray
    lat: np.ndarray
    leg_m: np.ndarray
    headway_min: float
    speed_kmh: float
    name: str = ""
    stop_names: list[str] = field(default_factory=list)
    loop: bool = False
    start_s: int = 5 * 3600
    end_s: int = 24 * 3600
    dwell_s: int = 0
    planned: bool = False


def generate_feed(lines: list[LineSpec], *, name: str = "generated") -> Feed:
    """A :class:`Feed` running ``lines`` every day (frequency-based trips, both directions)."""
    stop_ids: dict[str, int] = {}
    s_lon: list[float] = []
    s_lat: list[float] = []
    s_name: list[str] = []
    trip_ids: list[str] = []
    trip_route: list[int] = []
    first = [0]
    st_stop: list[np.ndarray] = []
    st_time: list[np.ndarray] = []
    freq = {"trip": [], "start": [], "end": [], "headway": []}
    for r, ln in enumerate(lines):
        idx = []
        for k, sid in enumerate(ln.stop_ids):
            if sid not in stop_ids:
                stop_ids[sid] = len(stop_ids)
                s_lon.append(float(ln.lon[k]))
                s_lat.append(float(ln.lat[k]))
                s_name.append(ln.stop_names[k] if ln.stop_names else sid)
            idx.append(stop_ids[sid])
        idx_a = np.asarray(idx, np.int64)
        v = ln.speed_kmh / 3.6
        leg = np.asarray(ln.leg_m, float)
        if len(leg) != len(idx_a) - 1 + int(ln.loop):
            msg = f"line {ln.line_id}: {len(idx_a)} stops need {len(idx_a) - 1 + int(ln.loop)} legs, got {len(leg)}"
            raise ValueError(msg)
        if ln.loop:
            # a ring: each run goes round twice, so any ride shorter than one round needs no change
            ring = np.r_[idx_a, idx_a, idx_a[0]]
            rev = np.r_[idx_a[0], idx_a[::-1], idx_a[::-1]]
            seqs = [(ring, np.r_[leg, leg]), (rev, np.r_[leg[::-1], leg[::-1]])]
        else:
            seqs = [(idx_a, leg), (idx_a[::-1], leg[::-1])]
        for d, (stops, legs) in enumerate(seqs):
            ride = np.round(legs / v).astype(np.int64) + ln.dwell_s
            t = np.r_[0, np.cumsum(ride)]
            trip_ids.append(f"{ln.line_id}:{d}")
            trip_route.append(r)
            st_stop.append(stops)
            st_time.append(t)
            first.append(first[-1] + len(stops))
            freq["trip"].append(len(trip_ids) - 1)
            freq["start"].append(int(ln.start_s))
            freq["end"].append(int(ln.end_s))
            freq["headway"].append(int(round(ln.headway_min * 60)))
    n_t = len(trip_ids)
    times = np.concatenate(st_time) if st_time else np.zeros(0, np.int64)
    n_st = len(times)
    z = np.zeros(0, np.int64)
    return Feed(
        name=name, stop_id=np.array(list(stop_ids), dtype=str), stop_name=np.array(s_name, dtype=str),
        stop_lon=np.array(s_lon), stop_lat=np.array(s_lat), stop_parent=np.full(len(stop_ids), -1, np.int64),
        route_id=np.array([ln.line_id for ln in lines], dtype=str),
        route_name=np.array([ln.name or ln.line_id for ln in lines], dtype=str),
        trip_id=np.array(trip_ids, dtype=str), trip_route=np.array(trip_route, np.int64),
        trip_service=np.zeros(n_t, np.int64), trip_first=np.array(first, np.int64),
        st_stop=np.concatenate(st_stop) if st_stop else z, st_arr=times, st_dep=times.copy(),
        st_pickup=np.ones(n_st, bool), st_dropoff=np.ones(n_st, bool), service_id=np.array(["daily"]),
        cal_days=np.ones((1, 7), bool), cal_start=np.array(["2000-01-01"], "datetime64[D]"),
        cal_end=np.array(["2099-12-31"], "datetime64[D]"), exc_service=z, exc_date=np.zeros(0, "datetime64[D]"),
        exc_type=z, freq_trip=np.array(freq["trip"], np.int64), freq_start=np.array(freq["start"], np.int64),
        freq_end=np.array(freq["end"], np.int64), freq_headway=np.array(freq["headway"], np.int64))


def concat_feeds(feeds: list[Feed], *, name: str | None = None) -> Feed:
    """One feed from several: ids kept (a stop id in two feeds is one stop), indices offset.

    Route, trip and service ids are prefixed with ``NAME:`` from the second feed on, so two
    feeds may reuse them.
    """
    if len(feeds) == 1:
        return feeds[0]
    stop_ids: dict[str, int] = {}
    maps = []
    lon: list[float] = []
    lat: list[float] = []
    sname: list[str] = []
    parent_src: list[tuple[int, int]] = []
    for f in feeds:
        m = np.empty(f.n_stops, np.int64)
        for i, sid in enumerate(f.stop_id.tolist()):
            if sid not in stop_ids:
                stop_ids[sid] = len(stop_ids)
                lon.append(float(f.stop_lon[i]))
                lat.append(float(f.stop_lat[i]))
                sname.append(str(f.stop_name[i]))
                parent_src.append((len(maps), i))
            m[i] = stop_ids[sid]
        maps.append(m)
    parent = np.array([maps[k][feeds[k].stop_parent[i]] if feeds[k].stop_parent[i] >= 0 else -1
                       for k, i in parent_src], np.int64)

    def pre(k: int, a: np.ndarray) -> np.ndarray:
        return a if k == 0 else np.char.add(f"{feeds[k].name}:", a.astype(str))

    r_off = np.cumsum([0] + [len(f.route_id) for f in feeds])
    t_off = np.cumsum([0] + [len(f.trip_id) for f in feeds])
    s_off = np.cumsum([0] + [len(f.service_id) for f in feeds])
    st_off = np.cumsum([0] + [len(f.st_stop) for f in feeds])
    cat = np.concatenate
    return Feed(
        name=name or "+".join(f.name for f in feeds), stop_id=np.array(list(stop_ids), dtype=str),
        stop_name=np.array(sname, dtype=str), stop_lon=np.array(lon), stop_lat=np.array(lat), stop_parent=parent,
        route_id=cat([pre(k, f.route_id) for k, f in enumerate(feeds)]),
        route_name=cat([f.route_name for f in feeds]),
        trip_id=cat([pre(k, f.trip_id) for k, f in enumerate(feeds)]),
        trip_route=cat([f.trip_route + r_off[k] for k, f in enumerate(feeds)]),
        trip_service=cat([f.trip_service + s_off[k] for k, f in enumerate(feeds)]),
        trip_first=cat([[0]] + [f.trip_first[1:] + st_off[k] for k, f in enumerate(feeds)]).astype(np.int64),
        st_stop=cat([maps[k][f.st_stop] for k, f in enumerate(feeds)]),
        st_arr=cat([f.st_arr for f in feeds]), st_dep=cat([f.st_dep for f in feeds]),
        st_pickup=cat([f.st_pickup for f in feeds]), st_dropoff=cat([f.st_dropoff for f in feeds]),
        service_id=cat([pre(k, f.service_id) for k, f in enumerate(feeds)]),
        cal_days=np.vstack([f.cal_days for f in feeds]), cal_start=cat([f.cal_start for f in feeds]),
        cal_end=cat([f.cal_end for f in feeds]),
        exc_service=cat([f.exc_service + s_off[k] for k, f in enumerate(feeds)]),
        exc_date=cat([f.exc_date for f in feeds]), exc_type=cat([f.exc_type for f in feeds]),
        freq_trip=cat([f.freq_trip + t_off[k] for k, f in enumerate(feeds)]),
        freq_start=cat([f.freq_start for f in feeds]), freq_end=cat([f.freq_end for f in feeds]),
        freq_headway=cat([f.freq_headway for f in feeds]),
        tr_from=cat([maps[k][f.tr_from] for k, f in enumerate(feeds)]),
        tr_to=cat([maps[k][f.tr_to] for k, f in enumerate(feeds)]),
        tr_type=cat([f.tr_type for f in feeds]), tr_min_s=cat([f.tr_min_s for f in feeds]))


def _hms(s: np.ndarray) -> list[str]:
    s = np.asarray(s, np.int64)
    return [f"{h:02d}:{m:02d}:{x:02d}" for h, m, x in zip(s // 3600, s // 60 % 60, s % 60, strict=True)]


def write_feed(feed: Feed, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Write ``feed`` as a GTFS zip (atomically)."""

    def table(header: list[str], cols: list) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(zip(*cols, strict=True))
        return buf.getvalue().encode()

    f = feed
    parent = np.where(f.stop_parent >= 0, f.stop_id[np.maximum(f.stop_parent, 0)], "")
    trip_of = np.repeat(np.arange(len(f.trip_id)), np.diff(f.trip_first))
    seq = np.arange(len(f.st_stop)) - f.trip_first[trip_of]
    files = {
        "agency.txt": table(["agency_id", "agency_name", "agency_url", "agency_timezone"],
                            [["1"], [f.name], ["https://example.invalid"], ["Asia/Shanghai"]]),
        "stops.txt": table(["stop_id", "stop_name", "stop_lat", "stop_lon", "parent_station"],
                           [f.stop_id, f.stop_name, np.round(f.stop_lat, 7), np.round(f.stop_lon, 7), parent]),
        "routes.txt": table(["route_id", "agency_id", "route_short_name", "route_type"],
                            [f.route_id, ["1"] * len(f.route_id), f.route_name, ["1"] * len(f.route_id)]),
        "trips.txt": table(["route_id", "service_id", "trip_id"],
                           [f.route_id[f.trip_route], f.service_id[f.trip_service], f.trip_id]),
        "stop_times.txt": table(["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence",
                                 "pickup_type", "drop_off_type"],
                                [f.trip_id[trip_of], _hms(f.st_arr), _hms(f.st_dep), f.stop_id[f.st_stop], seq,
                                 np.where(f.st_pickup, 0, 1), np.where(f.st_dropoff, 0, 1)]),
        "calendar.txt": table(["service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                               "sunday", "start_date", "end_date"],
                              [f.service_id, *[f.cal_days[:, k].astype(int) for k in range(7)],
                               [str(d).replace("-", "") for d in f.cal_start],
                               [str(d).replace("-", "") for d in f.cal_end]]),
    }
    if len(f.exc_type):
        files["calendar_dates.txt"] = table(["service_id", "date", "exception_type"],
                                            [f.service_id[f.exc_service], [str(d).replace("-", "") for d in f.exc_date],
                                             f.exc_type])
    if len(f.freq_trip):
        files["frequencies.txt"] = table(["trip_id", "start_time", "end_time", "headway_secs"],
                                         [f.trip_id[f.freq_trip], _hms(f.freq_start), _hms(f.freq_end), f.freq_headway])
    if len(f.tr_from):
        files["transfers.txt"] = table(["from_stop_id", "to_stop_id", "transfer_type", "min_transfer_time"],
                                       [f.stop_id[f.tr_from], f.stop_id[f.tr_to], f.tr_type, f.tr_min_s])
    with atomic_path(path, overwrite=overwrite) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for k, v in files.items():
            z.writestr(k, v)
