"""The embedded default: one SQLite file in WAL mode, safe with several processes writing."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from .model import Batch, StoreUnavailable
from .schema import BATCHES, COLUMNS, HOST, KEY, SCHEMA_VERSION, TABLE, VERSIONS, row_values, upsert

_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        bucket_start INTEGER NOT NULL, service TEXT NOT NULL, transaction_name TEXT NOT NULL,
        instance_type TEXT NOT NULL, region TEXT NOT NULL, count INTEGER NOT NULL, sum_usd REAL NOT NULL,
        compute_usd REAL NOT NULL, service_usd REAL NOT NULL, budget_exceeded INTEGER NOT NULL,
        max_usd REAL NOT NULL, host TEXT NOT NULL DEFAULT '', boot TEXT NOT NULL DEFAULT '',
        PRIMARY KEY ({", ".join(KEY)}))""",
    f"CREATE TABLE IF NOT EXISTS {BATCHES} (batch_id TEXT PRIMARY KEY, applied_at REAL NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {VERSIONS} (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)",
)
_UPSERT = upsert("?", "?", "MAX")


class SQLiteStore:
    def __init__(self, path: Path, retention_days: int = 90) -> None:
        self.path = path
        self.retention_s = retention_days * 86400
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"sqlite:///{self.path}"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("BEGIN IMMEDIATE")
            _migrate_v1(conn)
            for ddl in _DDL:
                conn.execute(ddl)
            conn.execute(f"INSERT OR IGNORE INTO {VERSIONS} VALUES (?, ?)", (SCHEMA_VERSION, time.time()))
            conn.execute("COMMIT")
            self._conn = conn
        return self._conn

    def write(self, batch: Batch) -> None:
        """Apply a batch once: its id is recorded in the same transaction as its rows."""
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    cur = conn.execute(f"INSERT OR IGNORE INTO {BATCHES} VALUES (?, ?)", (batch.id, time.time()))
                    if cur.rowcount == 1:
                        conn.executemany(_UPSERT, [row_values(k, r) for k, r in batch.rows.items()])
                    conn.execute(f"DELETE FROM {BATCHES} WHERE applied_at < ?", (time.time() - self.retention_s,))
                    conn.execute(f"DELETE FROM {TABLE} WHERE bucket_start < ?", (time.time() - self.retention_s,))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as exc:
                self._conn = None
                raise StoreUnavailable(f"SQLite {self.path}: {exc.__class__.__name__}: {exc}") from None

    def rows(self, since_epoch: float) -> list[tuple]:
        """Stored rows from ``since_epoch`` on, as tuples in ``schema.COLUMNS`` order."""
        with self._lock:
            try:
                return (
                    self._connection()
                    .execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE bucket_start >= ?", (int(since_epoch),))
                    .fetchall()
                )
            except (sqlite3.Error, OSError) as exc:
                self._conn = None
                raise StoreUnavailable(f"SQLite {self.path}: {exc.__class__.__name__}: {exc}") from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """A version 1 table (no host columns) is rebuilt in place, its rows kept with an empty host: SQLite cannot
    change a primary key, so the rows move to a new table (in the caller's transaction)."""
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
    if not columns or HOST[0] in columns:
        return
    old = [c for c in COLUMNS if c not in HOST]
    conn.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_v1")
    conn.execute(_DDL[0])
    conn.execute(f"INSERT INTO {TABLE} ({', '.join(old)}) SELECT {', '.join(old)} FROM {TABLE}_v1")
    conn.execute(f"DROP TABLE {TABLE}_v1")
