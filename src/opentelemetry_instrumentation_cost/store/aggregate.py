"""Per-minute aggregates of ended local roots.

The request thread only appends (token, resource) to a deque (atomic, no lock); the flusher folds
the queue into rows and metric values. If roots pile up between flushes (every ``_WAKE_AT`` roots queued) the
flusher is woken early to fold them; past ``_FOLD_AT`` the recording thread folds the queue itself, so memory
stays bounded and no root is lost.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from time import time_ns
from typing import Any

from ..attribution.ledger import Token
from .model import Key, Row, bucket, merge_row
from .usage import UsageLog

_VALUES_MAX = 100_000  # per flush interval, for the per-transaction histogram; beyond it the oldest go
_WAKE_AT = 2_000  # about 0.4 MB of queued tuples
_FOLD_AT = 50_000

Value = tuple[str, float, "float | None", "dict[str, float] | None", str]
# end time (ns), service.name, transaction, compute USD, service USD, USD by AWS service, over budget, customer
Ended = tuple[int, str, str, "float | None", float, "dict[str, float] | None", bool, str]  # a charge alone


class Aggregator:
    def __init__(self, host: tuple[str, str, str, str]) -> None:
        self._lock = threading.Lock()  # folding and draining; never taken by ``record`` below ``_FOLD_AT``
        self._ended: deque[Ended | tuple[Token, Any]] = deque()
        self._rows: dict[Key, Row] = {}
        self._values: deque[Value] = deque(maxlen=_VALUES_MAX)
        self.host = host  # (instance type, region, host, boot): the last parts of every key (see ``model.Key``)
        self._services: dict[int, str] = {}
        self.wake: Callable[[], None] | None = None  # set by the flusher
        self.wants_values: Callable[[], bool] = lambda: True  # set by the flusher: whether metrics can be read
        self.usage = UsageLog()  # the AWS calls' usages by unit, for the bill (``store/usage.py``)

    def record(self, token: Token, resource: Any) -> None:
        """One ended local root (see ``attribution.roots.RootSink``): queued as it is, read when folded on the
        flusher's thread (its fields are final: the root has ended and left the ledger's index)."""
        ended = self._ended
        ended.append((token, resource))
        if len(ended) % _WAKE_AT == 0:  # at 2,000, 4,000, ... queued: once each, not on every root
            self._crowded(len(ended))

    def record_charge(self, service: str, transaction: str, aws_service: str, usd: float) -> None:
        """One AWS charge that no local root carries, counted as a request of ``transaction``."""
        self._ended.append((time_ns(), service, transaction, None, usd, {aws_service: usd}, False, ""))
        queued = len(self._ended)
        if queued % _WAKE_AT == 0:
            self._crowded(queued)

    def _crowded(self, queued: int) -> None:
        if queued >= _FOLD_AT or self.wake is None:
            self.fold()
        else:
            self.wake()

    def fold(self) -> None:
        """Fold the queued roots into rows now (the flusher, woken early; tests)."""
        with self._lock:
            self._fold()

    def _learn(self, resource: Any) -> str:
        """The service name of a provider's resource (fixed per provider), cached by identity."""
        name = self._services[id(resource)] = str(resource.attributes.get("service.name", "unknown_service"))
        return name

    def _fold(self) -> None:
        """Move the queued roots into rows and metric values (under ``_lock``)."""
        ended, rows, values = self._ended, self._rows, self._values
        keep = self.wants_values()
        host = self.host
        services_of = self._services
        for _ in range(len(ended)):
            item = ended.popleft()  # atomic
            if len(item) == 2:  # a root: (token, its span's resource)
                token, resource = item
                service = services_of.get(id(resource)) or self._learn(resource)
                end_ns, name, compute = token.end_ns, token.transaction or "", token.compute
                services, by_service = token.services_usd, token.by_service
                exceeded, customer = token.budget_exceeded, token.customer
            else:  # a charge no root carries
                end_ns, service, name, compute, services, by_service, exceeded, customer = item
            total = (compute or 0.0) + services
            key = (bucket(end_ns), service, name, *host, customer)
            row = rows.get(key)
            if row is None:
                row = rows[key] = Row()
            row.count += 1
            row.sum_usd += total
            row.compute_usd += compute or 0.0
            row.service_usd += services
            if total > row.max_usd:
                row.max_usd = total
            if exceeded:
                row.budget_exceeded += 1
            if keep:
                values.append((name, total, compute, by_service, customer))

    def add(self, key: Key, row: Row) -> None:
        """Add a row made elsewhere (idle time)."""
        with self._lock:
            merge_row(self._rows, key, row)

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._ended.clear()
        self._rows = {}
        self._values.clear()
        self.usage.clear()

    def drain(self) -> tuple[dict[Key, Row], list[Value]]:
        with self._lock:
            self._fold()
            rows, self._rows = self._rows, {}
            values = list(self._values)
            self._values.clear()
        return rows, values
