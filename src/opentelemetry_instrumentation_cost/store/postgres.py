"""PostgreSQL: one table declaratively partitioned by range on the bucket start, one partition per day.

Partitions are created ahead (today + 2 days, and any day a batch touches) and dropped after the retention period;
schema changes and partition DDL run under an advisory lock, so many processes on many hosts can start at once.
Rows for the same key are merged with ``INSERT ... ON CONFLICT DO UPDATE``, each batch's rows in key order: every
writer then takes the rows' locks in the same order, so replicas of one service (same rows, each folded in the order
its requests ended) wait for each other at most one transaction, and never deadlock. A batch's id is recorded in the
same transaction, so a batch retried after an unknown commit outcome is never added twice. psycopg 3, one connection
per write or read (none held between flushes), no server-side prepared statements: it works through a connection
pooler in transaction mode.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..transactions.names import IDLE
from .model import Batch, StoreUnavailable
from .pg_sql import (
    DDL,
    FULL_RETRIES,
    LOCK_KEY,
    WRITE,
    migrate,
    partition_days,
    partition_name,
    roll_up,
)
from .rollup import first_minute_day, hourly_where_due
from .schema import (
    BATCH_ID_KEEP_S,
    BATCHES,
    COLUMNS,
    ROLLUPS,
    SCHEMA_VERSION,
    TABLE,
    USAGE,
    USAGE_COLUMNS,
    VERSIONS,
    grouped_query,
    row_values,
    series_query,
    usage_by_day,
    usage_values,
)
from .urls import redact

__all__ = ["PostgresStore", "partition_name"]


class PostgresStore:
    def __init__(self, url: str, retention_days: int = 90, rollup_days: int = 2) -> None:
        self.url = url
        self.retention_days = retention_days
        self.rollup_days = rollup_days
        self._maintained_on: date | None = None
        self._partitions: set[date] = set()
        self._migrated = False
        self._lock = threading.Lock()

    def describe(self) -> str:
        return redact(self.url)

    def _connect(self) -> Any:
        """A connection for one write or one read, closed with it: a process holds none between flushes (a fleet of
        processes would otherwise hold one each, and PostgreSQL's default limit is 100). No server-side prepared
        statements (``prepare_threshold=None``): a pooler in transaction mode (pgbouncer before 1.21) hands each
        transaction to any server connection, where a statement prepared on another does not exist."""
        import psycopg

        for attempt in range(FULL_RETRIES + 1):
            try:
                return psycopg.connect(self.url, connect_timeout=3, prepare_threshold=None, autocommit=True)
            except psycopg.OperationalError as exc:
                if attempt == FULL_RETRIES or "too many clients" not in str(exc):
                    raise
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # the server is full for a moment: wait
        raise AssertionError("unreachable")

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        # psycopg messages can quote the connection string; keep only the class and the server's first line
        first = str(exc).splitlines()[0] if str(exc) else ""
        return StoreUnavailable(f"PostgreSQL {redact(self.url)}: {exc.__class__.__name__}: {redact(first)}")

    def write(self, batch: Batch) -> None:
        import psycopg

        with self._lock:
            cutoff = (datetime.now(UTC) - timedelta(days=self.retention_days)).timestamp()
            rows = {k: r for k, r in batch.rows.items() if k[0] >= cutoff}  # older rows would be dropped anyway
            rows = hourly_where_due(rows, self.rollup_days)
            try:
                with self._connect() as conn:
                    self._prepare(conn, {datetime.fromtimestamp(k[0], UTC).date() for k in rows})
                    used = _columns([usage_values(k, r) for k, r in batch.usage.items()], len(USAGE_COLUMNS))
                    columns = _columns([row_values(k, r) for k, r in rows.items()], len(COLUMNS))
                    conn.execute(WRITE, (batch.id, *used, *columns))
            except psycopg.errors.CheckViolation as exc:  # no partition for a row: someone dropped it; recreate
                self._partitions.clear()
                raise self._unavailable(exc) from None
            except (psycopg.Error, OSError) as exc:
                self._migrated = False if isinstance(exc, psycopg.errors.UndefinedTable) else self._migrated
                raise self._unavailable(exc) from None

    def _prepare(self, conn: Any, days: set[date]) -> None:
        """Schema and partitions for ``days`` and the days ahead, each only when missing. A process looks first
        without a lock (a fleet's processes start at once, and find the schema made): only a missing part is made
        under the advisory lock, so writers queue on it once a day at most, when a new day's partition is made."""
        today = datetime.now(UTC).date()
        wanted = days | {today + timedelta(days=n) for n in range(3)}
        if self._migrated and not wanted - self._partitions:
            return
        self._look(conn)
        missing = wanted - self._partitions
        if self._migrated and not missing:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            self._look(conn)  # again: what the process before this one in the lock's queue made
            missing = wanted - self._partitions
            if not self._migrated:
                migrate(conn)
                for ddl in DDL:
                    conn.execute(ddl)
                conn.execute(f"INSERT INTO {VERSIONS} (version) VALUES (%s) ON CONFLICT DO NOTHING", (SCHEMA_VERSION,))
            for day in sorted(missing):  # UTC days, whatever the session's TimeZone
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {TABLE} "
                    f"FOR VALUES FROM ('{day.isoformat()} 00:00+00') TO ('{day + timedelta(days=1)} 00:00+00')"
                )
        self._migrated = True
        self._partitions |= missing

    def _look(self, conn: Any) -> None:
        """What exists: the schema's version and the partitions (read only, no lock)."""
        import psycopg

        try:
            with conn.transaction():
                (version,) = conn.execute(f"SELECT max(version) FROM {VERSIONS}").fetchone()
                self._migrated = (version or 0) >= SCHEMA_VERSION
                self._partitions |= set(partition_days(conn))
        except psycopg.errors.UndefinedTable:
            self._migrated = False

    def maintain(self) -> None:
        """The daily upkeep, once a day for this process, each step under a try-lock so that one process of the
        fleet does it and the others go on: old partitions dropped and old batch ids deleted (by their index), the
        days due rolled up to hours (``store/rollup.py``), each day in its own transaction. Writers of the current
        days never wait on it: only a past day's partition is locked (reads of that day wait for its swap)."""
        import psycopg

        today = datetime.now(UTC).date()
        if self._maintained_on == today:
            return
        with self._lock:
            try:
                with self._connect() as conn:
                    if not self._migrated:
                        self._look(conn)
                        if not self._migrated:  # no store yet: nothing to keep up
                            return
                    self._drop_old(conn, today)
                    last = date.fromordinal(date(1970, 1, 1).toordinal() + first_minute_day(self.rollup_days))
                    with conn.transaction():
                        done = {day for (day,) in conn.execute(f"SELECT day FROM {ROLLUPS}")}
                        due = sorted(d for d in partition_days(conn) if d < last and d not in done)
                    for day in due:
                        roll_up(conn, day)
            except (psycopg.Error, OSError) as exc:
                raise self._unavailable(exc) from None
        self._maintained_on = today

    def _drop_old(self, conn: Any, today: date) -> None:
        """Partitions past the retention, their roll-up marks, and batch ids past ``BATCH_ID_KEEP_S``."""
        cutoff = today - timedelta(days=self.retention_days)
        with conn.transaction():
            if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
                return  # another process is making or dropping partitions
            conn.execute("SET LOCAL lock_timeout = '1s'")  # dropping a partition locks the table: never queue long
            for day in partition_days(conn):
                if day < cutoff:
                    conn.execute(f"DROP TABLE IF EXISTS {partition_name(day)}")
                    self._partitions.discard(day)
            conn.execute(f"DELETE FROM {ROLLUPS} WHERE day < %s", (cutoff,))
            conn.execute(f"DELETE FROM {USAGE} WHERE bucket_start < %s", (cutoff,))  # by its key's first column
            conn.execute(
                f"DELETE FROM {BATCHES} WHERE applied_at < now() - make_interval(secs => %s)", (BATCH_ID_KEEP_S,)
            )

    def rows(self, since_epoch: float) -> list[tuple]:
        """Stored rows from ``since_epoch`` on (for the CLI, which reads once per run)."""
        import psycopg

        cols = ", ".join("extract(epoch from bucket_start)::bigint" if c == "bucket_start" else c for c in COLUMNS)
        try:
            with self._connect() as conn:
                return conn.execute(
                    f"SELECT {cols} FROM {TABLE} WHERE bucket_start >= to_timestamp(%s)", (since_epoch,)
                ).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
        except (psycopg.Error, OSError) as exc:
            raise self._unavailable(exc) from None

    def grouped(self, since_epoch: float, by: str) -> list[tuple]:
        """The rows from ``since_epoch`` on, summed per group of ``by`` and service (``schema.grouped_query``)."""
        import psycopg

        query = grouped_query(by, "to_timestamp(%s)", "extract(epoch from min(bucket_start))::bigint", IDLE)
        try:
            # room to sort the groups in memory (10 million rows spilled to disk at the default 4 MB); LOCAL: for
            # this transaction only, which a pooler in transaction mode requires
            with self._connect() as conn, conn.transaction():
                conn.execute("SET LOCAL work_mem = '64MB'")
                return conn.execute(query, (since_epoch,)).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
        except (psycopg.Error, OSError) as exc:
            raise self._unavailable(exc) from None

    def series(self, since_epoch: float) -> list[tuple]:
        """(bucket start, transaction, USD) from ``since_epoch`` on, summed in the database."""
        import psycopg

        query = series_query("to_timestamp(%s)", "extract(epoch from bucket_start)::bigint", IDLE)
        try:
            with self._connect() as conn:
                return conn.execute(query, (since_epoch,)).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
        except (psycopg.Error, OSError) as exc:
            raise self._unavailable(exc) from None

    def usage(self, since_epoch: float, until_epoch: float) -> list[tuple]:
        """Usage per UTC day, AWS service, region and unit (``schema.usage_by_day``); days as ``YYYY-MM-DD``."""
        import psycopg

        day = "to_char(bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        try:
            with self._connect() as conn:
                query = usage_by_day("to_timestamp(%s)", "to_timestamp(%s)", day)
                return conn.execute(query, (since_epoch, until_epoch)).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
        except (psycopg.Error, OSError) as exc:
            raise self._unavailable(exc) from None

    def close(self) -> None:
        """Nothing is held between uses."""


def _columns(values: list[tuple], width: int) -> list[list]:
    """Rows → one list per column (``unnest``'s arrays)."""
    return [list(c) for c in zip(*values, strict=True)] if values else [[] for _ in range(width)]
