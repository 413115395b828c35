"""The running integral behind fair compute attribution.

At every instant the host's cost rate is divided equally among the local roots in flight in every instrumented
process of the host; time with none in flight anywhere is idle, counted once for the host. Instead of looping over
active spans, the ledger keeps ``acc`` = ∫ rate / n dt over busy time: a span's share is ``acc(end) - acc(start)``.
Each event is O(1) under one lock, and by construction sum(attributed) + idle + in-flight shares == host cost,
whatever the interleaving and however many processes take part.

The integrals live in a ``Region`` (``region.py``): shared by the host's processes, or private to this one (the
per-process ledger is the same code over a one-slot region of its own). A root's open and close, in order and
priced (nearly every one), run as one C call each (``_cells.c``); the rest, and every event where the C path was not
built or is turned off (``OTEL_PYTHON_COST_NATIVE=false``), run here under the region's lock.
"""

from __future__ import annotations

from typing import NamedTuple

from .late import backdate, checkpoint, overstay
from .region import (
    H_ACC,
    H_ATTRIBUTED,
    H_BILLS_IDLE,
    H_BUSY_NS,
    H_CREATED,
    H_HOST,
    H_HOST_TAKEN,
    H_IDLE,
    H_IDLE_NS,
    H_IDLE_TAKEN,
    H_LAST,
    H_N,
    H_OPENED,
    H_PRICE,
    H_PRICED,
    H_RATE,
    H_RING_POS,
    H_SHARE,
    H_SHARE_SOURCE,
    H_UNPRICED,
    RING,
    RING_BASE,
    S_ATTRIBUTED,
    S_K,
    S_ROOTS,
    S_SUM_ACC,
    S_UNFLUSHED,
    S_UNFLUSHED_N,
    SLOT_CELLS,
    PrivateRegion,
    Region,
)
from .token import Token, unlink

NS_PER_HOUR = 3_600_000_000_000


class Orphans(NamedTuple):
    """What a dead process left: its roots in flight and its ended roots not yet stored, with their compute."""

    service: str
    roots: int
    compute_usd: float


class Totals(NamedTuple):
    """What the ledger has seen so far, in USD."""

    host_usd: float
    attributed_usd: float
    idle_usd: float
    in_flight: int


class ComputeLedger:
    """Thread-safe (and, over a shared region, process-safe) running integral of the compute cost rate over the
    local roots in flight.

    It also indexes this process's roots in flight by trace id, so that a child's own cost (an AWS call) can be
    added to its local root's transaction total.
    """

    def __init__(
        self,
        now_ns: int,
        region: Region | None = None,
        name: str = "",
        started_ns: int | None = None,
        native: bool = True,
    ) -> None:
        self.region = region if region is not None else PrivateRegion()
        self.region.join(now_ns, name, started_ns)
        self._native = native
        self._bind()
        self._by_trace: dict[int, Token] = {}
        self.roots = self._by_trace  # read-only view for the hot path: trace id → innermost local root in flight

    def _bind(self) -> None:
        region = self.region
        self._q, self._f, self._slot = region.q, region.f, region.slot
        self._t0 = region.q[H_CREATED]  # the session's start: ring checkpoints count from it
        self._opened = False
        self._acquire, self._release = region.acquire, region.release
        cells = region.cells if self._native else None
        self.native = cells is not None
        # (now_ns, token, trace_id, by_trace) -> as ``open`` and ``close``, or None: the Python path's turn. Called
        # straight from a root's start and end (``roots.py``), which then fall back on ``open`` and ``close``.
        self.c_open = cells.open if cells is not None else _python_path
        self.c_close = cells.close if cells is not None else _python_path
        self._lock = _RegionLock(region)

    @property
    def shared(self) -> bool:
        return self.region.shared

    @property
    def created_ns(self) -> int:
        """When the host's session began (the first price applies from there when no root opened before it)."""
        return self._q[H_CREATED]

    def _advance(self, t: int) -> None:
        q, f = self._q, self._f
        dt = t - q[H_LAST]
        if dt <= 0:  # clocks may step back or spans carry explicit past times: never negative cost
            return
        n = q[H_N]
        if not q[H_PRICED]:
            if q[H_OPENED]:  # before the first root the first price, once found, covers this time (``set_rate``)
                q[H_LAST] = t
                if n:
                    f[H_UNPRICED] += dt / n
            return
        q[H_LAST] = t
        if n:
            f[H_ACC] += f[H_RATE] * dt / n
            q[H_BUSY_NS] += dt
        elif q[H_BILLS_IDLE]:
            f[H_IDLE] += f[H_RATE] * dt
            q[H_IDLE_NS] += dt

    def set_rate(
        self, usd_per_hour: float | None, now_ns: int, bills_idle: bool = True, share: float = 1.0, source: int = 0
    ) -> None:
        """Change the host's price from now on (``None``: unknown). Time before now keeps the old rate. An unknown
        price never replaces a known one: another process of the host knowing the price is enough.

        The first price found applies from the session's start when no root has opened yet: the host was
        costing money while it was being detected, and the first request must not lose that wait.
        """
        with self._lock:
            q, f = self._q, self._f
            if usd_per_hour is None and q[H_PRICED]:
                return
            if q[H_PRICED] or q[H_OPENED]:
                self._advance(now_ns)
            f[H_HOST] += f[H_RATE] * (q[H_BUSY_NS] + q[H_IDLE_NS])
            q[H_BUSY_NS] = q[H_IDLE_NS] = 0
            q[H_PRICED] = usd_per_hour is not None
            f[H_RATE] = (usd_per_hour or 0.0) / NS_PER_HOUR
            q[H_BILLS_IDLE] = bills_idle
            f[H_PRICE] = (usd_per_hour or 0.0) / share if share else 0.0
            f[H_SHARE] = share
            q[H_SHARE_SOURCE] = source

    def open(self, now_ns: int, token: Token) -> Token:
        """Open a local root (``token``, made outside the lock) at ``now_ns``. A root already open under the
        same span id (one span reported twice, on its own thread) is returned instead, unchanged. The C path once,
        then (it returned None) the Python path: ``roots.py`` calls the two itself, without this frame."""
        opened = self.c_open(now_ns, token, token.trace_id, self._by_trace)
        return opened if opened is not None else self.open_locked(now_ns, token)

    def open_locked(self, now_ns: int, token: Token) -> Token:
        """``open`` in Python, under the region's lock: every case (late, unpriced), and every event without the
        C path. The integral's advance is written out here and in ``close_locked`` rather than called: each cell
        of the region is a memoryview item, about twice an attribute's cost, so this path reads each cell once."""
        self._acquire()  # bound once: ``with`` costs two more method lookups per root
        try:
            by_trace = self._by_trace
            prev = by_trace.get(token.trace_id)
            if prev is not None and prev.span_id == token.span_id:
                return prev
            q, f, s = self._q, self._f, self._slot
            last, n, acc = q[H_LAST], q[H_N], f[H_ACC]
            if now_ns > last:
                if q[H_PRICED]:
                    dt = now_ns - last
                    if n:
                        f[H_ACC] = acc = acc + f[H_RATE] * dt / n
                        q[H_BUSY_NS] += dt
                    elif q[H_BILLS_IDLE]:
                        f[H_IDLE] += f[H_RATE] * dt
                        q[H_IDLE_NS] += dt
                    q[H_LAST] = last = now_ns
                else:
                    self._advance(now_ns)
                    last = q[H_LAST]
            elif now_ns < last and q[H_PRICED]:
                acc = backdate(q, f, self._t0, now_ns, n, acc)
            q[H_N] = n + 1
            if not self._opened:
                self._opened_first(s)
            q[s + S_K] += 1
            token.acc = acc
            f[s + S_SUM_ACC] += acc
            token.unpriced = f[H_UNPRICED]
            pos = q[H_RING_POS]  # a checkpoint (``late.py``)
            q[RING_BASE + pos % RING] = checkpoint(last - self._t0, n + 1)
            q[H_RING_POS] = pos + 1
            token.prev = prev
            by_trace[token.trace_id] = token
        finally:
            self._release()
        return token

    def _opened_first(self, slot: int) -> None:
        """This process's first root: the host has had a root (the first price no longer covers its past), and this
        process serves (``otel-cost doctor``)."""
        self._q[H_OPENED] = 1
        self._q[slot + S_ROOTS] = 1
        self._opened = True

    def add_service_cost(self, token: Token, usd: float, on_root: bool, service: str) -> None:
        """Add a service charge to a root's transaction (and to the root's own cost when it landed there)."""
        with self._lock.local:
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
            return self._f[H_ACC] - token.acc

    def root_of(self, trace_id: int) -> Token | None:
        """The innermost local root in flight for a trace (a plain dict read: atomic under the GIL)."""
        return self._by_trace.get(trace_id)

    def close(self, token: Token, now_ns: int) -> float | None:
        """Close a local root: its fair share in USD, ``None`` if no price was known; ``token.partial`` is set when
        no price was known for part of its life."""
        cost = self.c_close(now_ns, token, token.trace_id, self._by_trace)
        if cost is None:
            return self.close_locked(token, now_ns)
        return cost if cost > 0.0 or not token.partial else None

    def close_locked(self, token: Token, now_ns: int) -> float | None:
        """``close`` in Python, under the region's lock (see ``open_locked``)."""
        self._acquire()
        try:
            q, f, s = self._q, self._f, self._slot
            last, n, acc = q[H_LAST], q[H_N], f[H_ACC]
            late = False
            if now_ns > last:
                if q[H_PRICED]:
                    dt = now_ns - last
                    if n:
                        f[H_ACC] = acc = acc + f[H_RATE] * dt / n
                        q[H_BUSY_NS] += dt
                    elif q[H_BILLS_IDLE]:
                        f[H_IDLE] += f[H_RATE] * dt
                        q[H_IDLE_NS] += dt
                    q[H_LAST] = last = now_ns
                else:
                    self._advance(now_ns)
                    last = q[H_LAST]
            elif now_ns < last:
                late = q[H_PRICED]
            if n > 0:
                q[H_N] = n = n - 1
            k = q[s + S_K]
            if k > 0:
                q[s + S_K] = k - 1
            opened = token.acc
            f[s + S_SUM_ACC] -= opened
            cost = acc - opened
            if late:
                cost -= overstay(q, f, self._t0, now_ns, n, cost)
            pos = q[H_RING_POS]
            q[RING_BASE + pos % RING] = checkpoint(last - self._t0, n)
            q[H_RING_POS] = pos + 1
            f[s + S_ATTRIBUTED] += cost
            f[s + S_UNFLUSHED] += cost
            q[s + S_UNFLUSHED_N] += 1
            if f[H_UNPRICED] > token.unpriced:
                token.partial = True
            by_trace = self._by_trace
            innermost = by_trace.get(token.trace_id)
            if innermost is token:
                if token.prev is None:
                    del by_trace[token.trace_id]
                else:
                    by_trace[token.trace_id] = token.prev
            elif innermost is not None:  # an inner root of its trace is still open (work handed on in-process)
                unlink(innermost, token)
        finally:
            self._release()
        return cost if cost > 0.0 or not token.partial else None

    def flushed(self, roots: int, compute_usd: float) -> None:
        """``roots`` ended roots worth ``compute_usd`` left for the store: no longer this process's to lose."""
        with self._lock:
            q, f, s = self._q, self._f, self._slot
            left = q[s + S_UNFLUSHED_N] = max(0, q[s + S_UNFLUSHED_N] - roots)
            # none left: exactly nothing (a float residue would be reaped as a dead process's unstored compute)
            f[s + S_UNFLUSHED] = f[s + S_UNFLUSHED] - compute_usd if left else 0.0

    def take(self, now_ns: int) -> tuple[float, float]:
        """The host's idle and total cost since any process last took them (each taken by one process only)."""
        with self._lock:
            self._advance(now_ns)
            q, f = self._q, self._f
            host = f[H_HOST] + f[H_RATE] * (q[H_BUSY_NS] + q[H_IDLE_NS])
            idle = f[H_IDLE] - f[H_IDLE_TAKEN]
            if idle < 0.0:  # a late root took back idle time already taken: the next idle time makes it up
                idle = 0.0
            else:
                f[H_IDLE_TAKEN] = f[H_IDLE]
            host_delta = host - f[H_HOST_TAKEN]
            f[H_HOST_TAKEN] = host
            return idle, host_delta

    def reap(self, now_ns: int) -> list[Orphans]:
        """Close the shares of processes of the host that died (SIGKILL, OOM): their roots in flight leave the
        split now, and what they had not stored yet is returned, for this process to store as ``<unended>``."""
        dead = self.region.dead_slots()
        if not dead:
            return []
        found = []
        with self._lock:
            q, f = self._q, self._f
            self._advance(now_ns)
            for slot in self.region.dead_slots():  # again, under the lock: another process may have reaped them
                k = q[slot + S_K]
                share = max(0.0, k * f[H_ACC] - f[slot + S_SUM_ACC]) if k else 0.0
                compute = share + max(0.0, f[slot + S_UNFLUSHED])
                found.append(Orphans(self.region.name_of(slot), k + q[slot + S_UNFLUSHED_N], compute))
                f[H_ATTRIBUTED] += share
                for c in range(SLOT_CELLS):
                    q[slot + c] = 0
            q[H_N] = sum(q[slot + S_K] for slot in self.region.live_slots())  # and heal any torn count
        return [o for o in found if o.roots or o.compute_usd]

    def totals(self, now_ns: int) -> Totals:
        """The host's totals since its session began (this process's alone over a private region); attributed:
        this process's roots and the shares of dead processes it closed."""
        with self._lock:
            self._advance(now_ns)
            q, f = self._q, self._f
            host = f[H_HOST] + f[H_RATE] * (q[H_BUSY_NS] + q[H_IDLE_NS])
            return Totals(host, f[self._slot + S_ATTRIBUTED] + f[H_ATTRIBUTED], f[H_IDLE], q[H_N])

    def reset_after_fork(self, now_ns: int, name: str = "") -> None:
        """A forked child starts with no roots in flight: over a private region, totals of its own; over the
        host's, a slot of its own in the same session."""
        self.region.after_fork(now_ns, name)
        self._bind()
        self._by_trace.clear()  # the same dict: ``roots`` stays valid


def _python_path(*_: object) -> None:
    """Where the C path was not built or is turned off: every event takes the Python path."""
    return None


class _RegionLock:
    """``with ledger._lock:`` for the cold paths: the region's lock (cross-process when shared); ``local``, the
    thread lock alone, for what only this process's tokens hold."""

    __slots__ = ("acquire", "local", "release")

    def __init__(self, region: Region) -> None:
        self.acquire, self.release = region.acquire, region.release
        self.local = region.lock

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
