"""PostgreSQL's SQL: the schema, the one-statement batch write, partitions and roll-up (``store/postgres.py`` runs
them)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from .schema import (
    ADDED,
    BATCHES,
    BATCHES_INDEX,
    COLUMNS,
    KEY,
    ROLLUPS,
    TABLE,
    USAGE,
    USAGE_COLUMNS,
    USAGE_KEY,
    VERSIONS,
    on_conflict,
    rolled_up,
    usage_conflict,
)

LOCK_KEY = 0x0C057  # advisory lock id for schema and partition DDL
DDL = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        bucket_start timestamptz NOT NULL, service text NOT NULL, transaction_name text NOT NULL,
        instance_type text NOT NULL, region text NOT NULL, count bigint NOT NULL,
        sum_usd double precision NOT NULL, compute_usd double precision NOT NULL,
        service_usd double precision NOT NULL, budget_exceeded bigint NOT NULL, max_usd double precision NOT NULL,
        host text NOT NULL DEFAULT '', boot text NOT NULL DEFAULT '', customer text NOT NULL DEFAULT '',
        PRIMARY KEY ({", ".join(KEY)})) PARTITION BY RANGE (bucket_start)""",
    f"CREATE TABLE IF NOT EXISTS {BATCHES} (batch_id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    BATCHES_INDEX,
    f"CREATE TABLE IF NOT EXISTS {VERSIONS} (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    f"CREATE TABLE IF NOT EXISTS {ROLLUPS} (day date PRIMARY KEY, rolled_at timestamptz NOT NULL DEFAULT now())",
    f"""CREATE TABLE IF NOT EXISTS {USAGE} (
        bucket_start timestamptz NOT NULL, service text NOT NULL, host text NOT NULL, aws_service text NOT NULL,
        region text NOT NULL, unit text NOT NULL, account text NOT NULL, quantity double precision NOT NULL,
        usd double precision NOT NULL, count bigint NOT NULL, PRIMARY KEY ({", ".join(USAGE_KEY)}))""",
)
ROLLUP_LOCK_KEY = 0x0C058  # advisory lock id of a roll-up: one process at a time, the others go on
HOUR = "date_trunc('hour', bucket_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"  # whatever the session's TimeZone
FULL_RETRIES = 4  # connection attempts again when the server has no free connection slot (about 0.4 s in all)
_TYPES = {"bucket_start": "float8", "count": "int8", "budget_exceeded": "int8"}
_TEXT = ("service", "transaction_name", "instance_type", "region", "host", "boot", "customer", "aws_service", "unit",
         "account")  # fmt: skip


def write_statement() -> str:
    """One statement per batch (one round trip, its own transaction): the batch id recorded, then its usage rows
    and its rows, each passed as one array per column, upserted in key order only if the id is new. Key order:
    every writer takes the rows' locks in the same order (usage first, then rows), so replicas of one service writing
    the same rows wait for each other at most one statement, and never deadlock."""
    return (
        f"WITH batch AS (INSERT INTO {BATCHES} (batch_id) VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1), "
        f"used AS ({_insert(USAGE, USAGE_COLUMNS, USAGE_KEY, usage_conflict())}) "
        + _insert(TABLE, COLUMNS, KEY, on_conflict("GREATEST"))
    )


def _insert(table: str, columns: tuple[str, ...], key: tuple[str, ...], conflict: str) -> str:
    arrays = ", ".join(f"%s::{_TYPES.get(c, 'text' if c in _TEXT else 'float8')}[]" for c in columns)
    names = ", ".join(columns)
    select = names.replace("bucket_start", "to_timestamp(bucket_start)", 1)
    order = ", ".join(str(columns.index(c) + 1) for c in key)
    return (
        f"INSERT INTO {table} ({names}) SELECT {select} FROM unnest({arrays}) AS r({names}) "
        f"WHERE EXISTS (SELECT FROM batch) ORDER BY {order} {conflict}"
    )


WRITE = write_statement()


def partition_name(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def partition_days(conn: Any) -> list[date]:
    """The days the table has partitions for (names made by ``partition_name``, never input)."""
    names = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
        (TABLE,),
    ).fetchall()
    days = []
    for (name,) in names:
        try:
            days.append(datetime.strptime(name.rsplit("_p", 1)[1], "%Y%m%d").date())
        except (IndexError, ValueError):
            continue
    return days


def roll_up(conn: Any, day: date) -> None:
    """One day's partition replaced by its hourly sums, in one transaction: writes to that (past) day wait, and
    reads of it wait for the truncation only; a lock not had within a second leaves the day for the next time."""
    part = partition_name(day)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    span = (start, start + timedelta(days=1))
    with conn.transaction():
        if not conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (ROLLUP_LOCK_KEY,)).fetchone()[0]:
            return  # another process is rolling up
        if conn.execute(f"SELECT 1 FROM {ROLLUPS} WHERE day = %s", (day,)).fetchone():
            return
        conn.execute("SET LOCAL lock_timeout = '1s'")
        conn.execute("SET LOCAL work_mem = '64MB'")
        conn.execute(f"LOCK TABLE {part} IN EXCLUSIVE MODE")
        where = "bucket_start >= %s AND bucket_start < %s"
        conn.execute(f"CREATE TEMP TABLE otel_cost_rolled ON COMMIT DROP AS {rolled_up(HOUR, where)}", span)
        conn.execute(f"TRUNCATE {part}")
        conn.execute(f"INSERT INTO {part} ({', '.join(COLUMNS)}) SELECT * FROM otel_cost_rolled")
        conn.execute(f"INSERT INTO {ROLLUPS} (day) VALUES (%s)", (day,))


def migrate(conn: Any) -> None:
    """An older table gains the key columns it lacks in place (existing rows: empty values) and a primary key that
    holds them; PostgreSQL carries both to every partition. Under the caller's advisory lock."""
    have = {
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s",
            (TABLE,),
        )
    }
    missing = [c for c in ADDED if c not in have]
    if not have or not missing:
        return
    conn.execute(f"ALTER TABLE {TABLE} " + ", ".join(f"ADD COLUMN {c} text NOT NULL DEFAULT ''" for c in missing))
    (pkey,) = conn.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", (TABLE,)
    ).fetchone()
    conn.execute(f'ALTER TABLE {TABLE} DROP CONSTRAINT "{pkey}"')
    conn.execute(f"ALTER TABLE {TABLE} ADD PRIMARY KEY ({', '.join(KEY)})")
