"""OTel metrics through the globally configured MeterProvider (``--metrics_exporter otlp|console|prometheus``).

Recorded by the flusher from what the aggregates drained, not on the request path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import metrics

from ._sdk_compat import LeftOut, has_no_reader
from .transactions.propagator import Skipped
from .version import __version__

if TYPE_CHECKING:
    from .store.aggregate import Value

TRANSACTION = "cost.transaction"
COMPONENT = "cost.component"
CUSTOMER = "cost.customer"


_USD_BUCKETS = [0.0, 1e-8, 1e-7, 5e-7, 1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 1e-2, 0.1, 1.0]


class CostMetrics:
    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        self._provider = meter_provider  # None: the global one, looked up at each flush (it may be set later)
        meter = metrics.get_meter("opentelemetry-instrumentation-cost", __version__, meter_provider)
        self.cost = meter.create_counter(
            "cost.usd", unit="USD", description="Estimated cost, by transaction and component"
        )
        self.idle = meter.create_counter("cost.idle.usd", unit="USD", description="Host cost with no request in flight")
        self.host = meter.create_counter(
            "cost.host.usd",
            unit="USD",
            description="The host's cost, attributed plus idle, taken once per host by whichever process flushes",
        )
        self.transaction = meter.create_histogram(
            "cost.transaction.usd",
            unit="USD",
            description="Estimated cost of one transaction in this process",
            explicit_bucket_boundaries_advisory=_USD_BUCKETS,  # the SDK's default (0 to 10,000) suits milliseconds
        )
        self._attrs: dict[tuple[str, str], dict[str, str]] = {}  # one per transaction and customer (both capped)
        self.dropped = meter.create_counter(
            "cost.store.dropped_batches", description="Aggregate batches dropped while the store was unreachable"
        )

        self.left_out = meter.create_counter(
            "cost.attributes.left_out",
            unit="{attribute}",
            description="cost.* attributes not written because a span was at its attribute count limit",
        )
        self.baggage_skipped = meter.create_counter(
            "cost.transaction.baggage_skipped",
            unit="{message}",
            description="SQS/SNS messages sent without the transaction's baggage: no attribute slot was left",
        )
        self._seen = {LeftOut: 0, Skipped: 0}

    def wants_values(self) -> bool:
        """Whether anything could read the metrics: without a reader (``--metrics_exporter none``) the aggregates
        keep no per-root values for them (100,000 roots between flushes were 5 MB)."""
        return not has_no_reader(self._provider or metrics.get_meter_provider())

    def record(self, values: list[Value], idle: float, host: float = 0.0) -> None:
        """Counters get one ``add`` per (transaction, component) per flush; the histogram gets every value."""
        for tally, counter in ((LeftOut, self.left_out), (Skipped, self.baggage_skipped)):
            if tally.count > self._seen[tally]:
                counter.add(tally.count - self._seen[tally])
                self._seen[tally] = tally.count
        if not self.wants_values():
            return
        sums: dict[tuple[str, str, str], float] = {}
        attrs = self._attrs
        record = self.transaction.record
        for transaction, total, compute, by_service, customer in values:
            if compute is not None:
                sums[transaction, "compute", customer] = sums.get((transaction, "compute", customer), 0.0) + compute
            for service, usd in (by_service or {}).items():
                key = (transaction, f"aws.{service}", customer)
                sums[key] = sums.get(key, 0.0) + usd
            a = attrs.get((transaction, customer))
            if a is None:  # the customer, when one is configured: a bounded number of values (OTEL_PYTHON_COST_...)
                a = attrs[transaction, customer] = {
                    TRANSACTION: transaction,
                    **({CUSTOMER: customer} if customer else {}),
                }
            record(total, a)
        for (transaction, component, customer), usd in sums.items():
            labels = {TRANSACTION: transaction, COMPONENT: component}
            if customer:
                labels[CUSTOMER] = customer
            self.cost.add(usd, labels)
        if idle > 0.0:
            self.idle.add(idle)
        if host > 0.0:
            self.host.add(host)

    def batch_dropped(self) -> None:
        self.dropped.add(1)
