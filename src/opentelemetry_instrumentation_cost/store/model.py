"""What is stored: one row per minute × service × transaction × host, and batches of them."""

from __future__ import annotations

import uuid
from typing import Any

# (bucket start in epoch seconds, service.name, transaction, instance type, region, host, boot, customer): the host
# is its instance id (or task ARN) where known, else the hostname; the boot id tells one boot of it from the next;
# the customer is "" unless OTEL_PYTHON_COST_CUSTOMER names where it comes from
Key = tuple[int, str, str, str, str, str, str, str]


def bucket(ns: int) -> int:
    """The start of the minute holding ``ns`` (epoch nanoseconds), in epoch seconds: a row's first key part."""
    return ns // 60_000_000_000 * 60


class Row:
    """One row's running totals. A plain slotted class, not a dataclass: this module loads at start-up, and a
    dataclass compiles its methods from source on import."""

    __slots__ = ("budget_exceeded", "compute_usd", "count", "max_usd", "service_usd", "sum_usd")

    def __init__(
        self,
        count: int = 0,
        sum_usd: float = 0.0,
        compute_usd: float = 0.0,
        service_usd: float = 0.0,
        max_usd: float = 0.0,
        budget_exceeded: int = 0,
    ) -> None:
        self.count = count
        self.sum_usd = sum_usd
        self.compute_usd = compute_usd
        self.service_usd = service_usd
        self.max_usd = max_usd
        self.budget_exceeded = budget_exceeded

    def __repr__(self) -> str:
        return "Row(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"

    def merge(self, other: Row) -> None:
        self.count += other.count
        self.sum_usd += other.sum_usd
        self.compute_usd += other.compute_usd
        self.service_usd += other.service_usd
        self.max_usd = max(self.max_usd, other.max_usd)
        self.budget_exceeded += other.budget_exceeded


def merge_row(rows: dict[Key, Row], key: Key, row: Row) -> None:
    """Add ``row`` into ``rows`` under ``key`` (taken as it is when the key is new)."""
    existing = rows.get(key)
    if existing is None:
        rows[key] = row
    else:
        existing.merge(row)


class Batch:
    """Rows flushed together, with their usage by unit (``store/usage.py``); the id makes a write idempotent (a
    retried batch is never added twice)."""

    __slots__ = ("id", "rows", "usage")

    def __init__(self, rows: dict[Key, Row], id: str | None = None, usage: dict[Any, Any] | None = None) -> None:
        self.rows = rows
        self.id = id or str(uuid.uuid4())
        self.usage = usage or {}


class StoreUnavailable(Exception):
    """The store could not be reached or written; the batch stays buffered. The message holds no credentials."""
