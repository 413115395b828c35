"""The flusher: every ``OTEL_PYTHON_COST_FLUSH_INTERVAL`` seconds and at shutdown, drain the aggregates, add the
host's idle time (whichever process of the host takes it, it is taken once), report metrics, and write batches to
the store, in order, keeping them while it is unreachable. Every ``REAP_S`` it also closes the shares of processes
of the host that died, so their roots leave the split within a second and their compute is stored."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from time import monotonic, time_ns
from typing import Any

from .._fork import hold_lock_across_fork
from .._log import error_once, warn_once
from ..attribution.ledger import ComputeLedger
from ..transactions.names import IDLE, UNENDED, UNTRACED
from .aggregate import Aggregator
from .model import Batch, Key, Row, StoreUnavailable, bucket, merge_row
from .usage import HostUnit, UsageKey, UsageRow, add_compute

# what usage rows need from the runtime: a price per (price key, region), and the host's billing units
UsagePricing = tuple[Callable[[str, str], "float | None"], Callable[[], list[HostUnit]]]

REAP_S = 0.5  # how often a process looks for dead processes of its host
# A fork waits this long at most for a flush in progress: a child copied in its middle could hold, for good, a lock
# of a thread it does not have (the first flush imports the store's modules: a module being imported at the fork
# can never be imported in the child; Celery forks its first children just as the main process first flushes),
# and SQLite's own lock state of a write in progress (``store/sqlite.py``). Every write to the store is a flush's.
FORK_WAIT_S = 1.0


class Flusher:
    def __init__(
        self,
        aggregator: Aggregator,
        store: Any,
        interval_s: float,
        max_batches: int,
        ledger: ComputeLedger,
        before_take: Callable[[], None],
        service_name: Callable[[], str],
        metrics: Any = None,
        usage: UsagePricing | None = None,
    ) -> None:
        self.aggregator = aggregator
        self.store = store
        self.interval_s = interval_s
        self.max_batches = max_batches
        self.ledger = ledger
        self._before_take = before_take  # closes roots collected without end(), so their shares are in this flush
        self._service_name = service_name
        self.metrics = metrics
        self._usage = usage  # prices the calls' usages and names the host's billing units; None: no usage rows
        aggregator.wants_values = (lambda: False) if metrics is None else metrics.wants_values
        self._orphans: dict[Key, Row] = {}  # what dead processes of the host left, for the next batch
        self.pending: deque[Batch] = deque()
        self.dropped_batches = 0
        self._lock = threading.Lock()  # one flush at a time; a fork waits for the one in progress; see after_fork
        hold_lock_across_fork(self, FORK_WAIT_S)
        self._new_signals()
        self._thread: threading.Thread | None = None

    def _new_signals(self) -> None:
        self._stop = threading.Event()
        self._wakeup = threading.Event()  # set by the aggregator when roots pile up between intervals
        self._asked: deque[tuple[threading.Event, list[bool]]] = deque()  # flushes asked of the thread
        self.aggregator.wake = self._wakeup.set

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="otel-cost-flush", daemon=True)
        self._thread.start()

    def flush_waiting(self, wait_s: float, last: bool = False) -> bool | None:
        """A flush by the flusher's own thread, waited for at most ``wait_s`` (None: not done by then); ``last``
        stops the thread after it. At exit and provider shutdown the app's thread must not sit out a store that does
        not answer, and at interpreter exit no new thread may start (Python 3.12): the running one does it."""
        thread = self._thread
        if thread is None or not thread.is_alive():  # no thread to hand it to
            if last:
                self._stop.set()
            return self.flush()
        done, result = threading.Event(), list[bool]()
        self._asked.append((done, result))
        if last:
            self._stop.set()
        self._wakeup.set()
        return result[0] if done.wait(wait_s) else None

    def after_fork(self) -> None:
        """In a forked child: the parent's rows and batches are the parent's to write; start a thread of our own."""
        self._lock = threading.Lock()
        self.aggregator.reset_after_fork()
        self.pending = deque()
        self._orphans = {}
        self._new_signals()
        if self._thread is not None:
            self.start()

    def _loop(self) -> None:
        """Flush every interval; when woken early (roots piling up), only fold them into rows."""
        deadline = monotonic() + self.interval_s
        reaps = self.ledger.shared
        while True:
            wait = max(0.0, deadline - monotonic())
            self._wakeup.wait(min(wait, REAP_S) if reaps else wait)
            self._wakeup.clear()
            self._serve_asked()
            if self._stop.is_set():
                self._serve_asked()  # a last flush asked after the first look (it is queued before the stop is set)
                return
            if reaps:
                self.reap()
            if monotonic() < deadline:
                self.aggregator.fold()
                continue
            if self.flush():
                self.maintain()
            deadline = monotonic() + self.interval_s

    def _serve_asked(self) -> None:
        """One flush for every ``flush_waiting`` queued so far."""
        if not self._asked:
            return
        asked = [self._asked.popleft() for _ in range(len(self._asked))]
        ok = self.flush()
        for done, result in asked:
            result.append(ok)
            done.set()

    def flush(self) -> bool:
        """One flush; True when nothing is left pending. Never raises."""
        try:
            with self._lock:
                self._collect()
                return self._write_pending()
        except Exception:
            error_once("flush", "cost: flushing cost aggregates failed")
            return False

    def maintain(self) -> None:
        """The store's daily upkeep (roll-up), after a periodic flush that left nothing pending: never at exit,
        where it could hold a worker's shutdown. Never raises."""
        try:
            maintain = getattr(self.store, "maintain", None)
            if maintain is not None:
                with self._lock:
                    maintain()
        except StoreUnavailable as exc:
            warn_once("store-maintain", "cost: the cost store's daily roll-up did not run (%s); it is tried again", exc)
        except Exception:
            error_once("maintain", "cost: the cost store's daily roll-up failed")

    def reap(self) -> None:
        """Close the shares of dead processes of the host; what they left is stored as ``<unended>``. Never raises."""
        try:
            now = time_ns()
            for orphan in self.ledger.reap(now):
                key = (bucket(now), orphan.service or self._service_name(), UNENDED, *self.aggregator.host, "")
                merge_row(self._orphans, key, Row(orphan.roots, orphan.compute_usd, orphan.compute_usd))
                warn_once(
                    "reaped",
                    "cost: a process of this host (%s) ended without storing its last aggregates; its %d roots are "
                    "stored under %s",
                    orphan.service,
                    orphan.roots,
                    UNENDED,
                )
        except Exception:
            error_once("reap", "cost: failed to look for dead processes of this host")

    def _collect(self) -> None:
        self._before_take()
        now = time_ns()
        idle, host = self.ledger.take(now)
        rows, values = self.aggregator.drain()
        roots = [r for k, r in rows.items() if k[2] != UNTRACED]  # what went through the ledger
        if roots:
            self.ledger.flushed(sum(r.count for r in roots), sum(r.compute_usd for r in roots))
        if idle > 0.0:
            merge_row(rows, (bucket(now), self._service_name(), IDLE, *self.aggregator.host, ""), Row(0, idle, idle))
        orphans, self._orphans = self._orphans, {}
        for key, row in orphans.items():
            merge_row(rows, key, row)
        if self.metrics is not None:
            self.metrics.record(values, idle, host)
        usage = self._usage_rows(rows, now)
        if rows or usage:
            self.pending.append(Batch(rows, usage=usage))
        while len(self.pending) > self.max_batches:
            self.pending.popleft()
            self.dropped_batches += 1
            if self.metrics is not None:
                self.metrics.batch_dropped()
            warn_once(
                "buffer-full",
                "cost: the store has been unreachable too long; %d batches dropped so far "
                "(OTEL_PYTHON_COST_BUFFER_MAX_BATCHES=%d)",
                self.dropped_batches,
                self.max_batches,
            )

    def _usage_rows(self, rows: dict[Key, Row], now: int) -> dict[UsageKey, UsageRow]:
        """The calls' usages since the last flush, and the compute this batch stores (roots' shares, idle, what
        dead processes left) in the host's billing units."""
        if self._usage is None:
            self.aggregator.usage.clear()
            return {}
        price, host_units = self._usage
        service, host, region = self._service_name(), self.aggregator.host[2], self.aggregator.host[1]
        usage = self.aggregator.usage.drain(service, host, price)
        compute = sum(row.compute_usd for row in rows.values())
        add_compute(usage, now, service, host, region, compute, host_units())
        return usage

    def _write_pending(self) -> bool:
        while self.pending:
            try:
                self.store.write(self.pending[0])
            except StoreUnavailable as exc:
                warn_once(
                    "store-down",
                    "cost: the cost store is unavailable (%s); keeping %d batches in memory",
                    exc,
                    len(self.pending),
                )
                return False
            self.pending.popleft()
        return True
