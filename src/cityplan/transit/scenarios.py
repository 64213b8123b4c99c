"""Transit scenarios on a :class:`~cityplan.transit.gtfs.Feed`: drop a route, a section or a stop.

- :func:`drop_routes`: every trip of the routes goes;
- :func:`drop_stops`: vehicles pass the stops without stopping (a closed station);
- :func:`cut_section`: the track through the stops is gone - each trip is cut where it met
  them, its pieces running on as separate trips (frequencies copied to each piece);
- adding a planned line: :func:`cityplan.transit.feedgen.generate_feed` +
  :func:`~cityplan.transit.feedgen.concat_feeds`.

A scenario id (``--without-line``) is resolved by :func:`apply_without`: a route id or short
name, ``stop:ID`` (stop ids, ``,``-separated), ``section:ID,ID,...``, or a named section.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cityplan._errors import CoverageError
from cityplan.transit.gtfs import Feed


def _keep_rows(feed: Feed, keep: np.ndarray, *, split: bool) -> Feed:
    """The feed with only the stop_times rows in ``keep``; ``split``: a trip with a gap becomes pieces.

    Pieces of fewer than two stops are dropped; a trip with no piece left is dropped.
    """
    trip_of = np.repeat(np.arange(len(feed.trip_id)), np.diff(feed.trip_first))
    rows = np.flatnonzero(keep)
    t = trip_of[rows]
    new_piece = np.r_[True, t[1:] != t[:-1]][:len(t)]
    if split:
        new_piece |= np.r_[True, np.diff(rows) != 1][:len(t)]
    piece = np.cumsum(new_piece) - 1
    size = np.bincount(piece, minlength=int(piece[-1]) + 1 if len(piece) else 0)
    ok = size[piece] >= 2
    rows, t, piece = rows[ok], t[ok], piece[ok]
    firsts = np.flatnonzero(np.r_[True, piece[1:] != piece[:-1]]) if len(piece) else np.zeros(0, np.int64)
    p_trip = t[firsts]
    # piece ids: the trip id, ``ID#k`` for the k-th piece after the first
    k = np.arange(len(p_trip)) - np.searchsorted(p_trip, p_trip, side="left") if len(p_trip) else p_trip
    ids = np.where(k == 0, feed.trip_id[p_trip], np.char.add(np.char.add(feed.trip_id[p_trip], "#"), k.astype(str)))
    # frequencies: one copy per piece, shifted by the piece's first departure after the template's
    f_rows = [np.flatnonzero(feed.freq_trip == tr) for tr in p_trip] if len(feed.freq_trip) else []
    fr_piece = np.concatenate([np.full(len(r), i) for i, r in enumerate(f_rows)]) if f_rows else np.zeros(0, np.int64)
    fr_src = np.concatenate(f_rows).astype(np.int64) if f_rows else np.zeros(0, np.int64)
    shift = feed.st_dep[rows[firsts]] - feed.st_dep[feed.trip_first[p_trip]] if len(p_trip) else np.zeros(0, np.int64)
    return dataclasses.replace(
        feed, trip_id=ids.astype(str), trip_route=feed.trip_route[p_trip], trip_service=feed.trip_service[p_trip],
        trip_first=np.r_[firsts, len(rows)].astype(np.int64), st_stop=feed.st_stop[rows], st_arr=feed.st_arr[rows],
        st_dep=feed.st_dep[rows], st_pickup=feed.st_pickup[rows], st_dropoff=feed.st_dropoff[rows],
        freq_trip=fr_piece.astype(np.int64), freq_start=feed.freq_start[fr_src] + shift[fr_piece],
        freq_end=feed.freq_end[fr_src] + shift[fr_piece], freq_headway=feed.freq_headway[fr_src])


def drop_routes(feed: Feed, routes: list[str]) -> Feed:
    """Without the trips of ``routes`` (route ids or short names)."""
    idx = route_index(feed, routes)
    trip_of = np.repeat(np.arange(len(feed.trip_id)), np.diff(feed.trip_first))
    return _keep_rows(feed, ~np.isin(feed.trip_route[trip_of], idx), split=False)


def drop_stops(feed: Feed, stops: list[str]) -> Feed:
    """Vehicles pass ``stops`` without stopping (the trips keep running between the others)."""
    return _keep_rows(feed, ~np.isin(feed.st_stop, stop_index(feed, stops)), split=False)


def cut_section(feed: Feed, stops: list[str]) -> Feed:
    """The section through ``stops`` is closed: trips are cut there and run on in pieces."""
    return _keep_rows(feed, ~np.isin(feed.st_stop, stop_index(feed, stops)), split=True)


def route_index(feed: Feed, routes: list[str]) -> np.ndarray:
    """Route indices of ids or short names; an unknown one is an error listing the known ones."""
    out = []
    for r in routes:
        hit = np.flatnonzero((feed.route_id == r) | (feed.route_name == r))
        if not len(hit):
            known = sorted(set(feed.route_id.tolist()))[:20]
            msg = f"--without-line {r!r}: no route with that id or short name in the feed; routes: {known}"
            raise CoverageError(msg)
        out.extend(hit.tolist())
    return np.array(out, np.int64)


def stop_index(feed: Feed, stops: list[str]) -> np.ndarray:
    """Stop indices of ids (a parent station stands for its platforms)."""
    out = []
    for s in stops:
        hit = np.flatnonzero(feed.stop_id == s)
        if not len(hit):
            msg = f"--without-line stop:{s}: no stop {s!r} in the feed (stops.txt stop_id); check the id"
            raise CoverageError(msg)
        out.extend(hit.tolist())
        out.extend(np.flatnonzero(feed.stop_parent == hit[0]).tolist())
    return np.array(out, np.int64)


def apply_without(feed: Feed, ids: tuple[str, ...], sections: dict[str, list[str]] | None = None) -> Feed:
    """The feed with each scenario id of ``ids`` applied (see the module docstring).

    ``sections`` maps a named section (e.g. Harbin's ``3-nw``) to its stop ids (cut).
    """
    sections = sections or {}
    for w in ids:
        if w in sections:
            feed = cut_section(feed, sections[w])
        elif w.startswith("stop:"):
            feed = drop_stops(feed, [s for s in w[5:].split(",") if s])
        elif w.startswith("section:"):
            feed = cut_section(feed, [s for s in w[8:].split(",") if s])
        else:
            feed = drop_routes(feed, [w])
    return feed
