"""Per-minute aggregates of ended local roots, O(1) per root under one lock; drained by the flusher."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from ..attribution.ledger import Token
from .model import Key, Row

_VALUES_MAX = 100_000  # per flush interval, for the per-transaction histogram; beyond it the oldest go


class Aggregator:
    def __init__(self, host: tuple[str, str]) -> None:
        self._lock = threading.Lock()
        self._rows: dict[Key, Row] = {}
        self._values: deque[tuple[str, float, float | None, dict[str, float] | None]] = deque(maxlen=_VALUES_MAX)
        self.host = host  # (instance type, region), set once the host is known
        self._services: dict[int, str] = {}

    def _service_name(self, span: Any) -> str:
        resource = span._resource  # the property is a call per request; the resource is fixed per provider
        name = self._services.get(id(resource))
        if name is None:
            name = str(resource.attributes.get("service.name", "unknown_service"))
            self._services[id(resource)] = name
        return name

    def record(
        self, span: Any, token: Token, transaction: str, compute: float | None, end_ns: int, exceeded: bool = False
    ) -> None:
        """One ended local root (called from its ``end``, before the SDK's: the span has no end time yet)."""
        services = token.services_usd
        total = (compute or 0.0) + services
        key = (end_ns // 60_000_000_000 * 60, self._service_name(span), transaction, *self.host)
        with self._lock:
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = Row()
            row.count += 1
            row.sum_usd += total
            row.compute_usd += compute or 0.0
            row.service_usd += services
            if total > row.max_usd:
                row.max_usd = total
            row.budget_exceeded += 1 if exceeded else 0
            self._values.append((transaction, total, compute, token.by_service))

    def add(self, key: Key, row: Row) -> None:
        """Add a row made elsewhere (idle time)."""
        with self._lock:
            existing = self._rows.get(key)
            if existing is None:
                self._rows[key] = row
            else:
                existing.merge(row)

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._rows = {}
        self._values.clear()

    def drain(self) -> tuple[dict[Key, Row], list[tuple[str, float, float | None, dict[str, float] | None]]]:
        with self._lock:
            rows, self._rows = self._rows, {}
            values = list(self._values)
            self._values.clear()
        return rows, values
