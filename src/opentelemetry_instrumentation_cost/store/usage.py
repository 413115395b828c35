"""Usage by unit, per hour: what a bill has lines for, so that an estimate can be matched to it and repriced.

One row per hour × service.name × host × AWS service × region × unit × account: the quantity (request units,
requests, tokens, instance-hours), the estimated USD and the count of calls (or flushes, for compute). Calls queue
a tuple on the request path (no lock); the flusher folds them, pricing each quantity with the price book then in
force, and adds the host's compute time in the units its bill uses (``BoxUsage:<type>`` hours, Fargate vCPU- and
GB-hours). Written in the same batch, and the same transaction, as the per-transaction rows: exactly once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from time import time_ns

from ..pricing.compute import HostUnit

# (hour start in epoch seconds, service.name, host, AWS service, region, unit, account id)
UsageKey = tuple[int, str, str, str, str, str, str]


class UsageRow:
    __slots__ = ("count", "quantity", "usd")

    def __init__(self, quantity: float = 0.0, usd: float = 0.0, count: int = 0) -> None:
        self.quantity, self.usd, self.count = quantity, usd, count

    def __repr__(self) -> str:
        return f"UsageRow(quantity={self.quantity!r}, usd={self.usd!r}, count={self.count!r})"

    def add(self, quantity: float, usd: float, count: int) -> None:
        self.quantity += quantity
        self.usd += usd
        self.count += count


def hour(ns: int) -> int:
    return ns // 3_600_000_000_000 * 3600


class UsageLog:
    """The calls' usages since the last flush."""

    def __init__(self) -> None:
        self._queue: deque[tuple[int, str, Iterable[tuple[str, float]]]] = deque()

    def record(self, region: str, usages: Iterable[tuple[str, float]]) -> None:
        """One call's ``(price key, quantity)`` pairs (price keys: ``service/unit``)."""
        self._queue.append((time_ns(), region, usages))

    def clear(self) -> None:
        self._queue.clear()

    def drain(
        self, service: str, host: str, price: Callable[[str, str], float | None], account: str = ""
    ) -> dict[UsageKey, UsageRow]:
        rows: dict[UsageKey, UsageRow] = {}
        queue = self._queue
        for _ in range(len(queue)):
            at, region, usages = queue.popleft()
            for key, quantity in usages:
                aws_service, _, unit = key.partition("/")
                usd = price(key, region)
                row_key = (hour(at), service, host, aws_service, region, unit, account)
                row = rows.get(row_key)
                if row is None:
                    row = rows[row_key] = UsageRow()
                row.add(quantity, (usd or 0.0) * quantity, 1)
        return rows


def add_compute(
    rows: dict[UsageKey, UsageRow], at_ns: int, service: str, host: str, region: str, compute_usd: float,
    units: list[HostUnit], account: str = "",
) -> None:  # fmt: skip
    """This flush's compute (its roots' shares, and the host's idle when this process took it) in the host's
    billing units: hours = USD ÷ the host's hourly price, then each unit's quantity and USD for those hours."""
    per_hour = sum(u[3] for u in units)
    if compute_usd <= 0 or per_hour <= 0:
        return
    hours = compute_usd / per_hour
    for aws_service, unit, quantity, usd in units:
        key = (hour(at_ns), service, host, aws_service, region, unit, account)
        row = rows.get(key)
        if row is None:
            row = rows[key] = UsageRow()
        row.add(hours * quantity, hours * usd, 1)
