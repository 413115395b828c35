"""Per-minute rows become hourly after ``OTEL_PYTHON_COST_ROLLUP_DAYS`` days, keeping every sum, count and maximum,
and retention drops old days and batch ids without touching the current ones: both stores.

Six days of per-minute rows are written through the store by a process that keeps minutes for 30 days; a process
that keeps them for 2 then does its daily upkeep. The truth is what this test generated, summed here per hour.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from opentelemetry_instrumentation_cost.store.model import Batch, Row
from opentelemetry_instrumentation_cost.store.postgres import PostgresStore
from opentelemetry_instrumentation_cost.store.sqlite import SQLiteStore

DAY, HOUR = 86400, 3600
SERVICES, TRANSACTIONS, HOSTS, MINUTES_A_DAY = 2, 5, 2, 40
Values = tuple[float, ...]  # count, sum, compute, service, budget_exceeded, max


def _generated(now: int) -> dict[int, dict[tuple[Any, ...], Values]]:
    """Per day back (0 = today): rows at random minutes of that day, every minute before now."""
    rng = random.Random(11)
    days: dict[int, dict[tuple[Any, ...], Values]] = {}
    today = now // DAY * DAY
    for back in range(6):
        start = today - back * DAY
        last = (now - start) // 60 if back == 0 else 1439
        rows = days.setdefault(back, {})
        for minute in rng.sample(range(last + 1), min(MINUTES_A_DAY, last + 1)):
            for s in range(SERVICES):
                for t in range(TRANSACTIONS):
                    for h in range(HOSTS):
                        key = (start + minute * 60, f"svc{s}", f"GET /t{t}", "m5.large", "us-east-1", f"h{h}", "b")
                        compute, service = rng.random() * 1e-4, rng.random() * 1e-4
                        rows[key] = (rng.randint(1, 40), compute + service, compute, service, rng.randint(0, 1),
                                     rng.random() * 1e-5)  # fmt: skip
    return days


def _hourly(rows: dict[tuple[Any, ...], Values]) -> dict[tuple[Any, ...], Values]:
    out: dict[tuple[Any, ...], list[float]] = {}
    for key, v in rows.items():
        hour = (key[0] // HOUR * HOUR, *key[1:])
        acc = out.setdefault(hour, [0, 0.0, 0.0, 0.0, 0, 0.0])
        for i in range(5):
            acc[i] += v[i]
        acc[5] = max(acc[5], v[5])
    return {k: tuple(v) for k, v in out.items()}


def _assert_rows(got: dict[tuple[Any, ...], Values], want: dict[tuple[Any, ...], Values]) -> None:
    assert set(got) == set(want)
    for key, values in want.items():
        assert got[key][0] == values[0] and got[key][4] == values[4], key  # counts: exact
        assert got[key][1:4] + got[key][5:] == pytest.approx(values[1:4] + values[5:], rel=1e-12), key


def _open(kind: str, where: str, **kw: int) -> Any:
    return SQLiteStore(Path(where), **kw) if kind == "sqlite" else PostgresStore(where, **kw)


def _reader(kind: str, where: str) -> Callable[[str], list[tuple[Any, ...]]]:
    def query(sql: str) -> list[tuple[Any, ...]]:
        if kind == "sqlite":
            with sqlite3.connect(where) as conn:
                return conn.execute(sql).fetchall()
        with psycopg.connect(where) as conn:
            return conn.execute(sql.replace("bucket_start,", "extract(epoch from bucket_start)::bigint,", 1)).fetchall()

    return query


def _stored(query: Callable[[str], list[tuple[Any, ...]]]) -> dict[tuple[Any, ...], Values]:
    rows = query(
        "SELECT bucket_start, service, transaction_name, instance_type, region, host, boot, count, sum_usd, "
        "compute_usd, service_usd, budget_exceeded, max_usd FROM otel_cost_transactions"
    )
    return {(int(r[0]), *r[1:7]): tuple(r[7:]) for r in rows}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_old_minutes_roll_up_to_hours_keeping_every_sum(tmp_path: Path, pg_url: str, kind: str) -> None:
    where = str(tmp_path / "c.db") if kind == "sqlite" else pg_url
    query = _reader(kind, where)
    now = int(time.time())
    days = _generated(now)
    writer = _open(kind, where, rollup_days=30)  # keeps minutes for 30 days: writes every row per minute
    for back in sorted(days, reverse=True):
        rows = days[back]
        writer.write(Batch({k: Row(int(v[0]), v[1], v[2], v[3], v[5], int(v[4])) for k, v in rows.items()}))
    minutes = {k: v for rows in days.values() for k, v in rows.items()}
    _assert_rows(_stored(query), minutes)

    upkeep = _open(kind, where, rollup_days=2)
    upkeep.maintain()
    want = {k: v for back in (0, 1, 2) for k, v in days[back].items()}  # today and 2 days back: kept per minute
    for back in (3, 4, 5):
        want |= _hourly(days[back])
    _assert_rows(_stored(query), want)
    assert len(want) < len(minutes)

    again = _open(kind, where, rollup_days=2)  # another process's upkeep finds the days done: nothing changes
    again.maintain()
    _assert_rows(_stored(query), want)

    # a late batch for a day already rolled up is written hourly: the day stays of one grain
    late = min(k for k in days[4])
    again.write(Batch({late: Row(1, 0.5, 0.25, 0.25, 0.0, 0)}))
    hour = (late[0] // HOUR * HOUR, *late[1:])
    c, total, compute, service, over, top = want[hour]
    want[hour] = (c + 1, total + 0.5, compute + 0.25, service + 0.25, over, top)
    _assert_rows(_stored(query), want)
    if kind == "postgresql":
        marks = {str(d) for (d,) in query("SELECT day FROM otel_cost_rollups")}
        assert marks == {time.strftime("%Y-%m-%d", time.gmtime(now - back * DAY)) for back in (3, 4, 5)}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_retention_drops_old_days_and_batch_ids_and_keeps_the_current(tmp_path: Path, pg_url: str, kind: str) -> None:
    where = str(tmp_path / "c.db") if kind == "sqlite" else pg_url
    query = _reader(kind, where)
    now = int(time.time())
    days = _generated(now)
    writer = _open(kind, where, rollup_days=30)
    for back in sorted(days, reverse=True):
        writer.write(Batch({k: Row(int(v[0]), v[1], v[2], v[3], v[5], int(v[4])) for k, v in days[back].items()},
                           id=f"day-{back}"))  # fmt: skip
    old_ids = [(f"old{i}", now - 3 * DAY) for i in range(5)]
    if kind == "sqlite":
        with sqlite3.connect(where) as conn:
            conn.executemany("INSERT INTO otel_cost_batches VALUES (?, ?)", old_ids)
    else:
        with psycopg.connect(where) as conn:
            conn.cursor().executemany("INSERT INTO otel_cost_batches VALUES (%s, to_timestamp(%s))", old_ids)

    shorter = _open(kind, where, retention_days=4, rollup_days=30)  # rows older than 4 days go
    shorter.write(Batch({}, id="today"))
    shorter.maintain()
    stored = _stored(query)
    cutoff = now - 4 * DAY if kind == "sqlite" else (now // DAY - 4) * DAY  # SQLite by the second, PG by the day
    want = {k: v for rows in days.values() for k, v in rows.items() if k[0] >= cutoff}
    _assert_rows(stored, want)
    assert any(k[0] < now - 4 * DAY for k in days[5]) and not any(k in stored for k in days[5])
    assert {b for (b,) in query("SELECT batch_id FROM otel_cost_batches")} == {f"day-{n}" for n in days} | {"today"}
