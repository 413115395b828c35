"""The running package: host detection and pricing on a background thread, feeding the ledger and the tracker.

Start-up never waits: ``instrument()`` starts the thread and returns. The first local root waits for the host
(at most until 1 s after start-up); the Price List API is only called after that, and its answer changes the
rate from then on.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from time import time_ns
from typing import Any

from opentelemetry.util import types

from . import semconv as sc
from ._cache import DiskCache
from ._log import error_once, warn_once
from .attribution.hostfile import open_region
from .attribution.ledger import ComputeLedger
from .attribution.region import PrivateRegion
from .attribution.roots import RootTracker
from .aws import resources
from .config import Settings
from .host import BUDGET_S, HostInfo, detect_host, host_name, host_share, pricing_region
from .host.local import boot_id, process_started_ns
from .metrics import CostMetrics
from .pricing.book import PriceBook
from .pricing.compute import ComputePrice, HostUnit, compute_price, host_units
from .pricing.fetcher import UnitFetcher
from .store.aggregate import Aggregator
from .store.flush import Flusher
from .store.model import Batch, StoreUnavailable
from .store.open import open_store
from .store.urls import redact
from .transactions.customers import Customers
from .transactions.names import UNTRACED, TransactionNames

FINAL_FLUSH_S = 2.0  # the longest the app's thread waits for the store at exit or provider shutdown


class CostRuntime:
    """Everything one instrumented process holds; built by ``CostInstrumentor``."""

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None, meter_provider: Any = None) -> None:
        self.settings = settings
        self._env = dict(os.environ if env is None else env)
        now = time_ns()
        self.ledger = _ledger(settings, now)
        self._ready = threading.Event()
        self._ready_by = time.monotonic() + BUDGET_S
        self.names = TransactionNames(settings.max_transactions)
        self.tracker = RootTracker(self.ledger, self._ready, self._wait_left, self.names, settings.trust_baggage)
        if settings.customer:
            self.tracker.customers = Customers(settings.customer, settings.max_customers)
        self.cache = DiskCache(settings.resolved_cache_dir(), settings.cache_ttl_s)
        self.book = PriceBook(settings, self.cache)
        resources.configure(self.book.overrides.resources)
        if settings.pricing_api:
            UnitFetcher(self.book)  # asks for a service's prices in a region when a call first needs them
        self.host: HostInfo | None = None
        self.region: str = "us-east-1"
        self.share: float = 1.0
        self.share_source = 0
        self.compute: ComputePrice | None = None
        self.guard = self._budget_guard(settings, meter_provider) if settings.budgets else None
        self.tracker.guard = self.guard
        self._boot = boot_id()
        self.aggregator = Aggregator(("unknown", "unknown", host_name(None), self._boot))
        self.tracker.sink = self.aggregator
        self._store = _LazyStore(settings)
        self.flusher = Flusher(
            self.aggregator,
            self._store,
            settings.flush_interval_s,
            settings.buffer_max_batches,
            self.ledger,
            self.tracker.close_unended,
            _service_name,
            CostMetrics(meter_provider),
            usage=(self._unit_price, self._host_units),
        )
        self.settled = threading.Event()  # set once the background work is over (tests and the CLI wait on it)
        self._start_background(resolve=True)
        self.flusher.start()

    def _start_background(self, resolve: bool) -> None:
        """Host detection (when ``resolve``) and the Price List API, on a thread of their own."""
        self._thread = threading.Thread(target=self._run, args=(resolve,), name="otel-cost-init", daemon=True)
        self._thread.start()

    def _unit_price(self, key: str, region: str) -> float | None:
        price = self.book.unit(key, region)
        return None if price is None else price.usd

    def _host_units(self) -> list[HostUnit]:
        return host_units(self.book, self.host, self.compute, self.region)

    def record_untraced(self, aws_service: str, usd: float) -> None:
        """An AWS charge made outside any local root: stored under ``<untraced>``, so no spend goes unrecorded."""
        self.aggregator.record_charge(_service_name(), UNTRACED, aws_service, usd)

    def flush(self) -> bool:
        """Write what the aggregates hold now (at shutdown, and for tests); True when nothing is left pending."""
        return self.flusher.flush()

    def flush_bounded(self, wait_s: float = FINAL_FLUSH_S, last: bool = False) -> bool:
        """``flush`` by the flusher's thread, waited for at most ``wait_s``: at exit and at provider shutdown the
        app's thread must not sit out a store that does not answer (PostgreSQL's 3 s connect timeout, SQLite's 30 s busy
        timeout). A write cut short by the exit is rolled back by the store, and its batch id keeps it from being
        added twice if it did commit."""
        ok = self.flusher.flush_waiting(wait_s, last)
        if ok is None:
            warn_once(
                "final-flush",
                "cost: the cost store did not take the last aggregates within %.0f s; not waiting longer",
                wait_s,
            )
            return False
        return ok

    def shutdown(self) -> None:
        self.flush_bounded(last=True)

    def _budget_guard(self, settings: Settings, meter_provider: Any) -> Any:
        from .budgets.config import parse_budgets  # only when budgets are configured
        from .budgets.guard import BudgetGuard

        budgets = parse_budgets(settings.budgets)
        return (
            BudgetGuard(budgets, settings.budget_enforce, self.ledger, meter_provider=meter_provider)
            if budgets
            else None
        )

    def _wait_left(self) -> float:
        return max(0.0, self._ready_by - time.monotonic())

    def _run(self, resolve: bool = True) -> None:
        try:
            if resolve:
                self._resolve_host()
        except Exception:
            error_once("host", "cost: host detection failed; compute cost is unknown")
        finally:
            self._ready.set()
        try:
            self._refresh_from_api()
        except Exception:
            error_once("refresh", "cost: price refresh failed; keeping the fallback price")
        finally:
            self.settled.set()

    def _resolve_host(self) -> None:
        host = detect_host(self.settings, self._env, self.cache)
        self.host = host
        self.region = pricing_region(self.settings, host.region)
        self.share, self.share_source = host_share(self.settings, host)
        found = compute_price(self.book, host, self.region)
        if host.lifecycle == "spot" and host.instance_type:
            spot = self.book.spot_hourly(host.instance_type, self.region, host.availability_zone)
            if spot is not None:
                found = ComputePrice(spot, spot=True)
        self._apply(found)

    def _refresh_from_api(self) -> None:
        """Ask AWS for what the fast lookups could not settle: a spot price, or a list price not in the cache."""
        host, current = self.host, self.compute
        if not self.settings.pricing_api or host is None:
            return
        if host.platform in ("fargate", "lambda"):  # priced by size: the service's unit prices in the region
            if current is None or current.price.source not in (
                sc.SOURCE_OVERRIDE,
                sc.SOURCE_CALIBRATED,
                sc.SOURCE_CACHE,
            ):
                self.book.fetch_units(host.platform, self.region)
                found = compute_price(self.book, host, self.region)
                if found is not None:
                    self._apply(found)
            return
        if host.platform not in ("ec2", "override"):
            return
        assert host.instance_type is not None
        if host.lifecycle == "spot" and not (current and current.spot):
            spot = self.book.fetch_spot_hourly(host.instance_type, self.region, host.availability_zone)
            if spot is not None:
                self._apply(ComputePrice(spot, spot=True))
                return
        if current is not None and current.price.source in _SETTLED:
            return
        fetched = self.book.fetch_ec2_hourly(host.instance_type, self.region)
        if fetched is not None:
            self._apply(ComputePrice(fetched))

    def _apply(self, found: ComputePrice | None) -> None:
        host = self.host
        assert host is not None
        self.aggregator.host = (host.instance_type or host.platform, self.region, host_name(host), self._boot)
        static: dict[str, types.AttributeValue] = {sc.COST_HOST_REGION: self.region}
        if host.instance_type:
            static[sc.COST_HOST_INSTANCE_TYPE] = host.instance_type
        if host.lifecycle:
            static[sc.COST_HOST_LIFECYCLE] = host.lifecycle
        self.compute = found
        if found is None:
            warn_once(
                "no-compute-price",
                "cost: no price for %s in %s (%s); local roots get cost.pricing.source=unknown and no cost.usd. "
                "Set OTEL_PYTHON_COST_INSTANCE_TYPE or OTEL_PYTHON_COST_PRICE_FILE",
                host.instance_type or host.platform,
                self.region,
                host.detail or "not detected",
            )
            static[sc.COST_PRICING_SOURCE] = sc.SOURCE_UNKNOWN
            self.tracker.set_static(static)
            self.ledger.set_rate(None, time_ns())
            return
        if host.lifecycle == "spot" and not found.spot:
            static[sc.COST_PRICING_SPOT_FALLBACK] = True
        static[sc.COST_PRICING_SOURCE] = found.price.source
        self.tracker.set_static(static)
        self.ledger.set_rate(found.price.usd * self.share, time_ns(), found.bills_idle, self.share, self.share_source)

    def after_fork(self) -> None:
        """In a forked child. A parent that had not finished detecting or pricing (a gunicorn --preload master
        forks while the Price List API is still being asked) left no thread here to finish: this process does the
        unfinished part again, with events of its own (the parent's thread may have held theirs at the fork)."""
        unfinished, resolved = not self.settled.is_set(), self._ready.is_set()
        if unfinished:
            self._ready, self.settled = threading.Event(), threading.Event()
            if resolved:
                self._ready.set()
        self.tracker.after_fork(self._ready)
        self.ledger.reset_after_fork(time_ns(), _service_name())
        self._store.after_fork()
        self.flusher.after_fork()
        if unfinished:
            self._start_background(resolve=not resolved)


def _ledger(settings: Settings, now: int) -> ComputeLedger:
    """The host's ledger; this process's own (one warning) if the host's cannot be joined."""
    started = process_started_ns(now)
    if settings.host_wide:
        try:
            return ComputeLedger(now, open_region(settings.ledger_dir), _service_name(), started, settings.native)
        except Exception as exc:  # no /dev/shm (AWS Lambda), no semaphores, a full disk: never hurt the app
            warn_once("host-join", "cost: cannot join the host's ledger (%s); this process splits the host alone", exc)
    return ComputeLedger(now, PrivateRegion(), _service_name(), started, settings.native)


def _service_name() -> str:
    from opentelemetry import trace

    resource = getattr(trace.get_tracer_provider(), "resource", None)
    name = resource.attributes.get("service.name") if resource is not None else None
    return str(name or os.environ.get("OTEL_SERVICE_NAME") or "unknown_service")


_SETTLED = (sc.SOURCE_OVERRIDE, sc.SOURCE_CALIBRATED, sc.SOURCE_CACHE)  # prices the API is not asked to replace
_INHERITED: list[Any] = []  # in a forked child, the parent's open stores: kept unused, never closed or collected


class _LazyStore:
    """Opens the store on the flusher thread at the first write (never at start-up), and again after a failure."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store: Any = None

    def after_fork(self) -> None:
        """In a forked child, open a store of its own at the next write. The parent's connections are the parent's
        sockets and files (closing them here could end its sessions; SQLite forbids using them across a fork), so
        the parent's store is set aside, untouched."""
        if self._store is not None:
            _INHERITED.append(self._store)
            self._store = None

    def write(self, batch: Batch) -> None:
        if self._store is None:
            try:
                self._store = open_store(
                    self._settings.store_url, self._settings.retention_days, self._settings.rollup_days
                )
            except ValueError as exc:
                raise StoreUnavailable(f"{redact(self._settings.store_url or '')}: {exc}") from None
            except Exception as exc:
                raise StoreUnavailable(
                    f"cannot open {redact(self._settings.store_url or 'the default store')}: {exc.__class__.__name__}"
                ) from None
            if self._store is None:  # "none"
                self._store = _NoStore()
        self._store.write(batch)

    def maintain(self) -> None:
        """The store's daily roll-up, once it is open (a store never written to has nothing to roll up)."""
        if self._store is not None:
            self._store.maintain()


class _NoStore:
    def write(self, batch: Batch) -> None:
        pass

    def maintain(self) -> None:
        pass
