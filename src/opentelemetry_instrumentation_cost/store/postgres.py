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

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..transactions.names import IDLE
from .model import Batch, StoreUnavailable
from .schema import (
    BATCH_ID_KEEP_S,
    BATCHES,
    BATCHES_INDEX,
    COLUMNS,
    KEY,
    SCHEMA_VERSION,
    TABLE,
    VERSIONS,
    grouped_query,
    row_values,
    upsert,
)
from .urls import redact

_LOCK_KEY = 0x0C057  # advisory lock id for schema and partition DDL
_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        bucket_start timestamptz NOT NULL, service text NOT NULL, transaction_name text NOT NULL,
        instance_type text NOT NULL, region text NOT NULL, count bigint NOT NULL,
        sum_usd double precision NOT NULL, compute_usd double precision NOT NULL,
        service_usd double precision NOT NULL, budget_exceeded bigint NOT NULL, max_usd double precision NOT NULL,
        host text NOT NULL DEFAULT '', boot text NOT NULL DEFAULT '',
        PRIMARY KEY ({", ".join(KEY)})) PARTITION BY RANGE (bucket_start)""",
    f"CREATE TABLE IF NOT EXISTS {BATCHES} (batch_id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    BATCHES_INDEX,
    f"CREATE TABLE IF NOT EXISTS {VERSIONS} (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
)
_UPSERT = upsert("%s", "to_timestamp(%s)", "GREATEST")


def partition_name(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


class PostgresStore:
    def __init__(self, url: str, retention_days: int = 90) -> None:
        self.url = url
        self.retention_days = retention_days
        self._partitions: set[date] = set()
        self._migrated = False
        self._pruned_on: date | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return redact(self.url)

    def _connect(self) -> Any:
        """A connection for one write or one read, closed with it: a process holds none between flushes (a fleet of
        processes would otherwise hold one each, and PostgreSQL's default limit is 100). No server-side prepared
        statements (``prepare_threshold=None``): a pooler in transaction mode (pgbouncer before 1.21) hands each
        transaction to any server connection, where a statement prepared on another does not exist."""
        import psycopg

        return psycopg.connect(self.url, connect_timeout=3, prepare_threshold=None)

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        # psycopg messages can quote the connection string; keep only the class and the server's first line
        first = str(exc).splitlines()[0] if str(exc) else ""
        return StoreUnavailable(f"PostgreSQL {redact(self.url)}: {exc.__class__.__name__}: {redact(first)}")

    def write(self, batch: Batch) -> None:
        import psycopg

        with self._lock:
            cutoff = (datetime.now(UTC) - timedelta(days=self.retention_days)).timestamp()
            rows = {k: r for k, r in batch.rows.items() if k[0] >= cutoff}  # older rows would be dropped anyway
            try:
                with self._connect() as conn:
                    self._prepare(conn, {datetime.fromtimestamp(k[0], UTC).date() for k in rows})
                    with conn.transaction():
                        cur = conn.execute(
                            f"INSERT INTO {BATCHES} (batch_id) VALUES (%s) ON CONFLICT DO NOTHING", (batch.id,)
                        )
                        if cur.rowcount == 1:
                            with conn.cursor() as many:
                                if rows:  # in key order: replicas upserting the same rows can never deadlock
                                    many.executemany(_UPSERT, [row_values(k, rows[k]) for k in sorted(rows)])
            except psycopg.errors.CheckViolation as exc:  # no partition for a row: someone dropped it; recreate
                self._partitions.clear()
                raise self._unavailable(exc) from None
            except (psycopg.Error, OSError) as exc:
                self._migrated = False if isinstance(exc, psycopg.errors.UndefinedTable) else self._migrated
                raise self._unavailable(exc) from None

    def _prepare(self, conn: Any, days: set[date]) -> None:
        """Schema, partitions for ``days`` and the days ahead, and retention: each only when needed."""
        today = datetime.now(UTC).date()
        wanted = days | {today + timedelta(days=n) for n in range(3)}
        missing = wanted - self._partitions
        if self._migrated and not missing and self._pruned_on == today:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            if not self._migrated:
                _migrate_v1(conn)
                for ddl in _DDL:
                    conn.execute(ddl)
                conn.execute(f"INSERT INTO {VERSIONS} (version) VALUES (%s) ON CONFLICT DO NOTHING", (SCHEMA_VERSION,))
                self._migrated = True
            for day in sorted(missing):
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {TABLE} "
                    f"FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')"
                )
            self._partitions |= missing
            if self._pruned_on != today:
                self._drop_old(conn, today)
                self._pruned_on = today

    def _drop_old(self, conn: Any, today: date) -> None:
        cutoff = today - timedelta(days=self.retention_days)
        names = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            (TABLE,),
        ).fetchall()
        for (name,) in names:
            try:
                day = datetime.strptime(name.rsplit("_p", 1)[1], "%Y%m%d").date()
            except (IndexError, ValueError):
                continue
            if day < cutoff:
                conn.execute(f"DROP TABLE IF EXISTS {name}")  # the name was built by partition_name, never input
                self._partitions.discard(day)
        conn.execute(f"DELETE FROM {BATCHES} WHERE applied_at < now() - make_interval(secs => %s)", (BATCH_ID_KEEP_S,))

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
            with self._connect() as conn:
                # room to sort the groups in memory (10 million rows spilled to disk at the default 4 MB); LOCAL:
                # for this transaction only, which a pooler in transaction mode requires
                conn.execute("SET LOCAL work_mem = '64MB'")
                return conn.execute(query, (since_epoch,)).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
        except (psycopg.Error, OSError) as exc:
            raise self._unavailable(exc) from None

    def close(self) -> None:
        """Nothing is held between uses."""


def _migrate_v1(conn: Any) -> None:
    """A version 1 table gains the host columns in place (existing rows: an empty host) and a primary key that
    holds them; PostgreSQL carries both to every partition. Under the caller's advisory lock."""
    has = conn.execute(
        "SELECT count(*) FILTER (WHERE column_name = 'host'), count(*) FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s",
        (TABLE,),
    ).fetchone()
    if has[1] == 0 or has[0] == 1:
        return
    conn.execute(
        f"ALTER TABLE {TABLE} ADD COLUMN host text NOT NULL DEFAULT '', ADD COLUMN boot text NOT NULL DEFAULT ''"
    )
    (pkey,) = conn.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", (TABLE,)
    ).fetchone()
    conn.execute(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{pkey}"')
    conn.execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY ({', '.join(KEY)})")
