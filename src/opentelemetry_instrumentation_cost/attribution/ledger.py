"""The running integral behind fair compute attribution.

At every instant the host's cost rate is divided equally among the local roots in flight; time with none in
flight is idle. Instead of looping over active spans, the ledger keeps ``acc`` = ∫ rate / n dt over busy time:
a span's share is ``acc(end) - acc(start)``. Each event is O(1) under one lock, and by construction
sum(attributed) + idle + in-flight shares == host cost, whatever the interleaving.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

NS_PER_HOUR = 3_600_000_000_000


class Totals(NamedTuple):
    """What the ledger has seen so far, in USD."""

    host_usd: float
    attributed_usd: float
    idle_usd: float
    in_flight: int


class Token:
    """A local root in flight: its position in the integrals when it opened, its children's costs, and (once it
    ended) its compute cost."""

    # Set by ``ComputeLedger.open`` (not here: this runs on every request): ``acc`` and ``unpriced``, the
    # integrals when it opened; ``prev``, an outer local root of the same trace in this process (a loopback call).
    acc: float
    unpriced: float
    prev: Token | None
    __slots__ = (
        "acc",
        "budget_exceeded",
        "by_service",
        "compute",
        "edge",
        "end_ns",
        "own_usd",
        "partial",
        "prev",
        "rate_exceeded",
        "services_usd",
        "span_id",
        "span_ref",
        "trace_id",
        "transaction",
        "unpriced",
    )

    def __init__(self, trace_id: int, span_id: int) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.services_usd = 0.0  # every service charge in the transaction (this process)
        self.own_usd = 0.0  # the service charges that landed on the root span itself
        self.by_service: dict[str, float] | None = None  # service charges per AWS service, for metrics
        self.transaction: str | None = None  # from incoming baggage, or (edge) the root's name once first asked
        self.edge = self.budget_exceeded = self.rate_exceeded = self.partial = False
        self.span_ref: Any = None  # a weak reference to the span (see ``attribution.roots.SpanRef``)
        self.compute: float | None = None  # set as it ends, with end_ns
        self.end_ns = 0

    def live_span(self) -> Any:
        """The root's span while it is open and the app still holds it; else None."""
        ref = self.span_ref
        return None if ref is None else ref()


def _unlink(innermost: Token, token: Token) -> None:
    """Take an ended ``token`` out of the chain of outer roots under ``innermost`` (a few links at most)."""
    node = innermost
    while node.prev is not None:
        if node.prev is token:
            node.prev = token.prev
            return
        node = node.prev


class ComputeLedger:
    """Thread-safe running integral of the compute cost rate over in-flight local roots.

    It also indexes the roots in flight by trace id, in the same critical section, so that a child's own cost
    (an AWS call) can be added to its local root's transaction total.
    """

    def __init__(self, now_ns: int) -> None:
        self._new_lock()
        self._last = now_ns
        self._n = 0
        self._rate = 0.0  # USD per ns
        self._priced = False
        self._bills_idle = True
        self._opened = False
        self._acc = 0.0  # ∫ rate/n dt while n > 0
        self._unpriced = 0.0  # ∫ 1/n dt while n > 0 and no price is known
        self._busy_ns = 0  # busy time at the current rate; folded into _host when the rate changes
        self._host = 0.0  # busy cost at earlier rates
        self._idle = 0.0
        self._attributed = 0.0
        self._by_trace: dict[int, Token] = {}
        self.roots = self._by_trace  # read-only view for the hot path: trace id → innermost local root in flight

    def _advance(self, t: int) -> None:
        dt = t - self._last
        if dt <= 0:  # clocks may step back or spans carry explicit past times: never negative cost
            return
        self._last = t
        n = self._n
        if not self._priced:
            if n:
                self._unpriced += dt / n
            return
        if n:
            self._acc += self._rate * dt / n
            self._busy_ns += dt
        elif self._bills_idle:
            self._idle += self._rate * dt

    def set_rate(self, usd_per_hour: float | None, now_ns: int, bills_idle: bool = True) -> None:
        """Change the price from now on (``None``: unknown). Time before now keeps the old rate.

        The first price found applies from the ledger's creation when no root has opened yet: the host was
        costing money while it was being detected, and the first request must not lose that wait.
        """
        with self._lock:
            if self._priced or self._opened:
                self._advance(now_ns)
            self._host += self._rate * self._busy_ns
            self._busy_ns = 0
            self._priced = usd_per_hour is not None
            self._rate = (usd_per_hour or 0.0) / NS_PER_HOUR
            self._bills_idle = bills_idle

    def open(self, now_ns: int, token: Token) -> Token:
        """Open a local root (``token``, made outside the lock) at ``now_ns``. A root already open under the
        same span id (one span reported twice) is returned instead, unchanged."""
        self._acquire()  # bound once: ``with`` costs two more method lookups per root
        try:
            by_trace = self._by_trace
            prev = by_trace.get(token.trace_id)
            if prev is not None and prev.span_id == token.span_id:
                return prev
            self._advance(now_ns)
            self._n += 1
            self._opened = True
            token.acc = self._acc
            token.unpriced = self._unpriced
            token.prev = prev
            by_trace[token.trace_id] = token
        finally:
            self._release()
        return token

    def add_service_cost(self, token: Token, usd: float, on_root: bool, service: str) -> None:
        """Add a service charge to a root's transaction (and to the root's own cost when it landed there)."""
        with self._lock:
            token.services_usd += usd
            if on_root:
                token.own_usd += usd
            if token.by_service is None:
                token.by_service = {}
            token.by_service[service] = token.by_service.get(service, 0.0) + usd

    def share_so_far(self, token: Token, now_ns: int) -> float:
        """A root's compute share up to now, while it is still in flight."""
        with self._lock:
            self._advance(now_ns)
            return self._acc - token.acc

    def root_of(self, trace_id: int) -> Token | None:
        """The innermost local root in flight for a trace (a plain dict read: atomic under the GIL)."""
        return self._by_trace.get(trace_id)

    def close(self, token: Token, now_ns: int) -> float | None:
        """Close a local root: its fair share in USD, ``None`` if no price was known; ``token.partial`` is set when
        no price was known for part of its life."""
        self._acquire()
        try:
            self._advance(now_ns)
            if self._n > 0:
                self._n -= 1
            cost = self._acc - token.acc
            self._attributed += cost
            unpriced = self._unpriced - token.unpriced
            by_trace = self._by_trace
            innermost = by_trace.get(token.trace_id)
            if innermost is token:
                if token.prev is None:
                    del by_trace[token.trace_id]
                else:
                    by_trace[token.trace_id] = token.prev
            elif innermost is not None:  # an inner root of its trace is still open (work handed on in-process)
                _unlink(innermost, token)
        finally:
            self._release()
        if unpriced > 0.0:
            token.partial = True
            return cost if cost > 0.0 else None
        return cost

    def totals(self, now_ns: int) -> Totals:
        with self._lock:
            self._advance(now_ns)
            host = self._host + self._rate * self._busy_ns + self._idle
            return Totals(host, self._attributed, self._idle, self._n)

    def _new_lock(self) -> None:
        self._lock = threading.Lock()
        self._acquire = self._lock.acquire
        self._release = self._lock.release

    def reset_after_fork(self, now_ns: int) -> None:
        """A forked child starts with no roots in flight and totals of its own."""
        self._new_lock()
        self._last = now_ns
        self._n = 0
        self._by_trace.clear()  # the same dict: ``roots`` stays valid
        self._acc = self._unpriced = self._host = self._idle = self._attributed = 0.0
        self._busy_ns = 0
