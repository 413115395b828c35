"""Batches a second from 1, 10 and 100 replicas of one service writing to the real PostgreSQL, directly and through
pgbouncer in transaction mode, and the bytes a stored row takes (both stores).

Each replica is a process with the package's own ``PostgresStore`` (forked from this one after the imports, as a
server's workers are), writing batches of 20 rows back to back for a fixed time, each through a connection of its
own for that write (what the package does: none is held between flushes). Two shapes:
- ``one host``: every replica writes the same 20 rows (same service, transactions, minute and host: the workers of
  one host), the worst case for row locks;
- ``own host``: each replica its own host (pods of a deployment), the same transactions and minute.
Figures: batches written a second over the window, errors, the longest lock wait seen in ``pg_locks`` (sampled every
2 ms), and the server connections the replicas held at most (``pg_stat_activity``).
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from opentelemetry_instrumentation_cost.store.model import Batch, Row
from opentelemetry_instrumentation_cost.store.postgres import PostgresStore
from opentelemetry_instrumentation_cost.store.sqlite import SQLiteStore
from scripts.pgbouncer import pgbouncer

ADMIN = os.environ.get("OTEL_COST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REPLICAS, ROWS, WINDOW_S = (1, 10, 100), 20, 5.0


def _replica(url: str, n: int, shape: str, go: Any, stop: Any, out: Any) -> None:
    store = PostgresStore(url)
    minute = int(time.time()) // 60 * 60
    host = "host-a" if shape == "one host" else f"host-{n}"
    keys = [(minute, "shop", f"GET /route/{i}", "m5.large", "us-east-1", host, "boot-1") for i in range(ROWS)]
    written = errors = 0
    go.wait()
    while not stop.is_set():
        try:
            store.write(Batch({k: Row(count=1, sum_usd=0.001, compute_usd=0.001, max_usd=0.001) for k in keys}))
            written += 1
        except Exception:
            errors += 1
    out.put((written, errors))


class _Watch(threading.Thread):
    """The longest lock wait and the most client connections of the benchmark's database, every 2 ms."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.wait_s, self.connections = url, 0.0, 0
        self.done = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.done.is_set():
                wait, held = conn.execute(
                    "SELECT (SELECT coalesce(max(extract(epoch FROM clock_timestamp() - waitstart)), 0)::float8 "
                    "FROM pg_locks WHERE NOT granted AND waitstart IS NOT NULL), (SELECT count(*) FROM "
                    "pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid())"
                ).fetchone()
                self.wait_s, self.connections = max(self.wait_s, wait), max(self.connections, held)
                time.sleep(0.002)


def _run(url: str, direct_url: str, replicas: int, shape: str) -> tuple[float, int, float, int]:
    ctx = multiprocessing.get_context("fork")
    go, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_replica, args=(url, n, shape, go, stop, out)) for n in range(replicas)]
    for p in procs:
        p.start()
    time.sleep(1.0 + replicas / 50)  # every replica started and waiting
    watch = _Watch(direct_url)
    watch.start()
    go.set()
    time.sleep(WINDOW_S)
    stop.set()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    watch.done.set()
    watch.join(5)
    written, errors = sum(r[0] for r in results), sum(r[1] for r in results)
    return written / WINDOW_S, errors, watch.wait_s, watch.connections - 1  # less the watch's own


def _bytes_per_row(url: str) -> tuple[float, float]:
    """PostgreSQL: the table's partitions with their indexes ÷ rows; SQLite: the file ÷ rows (100,000 rows each)."""
    minute = int(time.time()) // 60 * 60
    rows = {
        (minute - 60 * (i % 600), f"svc{i % 7}", f"GET /api/v1/route/{i % 50}", "m5.large", "us-east-1",
         f"i-0{i % 10:016x}", "6f1c2a9e-1b7d-4c55-9a0e-3d2b1c0f9e8a"): Row(3, 1e-4, 6e-5, 4e-5, 5e-5, 0)
        for i in range(100_000)
    }  # fmt: skip
    PostgresStore(url).write(Batch(rows))
    with psycopg.connect(url) as conn:
        (size,) = conn.execute(
            "SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = 'otel_cost_transactions'"
        ).fetchone()
        (count,) = conn.execute("SELECT count(*) FROM otel_cost_transactions").fetchone()
    path = Path(f"/tmp/otel-cost-bench-{uuid.uuid4().hex[:8]}.db")
    try:
        SQLiteStore(path).write(Batch(rows))
        with sqlite3.connect(path) as lite_conn:
            lite_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file
        lite = path.stat().st_size
    finally:
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
    return int(size) / count, lite / len(rows)


def _roll_up(url: str, n: int = 10_000_000) -> tuple[float, int]:
    """Seconds for the daily upkeep to roll ``n`` per-minute rows of a past day up to hours, and the rows left."""
    day = (int(time.time()) // 86400 - 3) * 86400
    key = (day, "seed", "GET /", "m5.large", "us-east-1", "host0", "boot")
    PostgresStore(url, rollup_days=30).write(Batch({key: Row(1, 1e-6, 1e-6)}))  # the day's partition, as made
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO otel_cost_transactions SELECT to_timestamp(%s) + make_interval(mins => n / 200000), "
            "'svc' || (n %% 1000), 'GET /t' || (n / 1000 %% 50), 'm5.large', 'us-east-1', 1, 1e-6, 1e-6, 0, 0, 1e-6, "
            "'host' || (n / 50000 %% 4), 'boot' FROM generate_series(0, %s) AS n",
            (day + 3600, n - 1),
        )
        conn.execute("ANALYZE otel_cost_transactions")
    t0 = time.perf_counter()
    PostgresStore(url, rollup_days=2).maintain()
    seconds = time.perf_counter() - t0
    with psycopg.connect(url) as conn:
        (left,) = conn.execute("SELECT count(*) FROM otel_cost_transactions").fetchone()
    return seconds, int(left)


def main() -> None:
    name = f"otel_cost_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        PostgresStore(url).write(Batch({}))  # the store exists, as for every deploy but a fleet's first
        print(f"{'replicas':>8}  {'through':<10}{'shape':<10}{'batches/s':>10}{'errors':>7}{'lock wait ms':>13}"
              f"{'connections':>12}   goal: ≥ 1,000 batches/s at 100, no error")  # fmt: skip
        with pgbouncer(url, pool_size=10) as bouncer:
            for replicas in REPLICAS:
                for through, target in (("direct", url), ("pgbouncer", bouncer)):
                    for shape in ("one host", "own host"):
                        rate, errors, wait, held = _run(target, url, replicas, shape)
                        print(f"{replicas:>8}  {through:<10}{shape:<10}{rate:>10.0f}{errors:>7}{wait * 1000:>13.1f}"
                              f"{held:>12}", flush=True)  # fmt: skip
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE otel_cost_batches")
            ids, id_bytes = conn.execute(
                "SELECT count(*), pg_total_relation_size('otel_cost_batches') FROM otel_cost_batches"
            ).fetchone()
            conn.execute("TRUNCATE otel_cost_transactions")
        print(f"bytes per batch id: {id_bytes / ids:.0f} (table and both indexes, {ids:,} ids)")
        pg, lite = _bytes_per_row(url)
        print(f"bytes per stored row: PostgreSQL {pg:.0f} (table and primary key), SQLite {lite:.0f} (file)")
        seconds, left = _roll_up(url)
        print(f"roll-up of 10,000,001 per-minute rows of a past day to hours: {seconds:.1f} s, {left:,} rows left")
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
