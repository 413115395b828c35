"""Column names and SQL shared by both stores (the dialects differ in placeholders and types only)."""

from __future__ import annotations

TABLE = "otel_cost_transactions"
BATCHES = "otel_cost_batches"
VERSIONS = "otel_cost_schema"
SCHEMA_VERSION = 2  # 2: rows know their host (``host``, ``boot``); version 1 stores are migrated in place
KEY = ("bucket_start", "service", "transaction_name", "instance_type", "region", "host", "boot")
SUMS = ("count", "sum_usd", "compute_usd", "service_usd", "budget_exceeded")
HOST = ("host", "boot")  # last, so that the columns of version 1 keep their places
COLUMNS = (*KEY[:5], *SUMS, "max_usd", *HOST)


def upsert(placeholder: str, bucket_expr: str, greatest: str) -> str:
    """INSERT ... ON CONFLICT DO UPDATE that adds counts and sums, and keeps the max."""
    values = ", ".join([bucket_expr] + [placeholder] * (len(COLUMNS) - 1))
    adds = ", ".join(f"{c} = {TABLE}.{c} + excluded.{c}" for c in SUMS)
    return (
        f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {adds}, "
        f"max_usd = {greatest}({TABLE}.max_usd, excluded.max_usd)"
    )


def row_values(key: tuple, row: object) -> tuple:
    """A row's values in ``COLUMNS`` order."""
    return (*key[:5], *(getattr(row, c) for c in SUMS), row.max_usd, *key[5:])  # type: ignore[attr-defined]
