"""A strict GTFS reader: a feed (zip or folder) -> numpy arrays, validated with one-line errors.

Read: ``stops.txt`` (ids, coordinates, ``parent_station``), ``routes.txt``, ``trips.txt``,
``stop_times.txt`` (arrival/departure times, past 24:00 allowed; empty times of non-timepoint
stops interpolated by stop order; ``pickup_type`` / ``drop_off_type`` 1 = not allowed),
``calendar.txt`` and ``calendar_dates.txt`` (at least one of them), ``frequencies.txt``
(frequency-based trips: the template trip's times repeated every ``headway_secs`` from
``start_time`` to before ``end_time``; ``exact_times`` 0 and 1 alike - see docs/transit.md) and
``transfers.txt`` (types 0-3). Everything else (shapes, fares, agency) is not read.

Columns are read as text with pandas (pyarrow engine) and turned into arrays at once: the
:class:`Feed` holds raw arrays below the DataFrames (times in integer seconds after midnight of
the service day). :meth:`Feed.day` picks the trips running on a date (a trip of the day before
running past midnight is counted at its time minus 24 h) and expands frequencies into a
:class:`Timetable` for a time window.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from cityplan._errors import CoverageError

logger = logging.getLogger(__name__)

REQUIRED = ("stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
#: a feed larger than this (uncompressed, per file) is refused: bounded memory
MAX_FILE_BYTES = 4 * 1024**3
DAY = 86400


class FeedError(CoverageError):
    """A GTFS feed cannot be used (one line: file, row, value, fix)."""


@dataclass
class Feed:
    """A GTFS feed as arrays (see the module docstring).

    ``st_*`` arrays are the stop_times rows sorted by trip then ``stop_sequence``; ``trip_first``
    (length trips + 1) gives each trip's rows as ``st_*[trip_first[t]:trip_first[t+1]]``.
    """

    name: str
    stop_id: np.ndarray
    stop_name: np.ndarray
    stop_lon: np.ndarray
    stop_lat: np.ndarray
    stop_parent: np.ndarray          # index of the parent station, -1 none
    route_id: np.ndarray
    route_name: np.ndarray           # short name, else long name
    trip_id: np.ndarray
    trip_route: np.ndarray           # route index per trip
    trip_service: np.ndarray         # service index per trip
    trip_first: np.ndarray
    st_stop: np.ndarray
    st_arr: np.ndarray               # seconds after the service day's midnight (int64)
    st_dep: np.ndarray
    st_pickup: np.ndarray            # bool: boarding allowed
    st_dropoff: np.ndarray           # bool: alighting allowed
    service_id: np.ndarray
    cal_days: np.ndarray             # (services, 7) bool, Monday first
    cal_start: np.ndarray            # datetime64[D], NaT without calendar.txt row
    cal_end: np.ndarray
    exc_service: np.ndarray          # calendar_dates rows
    exc_date: np.ndarray
    exc_type: np.ndarray             # 1 added, 2 removed
    freq_trip: np.ndarray
    freq_start: np.ndarray
    freq_end: np.ndarray
    freq_headway: np.ndarray
    tr_from: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    tr_to: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    tr_type: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    tr_min_s: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_stops(self) -> int:
        """Number of stops (platforms, stations and entrances alike)."""
        return len(self.stop_id)

    def coverage_dates(self) -> tuple[dt.date | None, dt.date | None]:
        """First and last date on which any service runs (calendar ranges and added dates)."""
        ds = [d for d in (self.cal_start.min() if len(self.cal_start) else None,
                          self.exc_date[self.exc_type == 1].min() if (self.exc_type == 1).any() else None)
              if d is not None and not np.isnat(d)]
        de = [d for d in (self.cal_end.max() if len(self.cal_end) else None,
                          self.exc_date[self.exc_type == 1].max() if (self.exc_type == 1).any() else None)
              if d is not None and not np.isnat(d)]
        return (min(ds).astype(dt.date) if ds else None, max(de).astype(dt.date) if de else None)

    def services_on(self, date: dt.date) -> np.ndarray:
        """Bool per service: running on ``date`` (calendar weekday in range, then exceptions)."""
        d = np.datetime64(date, "D")
        run = (self.cal_start <= d) & (self.cal_end >= d) & self.cal_days[:, date.weekday()]
        on = self.exc_date == d
        run[self.exc_service[on & (self.exc_type == 1)]] = True
        run[self.exc_service[on & (self.exc_type == 2)]] = False
        return run

    def day(self, date: dt.date, start_s: int, end_s: int) -> Timetable:
        """The trips running on ``date`` with any event in ``[start_s, end_s]``, frequencies expanded.

        Raises
        ------
        FeedError
            No service on the date (naming the dates the feed covers).
        """
        today = self.services_on(date)
        yday = self.services_on(date - dt.timedelta(days=1))
        if not today.any():
            a, b = self.coverage_dates()
            msg = (f"GTFS feed {self.name}: no service runs on {date.isoformat()} (calendar.txt / "
                   f"calendar_dates.txt); the feed covers {a} to {b}: give --date within it")
            raise FeedError(msg)
        parts = [self._expanded(today, 0, start_s, end_s), self._expanded(yday, DAY, start_s, end_s)]
        offset = int(parts[0][6].max()) + 1 if len(parts[0][6]) else 0
        parts[1] = (*parts[1][:6], parts[1][6] + offset)
        trip = np.concatenate([p[0] for p in parts])
        rows = [np.concatenate([p[i] for p in parts]) for i in range(1, 7)]
        tt = Timetable.from_rows(trip, *rows, route=self.trip_route, n_stops=self.n_stops)
        logger.info("GTFS %s on %s: %d trips, %d stop events in the window", self.name, date, tt.n_trips, tt.n_events)
        return tt

    def _expanded(self, services: np.ndarray, shift: int, start_s: int, end_s: int) -> tuple[np.ndarray, ...]:
        """Rows (source trip, stop, arr, dep, pickup, dropoff, run id) of running trips, times minus ``shift``."""
        counts = np.diff(self.trip_first)
        trips = np.flatnonzero(services[self.trip_service] & (counts > 0))  # a trip without stop_times never runs
        has_freq = np.zeros(len(self.trip_id), bool)
        has_freq[self.freq_trip] = True
        plain = trips[~has_freq[trips]]
        # frequency trips: one run per headway; offsets from the template's first departure
        f = np.flatnonzero(np.isin(self.freq_trip, trips))
        n_runs = np.maximum(0, -(-(self.freq_end[f] - self.freq_start[f]) // self.freq_headway[f]))
        run_trip = np.concatenate([plain, np.repeat(self.freq_trip[f], n_runs)])
        base = self.st_dep[np.minimum(self.trip_first[:-1], max(len(self.st_dep) - 1, 0))]
        k = np.arange(int(n_runs.sum())) - np.repeat(np.cumsum(n_runs) - n_runs, n_runs)
        run_start = np.concatenate([base[plain], np.repeat(self.freq_start[f], n_runs)
                                    + k * np.repeat(self.freq_headway[f], n_runs)])
        delta = run_start - base[run_trip] - shift
        # keep runs with any event in the window
        first, last = self.trip_first[run_trip], self.trip_first[run_trip + 1] - 1
        keep = (self.st_dep[first] + delta <= end_s) & (self.st_arr[last] + delta >= start_s)
        run_trip, delta = run_trip[keep], delta[keep]
        cnt = counts[run_trip]
        idx = np.repeat(self.trip_first[run_trip], cnt) + (np.arange(int(cnt.sum()))
                                                           - np.repeat(np.cumsum(cnt) - cnt, cnt))
        d = np.repeat(delta, cnt)
        run_id = np.repeat(np.arange(len(run_trip)), cnt)
        return (np.repeat(run_trip, cnt), self.st_stop[idx], self.st_arr[idx] + d, self.st_dep[idx] + d,
                self.st_pickup[idx], self.st_dropoff[idx], run_id)


@dataclass
class Timetable:
    """The runs of one day in a window: events sorted by run then stop order.

    ``run_first`` (runs + 1) indexes each run's events; ``run_trip`` is the feed's trip of each
    run (a frequency-based trip has several runs).
    """

    run_trip: np.ndarray
    run_route: np.ndarray
    run_first: np.ndarray
    stop: np.ndarray
    arr: np.ndarray
    dep: np.ndarray
    pickup: np.ndarray
    dropoff: np.ndarray
    n_stops: int

    @property
    def n_trips(self) -> int:
        """Runs (vehicle journeys) in the window."""
        return len(self.run_trip)

    @property
    def n_events(self) -> int:
        """Stop events (arrivals/departures) in the window."""
        return len(self.stop)

    @classmethod
    def from_rows(cls, trip: np.ndarray, stop: np.ndarray, arr: np.ndarray, dep: np.ndarray, pickup: np.ndarray,
                  dropoff: np.ndarray, run_id: np.ndarray, *, route: np.ndarray, n_stops: int) -> Timetable:
        """Group rows (already in stop order within a run) by run id."""
        if len(run_id) == 0:
            z = np.zeros(0, np.int64)
            return cls(z, z, np.zeros(1, np.int64), z, z, z, np.zeros(0, bool), np.zeros(0, bool), n_stops)
        change = np.r_[True, run_id[1:] != run_id[:-1]]
        first = np.flatnonzero(change)
        return cls(run_trip=trip[first], run_route=route[trip[first]], run_first=np.r_[first, len(run_id)],
                   stop=stop.astype(np.int64), arr=arr.astype(np.int64), dep=dep.astype(np.int64),
                   pickup=pickup.astype(bool), dropoff=dropoff.astype(bool), n_stops=n_stops)


# -- reading ------------------------------------------------------------------------------------

class _Source:
    """The files of a feed: a zip (members at its root or in one folder) or a folder."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            msg = f"GTFS feed {self.path}: no such file or folder; give a GTFS .zip or a folder of .txt files"
            raise FeedError(msg)
        self.zip: zipfile.ZipFile | None = None
        self.names: dict[str, str] = {}
        if self.path.is_dir():
            self.names = {p.name: str(p) for p in self.path.iterdir() if p.suffix == ".txt"}
        else:
            try:
                self.zip = zipfile.ZipFile(self.path)
            except zipfile.BadZipFile:
                msg = f"GTFS feed {self.path}: not a zip file; give a GTFS .zip or a folder of .txt files"
                raise FeedError(msg) from None
            for info in self.zip.infolist():
                base = info.filename.rsplit("/", 1)[-1]
                if base.endswith(".txt") and not info.is_dir():
                    if info.file_size > MAX_FILE_BYTES:
                        msg = f"GTFS feed {self.path}: {base} is {info.file_size / 1e9:.1f} GB uncompressed; over the 4 GB limit"
                        raise FeedError(msg)
                    self.names.setdefault(base, info.filename)

    def has(self, name: str) -> bool:
        return name in self.names

    def read(self, name: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> pd.DataFrame:
        """One file as text columns; the ``required`` columns must be there."""
        raw = self.zip.read(self.names[name]) if self.zip else Path(self.names[name]).read_bytes()
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:  # every column as text, kept in Arrow (string operations run in Arrow's compute kernels)
            head = next(csv.reader([raw.split(b"\n", 1)[0].decode("utf-8").strip()]), [])
            table = pacsv.read_csv(io.BytesIO(raw), convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(head, pa.string()), strings_can_be_null=False))
            df = table.to_pandas(types_mapper=pd.ArrowDtype)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            msg = f"GTFS feed {self.path}: {name} is not a readable UTF-8 CSV file ({str(exc).splitlines()[0]})"
            raise FeedError(msg) from None
        df.columns = [c.strip() for c in df.columns]
        missing = [c for c in required if c not in df.columns]
        if missing:
            msg = f"GTFS feed {self.path}: {name} has no column {missing[0]!r}; columns: {list(df.columns)}"
            raise FeedError(msg)
        for c in optional:
            if c not in df.columns:
                df[c] = ""
        return df


def _arrow(values: pd.Series) -> pa.ChunkedArray:
    """The text of a column as an Arrow string array (stripped)."""
    arr = values.array
    data = arr._pa_array if hasattr(arr, "_pa_array") else pa.chunked_array([pa.array(values.astype(str).to_numpy())])
    return pc.utf8_trim_whitespace(data.cast(pa.string()))


def parse_times(values: pd.Series, *, where: str) -> np.ndarray:
    """``H:MM:SS`` texts (hours may pass 24) -> seconds; empty -> -1.

    Raises
    ------
    FeedError
        A malformed time, naming the file row and value.
    """
    s = _arrow(values)
    empty = pc.equal(pc.utf8_length(s), 0).to_numpy(zero_copy_only=False)
    parts = pc.split_pattern(pc.if_else(pc.equal(pc.utf8_length(s), 0), "0:00:00", s), ":")
    out = np.full(len(s), -1, np.int64)
    try:
        if len(s) and not pc.all(pc.equal(pc.list_value_length(parts), 3)).as_py():
            raise pa.ArrowInvalid("not three parts")
        h, m, sec = (pc.cast(pc.list_element(parts, k), pa.int64()).to_numpy() for k in range(3))
        bad = (m >= 60) | (sec >= 60) | (h < 0) | (h > 240) | (m < 0) | (sec < 0)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pd.Series(s.to_pylist())
        p = text.str.split(":", n=2, expand=True).reindex(columns=range(3))
        h, m, sec = (pd.to_numeric(p[k], errors="coerce").to_numpy() for k in range(3))
        bad = ~(np.isfinite(h) & np.isfinite(m) & np.isfinite(sec))
        bad |= (np.nan_to_num(m) >= 60) | (np.nan_to_num(sec) >= 60) | (np.nan_to_num(h) > 240)
    bad &= ~empty
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = (f"{where}, row {i + 2}: time {s[i].as_py()!r} is not H:MM:SS (hours may pass 24, e.g. 25:10:00); "
               "fix the row")
        raise FeedError(msg)
    ok = ~empty
    out[ok] = (np.asarray(h)[ok] * 3600 + np.asarray(m)[ok] * 60 + np.asarray(sec)[ok]).astype(np.int64)
    return out


def _codes(ids: pd.Series, known: np.ndarray, *, where: str, what: str) -> np.ndarray:
    """Index of each id in ``known`` (unique ids); an unknown id is an error."""
    pos = pd.Index(known).get_indexer(pd.Index(_arrow(ids).to_numpy(zero_copy_only=False)))
    bad = pos < 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = f"{where}, row {i + 2}: {what} {str(ids.iloc[i]).strip()!r} is not defined; fix the reference or add it"
        raise FeedError(msg)
    return pos.astype(np.int64)


def _dates(values: pd.Series, *, where: str) -> np.ndarray:
    s = values.astype(str).str.strip()
    d = pd.to_datetime(s, format="%Y%m%d", errors="coerce")
    if d.isna().any():
        i = int(np.flatnonzero(d.isna().to_numpy())[0])
        msg = f"{where}, row {i + 2}: date {s.iloc[i]!r} is not YYYYMMDD; fix the row"
        raise FeedError(msg)
    return d.to_numpy().astype("datetime64[D]")


def _flag(values: pd.Series, *, where: str, allowed: tuple[str, ...]) -> np.ndarray:
    s = values.astype(str).str.strip()
    bad = ~s.isin(allowed)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        msg = f"{where}, row {i + 2}: value {s.iloc[i]!r} is not one of {list(allowed)}; fix the row"
        raise FeedError(msg)
    return s.to_numpy()


def read_feed(path: str | os.PathLike[str]) -> Feed:
    """Read and validate a GTFS feed (zip or folder).

    Raises
    ------
    FeedError
        A missing file or column, an undefined id, a malformed time or date, times running
        backwards within a trip, a trip with fewer than two stops; one line each.
    """
    src = _Source(path)
    name = src.path.name
    miss = [f for f in REQUIRED if not src.has(f)]
    if miss:
        msg = (f"GTFS feed {src.path}: no {miss[0]} (a feed needs {', '.join(REQUIRED)} and calendar.txt or "
               "calendar_dates.txt)")
        raise FeedError(msg)
    if not (src.has("calendar.txt") or src.has("calendar_dates.txt")):
        msg = f"GTFS feed {src.path}: neither calendar.txt nor calendar_dates.txt; a feed needs one to say when trips run"
        raise FeedError(msg)
    stops = src.read("stops.txt", ("stop_id", "stop_lat", "stop_lon"), ("stop_name", "parent_station", "location_type"))
    stop_id = stops["stop_id"].str.strip().to_numpy().astype(str)
    if len(set(stop_id)) != len(stop_id):
        dup = pd.Series(stop_id)[pd.Series(stop_id).duplicated()].iloc[0]
        msg = f"GTFS feed {src.path}: stops.txt: stop_id {dup!r} appears twice; stop ids must be unique"
        raise FeedError(msg)
    lon = pd.to_numeric(stops["stop_lon"], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(stops["stop_lat"], errors="coerce").to_numpy(float)
    loc_type = stops["location_type"].str.strip().replace("", "0").to_numpy()
    need_xy = np.isin(loc_type, ["0", "1", "2"])
    bad = need_xy & ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = (f"GTFS feed {src.path}: stops.txt, row {i + 2}: stop {stop_id[i]!r} has no valid stop_lon/stop_lat "
               f"({stops['stop_lon'].iloc[i]!r}, {stops['stop_lat'].iloc[i]!r}); give WGS84 degrees")
        raise FeedError(msg)
    parent = np.full(len(stop_id), -1, np.int64)
    has_p = (stops["parent_station"].str.strip() != "").to_numpy()
    if has_p.any():
        parent[has_p] = _codes(stops["parent_station"].str.strip()[has_p], stop_id,
                               where=f"GTFS feed {src.path}: stops.txt", what="parent_station")
    routes = src.read("routes.txt", ("route_id",), ("route_short_name", "route_long_name"))
    route_id = routes["route_id"].str.strip().to_numpy().astype(str)
    rname = np.where(routes["route_short_name"].str.strip() != "", routes["route_short_name"].str.strip(),
                     routes["route_long_name"].str.strip()).astype(str)
    services: list[str] = []
    cal = src.read("calendar.txt", ("service_id", "monday", "tuesday", "wednesday", "thursday", "friday",
                                    "saturday", "sunday", "start_date", "end_date")) if src.has("calendar.txt") else None
    cd = src.read("calendar_dates.txt", ("service_id", "date", "exception_type")) if src.has("calendar_dates.txt") else None
    if cal is not None:
        services += cal["service_id"].str.strip().tolist()
    if cd is not None:
        services += cd["service_id"].str.strip().tolist()
    trips = src.read("trips.txt", ("route_id", "service_id", "trip_id"))
    service_id = np.array(sorted(set(services)), dtype=str)
    trip_id = trips["trip_id"].str.strip().to_numpy().astype(str)
    if len(set(trip_id)) != len(trip_id):
        dup = pd.Series(trip_id)[pd.Series(trip_id).duplicated()].iloc[0]
        msg = f"GTFS feed {src.path}: trips.txt: trip_id {dup!r} appears twice; trip ids must be unique"
        raise FeedError(msg)
    trip_route = _codes(trips["route_id"].str.strip(), route_id, where=f"GTFS feed {src.path}: trips.txt",
                        what="route_id")
    trip_service = _codes(trips["service_id"].str.strip(), service_id, where=f"GTFS feed {src.path}: trips.txt",
                          what="service_id (in calendar.txt or calendar_dates.txt)")
    days = np.zeros((len(service_id), 7), bool)
    start = np.full(len(service_id), np.datetime64("NaT"), "datetime64[D]")
    end = start.copy()
    if cal is not None:
        where = f"GTFS feed {src.path}: calendar.txt"
        ci = _codes(cal["service_id"].str.strip(), service_id, where=where, what="service_id")
        for k, day in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")):
            days[ci, k] = _flag(cal[day], where=where, allowed=("0", "1")) == "1"
        start[ci] = _dates(cal["start_date"], where=where)
        end[ci] = _dates(cal["end_date"], where=where)
    if cd is not None:
        where = f"GTFS feed {src.path}: calendar_dates.txt"
        exc_service = _codes(cd["service_id"].str.strip(), service_id, where=where, what="service_id")
        exc_date = _dates(cd["date"], where=where)
        exc_type = _flag(cd["exception_type"], where=where, allowed=("1", "2")).astype(np.int64)
    else:
        exc_service, exc_date, exc_type = np.zeros(0, np.int64), np.zeros(0, "datetime64[D]"), np.zeros(0, np.int64)
    st = src.read("stop_times.txt", ("trip_id", "stop_id", "stop_sequence", "arrival_time", "departure_time"),
                  ("pickup_type", "drop_off_type"))
    where = f"GTFS feed {src.path}: stop_times.txt"
    st_trip = _codes(st["trip_id"].str.strip(), trip_id, where=where, what="trip_id")
    st_stop = _codes(st["stop_id"].str.strip(), stop_id, where=where, what="stop_id")
    try:
        seq = pc.cast(_arrow(st["stop_sequence"]), pa.float64()).to_numpy()
    except pa.ArrowInvalid:
        seq = pd.to_numeric(st["stop_sequence"].astype(str), errors="coerce").to_numpy(float)
    if np.isnan(seq).any():
        i = int(np.flatnonzero(np.isnan(seq))[0])
        msg = f"{where}, row {i + 2}: stop_sequence {st['stop_sequence'].iloc[i]!r} is not a number; fix the row"
        raise FeedError(msg)
    arr = parse_times(st["arrival_time"], where=where)
    dep = parse_times(st["departure_time"], where=where)
    arr = np.where(arr < 0, dep, arr)
    dep = np.where(dep < 0, arr, dep)
    order = np.lexsort((seq, st_trip))
    row = order  # original rows, for messages
    st_trip, st_stop, arr, dep = st_trip[order], st_stop[order], arr[order], dep[order]
    pickup = (st["pickup_type"].str.strip().to_numpy()[order] != "1")
    dropoff = (st["drop_off_type"].str.strip().to_numpy()[order] != "1")
    counts = np.bincount(st_trip, minlength=len(trip_id))
    first = np.r_[0, np.cumsum(counts)]
    short = np.flatnonzero(counts == 1)
    if len(short):
        msg = f"{where}: trip {trip_id[short[0]]!r} has one stop; a trip needs two or more (remove it or add stops)"
        raise FeedError(msg)
    unused = np.flatnonzero(counts == 0)
    ends = np.r_[first[:-1][counts > 0], first[1:][counts > 0] - 1]
    if ((arr[ends] < 0) | (dep[ends] < 0)).any():
        i = ends[np.flatnonzero((arr[ends] < 0) | (dep[ends] < 0))[0]]
        msg = (f"{where}, row {int(row[i]) + 2}: trip {trip_id[st_trip[i]]!r} has no time at its first or last stop; "
               "the first and last stop of a trip need times")
        raise FeedError(msg)
    known = arr >= 0
    if not known.all():  # interpolate non-timepoints by stop order (trip ends are known)
        pos = np.arange(len(arr))
        arr = np.round(np.interp(pos, pos[known], arr[known])).astype(np.int64)
        dep = np.where(known, dep, arr)
    same = st_trip[1:] == st_trip[:-1]
    back = np.r_[False, same & (arr[1:] < dep[:-1])] | (dep < arr)
    if back.any():
        i = int(np.flatnonzero(back)[0])
        msg = (f"{where}, row {int(row[i]) + 2}: trip {trip_id[st_trip[i]]!r} goes back in time at stop "
               f"{stop_id[st_stop[i]]!r} ({arr[i]} s after {dep[i - 1]} s); times within a trip must not decrease")
        raise FeedError(msg)
    if len(unused):
        logger.info("GTFS %s: %d trip(s) without stop_times ignored", name, len(unused))
    freq = dict.fromkeys(("trip", "start", "end", "headway"), np.zeros(0, np.int64))
    if src.has("frequencies.txt"):
        fr = src.read("frequencies.txt", ("trip_id", "start_time", "end_time", "headway_secs"))
        fw = f"GTFS feed {src.path}: frequencies.txt"
        freq["trip"] = _codes(fr["trip_id"].str.strip(), trip_id, where=fw, what="trip_id")
        freq["start"] = parse_times(fr["start_time"], where=fw)
        freq["end"] = parse_times(fr["end_time"], where=fw)
        hw = pd.to_numeric(fr["headway_secs"], errors="coerce").to_numpy(float)
        bad = ~(np.isfinite(hw) & (hw > 0)) | (freq["end"] < freq["start"])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            msg = (f"{fw}, row {i + 2}: headway_secs {fr['headway_secs'].iloc[i]!r} / window "
                   f"{fr['start_time'].iloc[i]}-{fr['end_time'].iloc[i]} is not a positive headway over a window; fix the row")
            raise FeedError(msg)
        freq["headway"] = hw.astype(np.int64)
        if (counts[freq["trip"]] == 0).any():
            i = int(np.flatnonzero(counts[freq["trip"]] == 0)[0])
            msg = f"{fw}, row {i + 2}: trip {trip_id[freq['trip'][i]]!r} has no stop_times to repeat; add them"
            raise FeedError(msg)
    feed = Feed(name=name, stop_id=stop_id, stop_name=stops["stop_name"].to_numpy().astype(str), stop_lon=lon,
                stop_lat=lat, stop_parent=parent, route_id=route_id, route_name=rname, trip_id=trip_id,
                trip_route=trip_route, trip_service=trip_service, trip_first=first, st_stop=st_stop, st_arr=arr,
                st_dep=dep, st_pickup=pickup, st_dropoff=dropoff, service_id=service_id, cal_days=days,
                cal_start=start, cal_end=end, exc_service=exc_service, exc_date=exc_date, exc_type=exc_type,
                freq_trip=freq["trip"], freq_start=freq["start"], freq_end=freq["end"], freq_headway=freq["headway"])
    if src.has("transfers.txt"):
        tr = src.read("transfers.txt", ("from_stop_id", "to_stop_id", "transfer_type"), ("min_transfer_time",))
        tw = f"GTFS feed {src.path}: transfers.txt"
        tr = tr[(tr["from_stop_id"].str.strip() != "") & (tr["to_stop_id"].str.strip() != "")]
        feed.tr_from = _codes(tr["from_stop_id"].str.strip(), stop_id, where=tw, what="from_stop_id")
        feed.tr_to = _codes(tr["to_stop_id"].str.strip(), stop_id, where=tw, what="to_stop_id")
        feed.tr_type = _flag(tr["transfer_type"].replace("", "0"), where=tw,
                             allowed=("0", "1", "2", "3", "4", "5")).astype(np.int64)
        feed.tr_min_s = pd.to_numeric(tr["min_transfer_time"], errors="coerce").fillna(0).to_numpy().astype(np.int64)
    logger.info("GTFS %s: %d stops, %d routes, %d trips, %d stop_times, %d frequency rows", name, len(stop_id),
                len(route_id), len(trip_id), len(arr), len(freq["trip"]))
    return feed


def parse_window(text: str) -> tuple[int, int]:
    """``07:00-09:00`` -> (25200, 32400) seconds; the end is exclusive (departure minutes 07:00 ... 08:59).

    Raises
    ------
    CoverageError
        Not ``HH:MM-HH:MM`` or an empty window.
    """
    try:
        a, b = text.split("-")
        ta = parse_times(pd.Series([a.strip() + ":00"]), where="--depart")[0]
        tb = parse_times(pd.Series([b.strip() + ":00"]), where="--depart")[0]
    except (ValueError, FeedError):
        msg = f"--depart {text!r}: give a departure window as HH:MM-HH:MM (e.g. 07:00-09:00)"
        raise CoverageError(msg) from None
    if not tb > ta:
        msg = f"--depart {text!r}: the window's end must be after its start (e.g. 07:00-09:00)"
        raise CoverageError(msg)
    return int(ta), int(tb)


def parse_date(text: str | dt.date) -> dt.date:
    """``2024-04-03`` or ``20240403`` -> a date."""
    if isinstance(text, dt.date):
        return text
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(str(text), fmt).date()  # noqa: DTZ007 - a calendar date
        except ValueError:
            continue
    msg = f"--date {text!r}: give the analysis date as YYYY-MM-DD (e.g. 2024-04-03)"
    raise CoverageError(msg)
