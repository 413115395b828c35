"""The embedded default: one SQLite file in WAL mode, safe with several processes writing.

A connection lives for one write or read: a process never holds the file open between flushes. SQLite keeps its
POSIX lock state per process, in memory a fork copies; a child that opens the same file again shares that copy,
and if the parent held the file open it waits out the busy timeout on locks no process holds (Celery's prefork
children and ``multiprocessing`` children lost their last aggregates so). A fork waits for the flush in progress
(``store/flush.py``, the only writer), so the copy it makes never has the file open. (The wait is the flusher's
alone: a second one here, taken first by the fork's hooks, would wait on the flusher the other way round.)
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..transactions.names import IDLE
from .model import Batch, StoreUnavailable
from .rollup import DAY_S, first_minute_day, hourly_where_due
from .schema import (
    ADDED,
    BATCH_ID_KEEP_S,
    BATCHES,
    BATCHES_INDEX,
    COLUMNS,
    KEY,
    ROLLUPS,
    SCHEMA_VERSION,
    TABLE,
    USAGE,
    USAGE_COLUMNS,
    USAGE_KEY,
    VERSIONS,
    grouped_query,
    rolled_up,
    row_values,
    series_query,
    upsert,
    usage_by_day,
    usage_conflict,
    usage_values,
)

_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        bucket_start INTEGER NOT NULL, service TEXT NOT NULL, transaction_name TEXT NOT NULL,
        instance_type TEXT NOT NULL, region TEXT NOT NULL, count INTEGER NOT NULL, sum_usd REAL NOT NULL,
        compute_usd REAL NOT NULL, service_usd REAL NOT NULL, budget_exceeded INTEGER NOT NULL,
        max_usd REAL NOT NULL, host TEXT NOT NULL DEFAULT '', boot TEXT NOT NULL DEFAULT '',
        customer TEXT NOT NULL DEFAULT '',
        PRIMARY KEY ({", ".join(KEY)}))""",
    f"CREATE TABLE IF NOT EXISTS {BATCHES} (batch_id TEXT PRIMARY KEY, applied_at REAL NOT NULL)",
    BATCHES_INDEX,
    f"CREATE TABLE IF NOT EXISTS {VERSIONS} (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {ROLLUPS} (day INTEGER PRIMARY KEY, rolled_at REAL NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS {USAGE} (
        bucket_start INTEGER NOT NULL, service TEXT NOT NULL, host TEXT NOT NULL, aws_service TEXT NOT NULL,
        region TEXT NOT NULL, unit TEXT NOT NULL, account TEXT NOT NULL, quantity REAL NOT NULL, usd REAL NOT NULL,
        count INTEGER NOT NULL, PRIMARY KEY ({", ".join(USAGE_KEY)}))""",
)
_USAGE_UPSERT = (
    f"INSERT INTO {USAGE} ({', '.join(USAGE_COLUMNS)}) VALUES ({', '.join('?' * len(USAGE_COLUMNS))}) "
    + usage_conflict()
)
_ROLLED = "otel_cost_rolled"  # a temporary table, for one roll-up
_UPSERT = upsert("?", "?", "MAX")


class SQLiteStore:
    def __init__(self, path: Path, retention_days: int = 90, rollup_days: int = 2) -> None:
        self.path = path
        self.retention_s = retention_days * 86400
        self.rollup_days = rollup_days
        self._maintained_on: int | None = None
        self._schema_ready = False
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"sqlite:///{self.path}"

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for one use (under ``_lock``), with the schema made or migrated on the first."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"SQLite {self.path}: {exc.__class__.__name__}: {exc}") from None
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            if not self._schema_ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("BEGIN IMMEDIATE")
                _migrate(conn)
                for ddl in _DDL:
                    conn.execute(ddl)
                conn.execute(f"INSERT OR IGNORE INTO {VERSIONS} VALUES (?, ?)", (SCHEMA_VERSION, time.time()))
                conn.execute("COMMIT")
                self._schema_ready = True
            yield conn
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"SQLite {self.path}: {exc.__class__.__name__}: {exc}") from None
        finally:
            conn.close()

    def write(self, batch: Batch) -> None:
        """Apply a batch once: its id is recorded in the same transaction as its rows."""
        with self._lock, self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(f"INSERT OR IGNORE INTO {BATCHES} VALUES (?, ?)", (batch.id, time.time()))
                if cur.rowcount == 1:
                    rows = hourly_where_due(batch.rows, self.rollup_days)
                    conn.executemany(_UPSERT, [row_values(k, r) for k, r in rows.items()])
                    conn.executemany(_USAGE_UPSERT, [usage_values(k, r) for k, r in batch.usage.items()])
                conn.execute(f"DELETE FROM {BATCHES} WHERE applied_at < ?", (time.time() - BATCH_ID_KEEP_S,))
                conn.execute(f"DELETE FROM {TABLE} WHERE bucket_start < ?", (time.time() - self.retention_s,))
                conn.execute(f"DELETE FROM {USAGE} WHERE bucket_start < ?", (time.time() - self.retention_s,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def maintain(self) -> None:
        """Roll the days due up to hours (``store/rollup.py``), once a day for this process, in one transaction:
        SQLite has one writer at a time, and another process finds the days done."""
        today = int(time.time() // DAY_S)
        if self._maintained_on == today:
            return
        with self._lock, self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                done = {day for (day,) in conn.execute(f"SELECT day FROM {ROLLUPS}")}
                (low,) = conn.execute(f"SELECT min(bucket_start) FROM {TABLE}").fetchone()
                for day in range(low // DAY_S, first_minute_day(self.rollup_days)) if low is not None else ():
                    if day not in done:
                        _roll_up(conn, day)
                conn.execute(f"DELETE FROM {ROLLUPS} WHERE day < ?", (today - self.retention_s // DAY_S,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self._maintained_on = today

    def rows(self, since_epoch: float) -> list[tuple]:
        """Stored rows from ``since_epoch`` on, as tuples in ``schema.COLUMNS`` order."""
        with self._lock, self._connection() as conn:
            query = f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE bucket_start >= ?"
            return conn.execute(query, (int(since_epoch),)).fetchall()

    def grouped(self, since_epoch: float, by: str) -> list[tuple]:
        """The rows from ``since_epoch`` on, summed per group of ``by`` and service (``schema.grouped_query``)."""
        with self._lock, self._connection() as conn:
            return conn.execute(grouped_query(by, "?", "min(bucket_start)", IDLE), (int(since_epoch),)).fetchall()

    def series(self, since_epoch: float) -> list[tuple]:
        """(bucket start, transaction, USD) from ``since_epoch`` on, summed in the database."""
        with self._lock, self._connection() as conn:
            return conn.execute(series_query("?", "bucket_start", IDLE), (int(since_epoch),)).fetchall()

    def usage(self, since_epoch: float, until_epoch: float) -> list[tuple]:
        """Usage per UTC day, AWS service, region and unit (``schema.usage_by_day``); days as ``YYYY-MM-DD``."""
        day = "strftime('%Y-%m-%d', bucket_start, 'unixepoch')"
        with self._lock, self._connection() as conn:
            return conn.execute(usage_by_day("?", "?", day), (int(since_epoch), int(until_epoch))).fetchall()

    def close(self) -> None:
        """Nothing is held between uses."""


def _roll_up(conn: sqlite3.Connection, day: int) -> None:
    """One day's rows replaced by their hourly sums (in the caller's transaction)."""
    span = (day * DAY_S, (day + 1) * DAY_S)
    where = "bucket_start >= ? AND bucket_start < ?"
    conn.execute(f"CREATE TEMP TABLE {_ROLLED} AS {rolled_up('bucket_start / 3600 * 3600', where)}", span)
    conn.execute(f"DELETE FROM {TABLE} WHERE {where}", span)
    conn.execute(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) SELECT * FROM temp.{_ROLLED}")
    conn.execute(f"DROP TABLE temp.{_ROLLED}")
    conn.execute(f"INSERT OR IGNORE INTO {ROLLUPS} VALUES (?, ?)", (day, time.time()))


def _migrate(conn: sqlite3.Connection) -> None:
    """An older table (without the key columns later versions added) is rebuilt in place, its rows kept with
    those columns empty: SQLite cannot change a primary key, so the rows move to a new table (in the caller's
    transaction)."""
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
    if not columns or all(c in columns for c in ADDED):
        return
    old = [c for c in COLUMNS if c in columns]
    conn.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_old")
    conn.execute(_DDL[0])
    conn.execute(f"INSERT INTO {TABLE} ({', '.join(old)}) SELECT {', '.join(old)} FROM {TABLE}_old")
    conn.execute(f"DROP TABLE {TABLE}_old")
