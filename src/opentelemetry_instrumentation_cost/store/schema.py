"""Column names and SQL shared by both stores (the dialects differ in placeholders and types only)."""

from __future__ import annotations

TABLE = "otel_cost_transactions"
BATCHES = "otel_cost_batches"
VERSIONS = "otel_cost_schema"
SCHEMA_VERSION = 1
KEY = ("bucket_start", "service", "transaction_name", "instance_type", "region")
SUMS = ("count", "sum_usd", "compute_usd", "service_usd", "budget_exceeded")
COLUMNS = (*KEY, *SUMS, "max_usd")


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
    return (*key, *(getattr(row, c) for c in SUMS), row.max_usd)  # type: ignore[attr-defined]
