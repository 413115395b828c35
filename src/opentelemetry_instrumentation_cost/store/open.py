"""Which store ``OTEL_PYTHON_COST_STORE_URL`` names."""

from __future__ import annotations

from typing import Any

from .urls import checked, default_sqlite_url, sqlite_path


def open_store(url: str | None, retention_days: int = 90, rollup_days: int = 2) -> Any:
    """A store for ``url`` (None: the default SQLite file), or None for ``none``. Raises ValueError on a bad URL."""
    url = checked(url or default_sqlite_url())
    if url == "none":
        return None
    if url.startswith("sqlite:"):
        from .sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url), retention_days, rollup_days)
    from .postgres import PostgresStore

    return PostgresStore(url, retention_days, rollup_days)
