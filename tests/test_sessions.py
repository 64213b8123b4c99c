"""Sessions and login limits in the map's shared state: expiry at exactly the limits (an
injected clock), sharing between two holders of one map (two server processes), counting
before the password check, declared tables on both dialects."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from cityplan._errors import SchemaError
from cityplan.services.sessions import (
    IDLE_SECONDS,
    MAX_AGE_SECONDS,
    TOUCH_SECONDS,
    RateLimiter,
    Sessions,
)
from cityplan.store.shared import SqliteState
from cityplan.store.tables import AUDIT, LOGIN_FAILURES, SESSIONS, ddl, epoch, iso_utc, utc_now
from clock import Clock


@pytest.fixture
def state(tmp_path: Path) -> SqliteState:
    return SqliteState(tmp_path / "map.gpkg.state")


def test_idle_expiry_at_exactly_the_limit(state: SqliteState) -> None:
    clock = Clock()
    sessions = Sessions(state, clock=clock)
    s = sessions.create("ana")
    clock.t += IDLE_SECONDS  # idle for exactly the limit: still valid (and touched)
    assert sessions.get(s.id) is not None
    clock.t += IDLE_SECONDS + 1  # one second more than the limit since that use: gone
    assert sessions.get(s.id) is None
    assert state.select(SESSIONS) == []  # and removed from the table


def test_absolute_expiry_despite_constant_use(state: SqliteState) -> None:
    clock = Clock()
    sessions = Sessions(state, clock=clock)
    s = sessions.create("ana")
    while clock.t - 1_800_000_000.0 < MAX_AGE_SECONDS:
        assert sessions.get(s.id) is not None
        clock.t += 3600
    clock.t = 1_800_000_000.0 + MAX_AGE_SECONDS  # exactly the lifetime: still valid
    assert sessions.get(s.id) is not None
    clock.t += 1
    assert sessions.get(s.id) is None


def test_use_is_written_back_at_most_every_touch_interval(state: SqliteState) -> None:
    clock = Clock()
    sessions = Sessions(state, clock=clock)
    s = sessions.create("ana")
    created = state.select(SESSIONS)[0]["seen_at"]
    clock.t += TOUCH_SECONDS - 1
    sessions.get(s.id)
    assert state.select(SESSIONS)[0]["seen_at"] == created
    clock.t += 1
    sessions.get(s.id)
    assert epoch(state.select(SESSIONS)[0]["seen_at"]) == pytest.approx(clock.t, abs=1e-3)


def test_two_holders_of_one_map_share_sessions(state: SqliteState, tmp_path: Path) -> None:
    one, two = Sessions(state), Sessions(SqliteState(state.path))
    s = one.create("ana")
    got = two.get(s.id)
    assert got is not None and got.user == "ana" and got.csrf == s.csrf
    two.drop(s.id)
    assert one.get(s.id) is None


def test_only_the_hash_of_a_session_id_is_stored(state: SqliteState) -> None:
    s = Sessions(state).create("ana")
    raw = state.path.read_bytes() + (state.path.with_name(state.path.name + "-wal").read_bytes()
                                     if state.path.with_name(state.path.name + "-wal").exists() else b"")
    assert s.id.encode() not in raw
    assert Sessions(state).get(s.id[:-1] + ("A" if s.id[-1] != "A" else "B")) is None


def test_password_change_ends_the_accounts_sessions(state: SqliteState) -> None:
    sessions = Sessions(state)
    a1, a2, b = sessions.create("ana"), sessions.create("ana"), sessions.create("bo")
    assert sessions.drop_user("ana") == 2
    assert sessions.get(a1.id) is None and sessions.get(a2.id) is None
    assert sessions.get(b.id) is not None


def test_limit_counts_before_the_check_and_across_holders(state: SqliteState) -> None:
    clock = Clock()
    one = RateLimiter(state, limit=5, window=300, clock=clock)
    two = RateLimiter(SqliteState(state.path), limit=5, window=300, clock=clock)
    for i in range(5):  # five attempts, alternating between the two processes, may go ahead
        wait, _ = (one if i % 2 else two).attempt("user:ana")
        assert wait == 0
    wait, _ = one.attempt("user:ana")
    assert wait == 300  # the sixth waits for the oldest to leave the window
    assert one.retry_after("user:ana") == 300
    clock.t += 299
    assert two.attempt("user:ana")[0] == 1
    clock.t += 1.5  # the oldest attempts have left the window
    assert two.attempt("user:ana")[0] == 0
    assert one.retry_after("user:bo") == 0


def test_a_successful_attempt_is_taken_back(state: SqliteState) -> None:
    lim = RateLimiter(state, limit=2, window=300, clock=Clock())
    _, ids = lim.attempt("ip:1.2.3.4", "user:ana")
    lim.succeeded(ids, "user:ana")
    assert state.select(LOGIN_FAILURES) == []
    lim.attempt("user:ana")
    lim.attempt("user:ana")
    assert lim.attempt("user:ana")[0] > 0
    lim.succeeded([], "user:ana")
    assert lim.attempt("user:ana")[0] == 0


def test_simultaneous_guesses_cannot_all_slip_under_the_limit(state: SqliteState) -> None:
    lim = RateLimiter(state, limit=5, window=300)
    allowed: list[int] = []
    barrier = threading.Barrier(10)

    def guess() -> None:
        barrier.wait()
        wait, _ = lim.attempt("user:ana")
        if not wait:
            allowed.append(1)

    threads = [threading.Thread(target=guess) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 1 <= len(allowed) <= 5


def test_an_address_gets_six_times_an_accounts_tries(state: SqliteState) -> None:
    lim = RateLimiter(state, limit=2, window=300, clock=Clock())
    for _ in range(12):
        assert lim.attempt("ip:10.0.0.1")[0] == 0
    assert lim.attempt("ip:10.0.0.1")[0] > 0


def test_shared_tables_refuse_undeclared_columns_and_ledgers(state: SqliteState) -> None:
    with pytest.raises(SchemaError, match="not declared"):
        state.upsert(SESSIONS, {"sid_hash": "x", "colour": "red"})
    with pytest.raises(SchemaError, match="append-only"):
        state.select(AUDIT)


def test_declared_ledger_refuses_undeclared_column_and_empty_key() -> None:
    with pytest.raises(SchemaError, match="not declared"):
        AUDIT.conform(pd.DataFrame({"event_id": ["a"], "what": ["x"]}))
    with pytest.raises(SchemaError, match="row 1 has an empty key"):
        AUDIT.conform(pd.DataFrame({"event_id": ["a", None]}))
    out = AUDIT.conform(pd.DataFrame({"event_id": ["a"], "who": ["ana"]}))
    assert list(out.columns) == AUDIT.names and out["action"].tolist() == [None]


def test_one_declaration_two_dialects() -> None:
    lite, pg = ddl(SESSIONS, "sqlite"), ddl(SESSIONS, "postgres", qualified='"onemap"."cityplan_sessions"')
    assert len(lite) == len(pg) == 4  # table, unique key, two indexes
    assert "INTEGER PRIMARY KEY AUTOINCREMENT" in lite[0] and "GENERATED BY DEFAULT AS IDENTITY" in pg[0]
    assert lite[1].startswith('CREATE UNIQUE INDEX IF NOT EXISTS "cityplan_sessions_key"')
    assert '"sid_hash"' in pg[1]


def test_one_timestamp_format() -> None:
    t = utc_now(0.5)
    assert t == "1970-01-01T00:00:00.500000Z"
    assert iso_utc("2023-06-30T08:00:00Z") == "2023-06-30T08:00:00.000000Z"
    assert epoch("2023-06-30T08:00:00Z") == epoch("2023-06-30T08:00:00.000000Z")
    assert utc_now(10.0) > utc_now(9.999)  # text order is time order
