"""Transaction names: taken at the edge, read from baggage downstream, bounded against hostile input; metrics."""

from __future__ import annotations

import tracemalloc

import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from opentelemetry_instrumentation_cost.config import Settings
from opentelemetry_instrumentation_cost.transactions.names import MAX_LENGTH, OTHER
from tests.inprocess import instrumented, memory_provider

BASE = {
    "instance_type": "m5.large",
    "pricing_api": False,
    "host_share": 1.0,
    "imds_disabled": True,
    "store_url": "none",
}


def _server_span(tracer: trace.Tracer, headers: dict[str, str], name: str = "GET /edge") -> None:
    """What a server instrumentation does: extract the incoming context, start the span with it as parent."""
    parent = propagate.extract(headers)
    with (
        tracer.start_as_current_span(name, context=parent, kind=trace.SpanKind.SERVER),
        tracer.start_as_current_span("work"),
    ):
        pass


def _traceparent(n: int) -> str:
    return f"00-{n + 1:032x}-{n + 1:016x}-01"


def test_edge_names_the_transaction_and_downstream_reads_it() -> None:
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    with instrumented(Settings(**BASE), tracer_provider=provider):
        _server_span(tracer, {})  # the edge: no baggage
        _server_span(tracer, {"traceparent": _traceparent(1), "baggage": "cost.transaction=POST%20%2Fcheckout"})
    edge_root, edge_work, down_root, down_work = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time)
    assert edge_root.attributes["cost.transaction"] == edge_work.attributes["cost.transaction"] == "GET /edge"
    assert down_root.attributes["cost.transaction"] == down_work.attributes["cost.transaction"] == "POST /checkout"


def test_outgoing_requests_carry_the_name_in_baggage() -> None:
    provider, _ = memory_provider()
    tracer = provider.get_tracer("t")
    carriers: list[dict[str, str]] = []
    with instrumented(Settings(**BASE), tracer_provider=provider):
        with tracer.start_as_current_span("POST /checkout"), tracer.start_as_current_span("http call"):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)  # what requests/urllib/botocore instrumentations call
            carriers.append(carrier)
        downstream = propagate.extract(carriers[0])
    assert "traceparent" in carriers[0]
    assert baggage.get_baggage("cost.transaction", downstream) == "POST /checkout"
    plain: dict[str, str] = {}
    propagate.inject(plain)  # after uninstrument: the app's own propagator again
    assert "baggage" not in plain


def test_hostile_baggage_cannot_grow_memory_past_the_cap() -> None:
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    settings = Settings(**{**BASE, "max_transactions": 50})
    with instrumented(settings, tracer_provider=provider) as inst:
        runtime = inst.runtime
        assert runtime is not None
        _server_span(tracer, {"traceparent": _traceparent(0), "baggage": "cost.transaction=warm"})
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for n in range(10_000):
            _server_span(tracer, {"traceparent": _traceparent(n), "baggage": f"cost.transaction=attack-{n}"})
            exporter.clear()
        grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
        tracemalloc.stop()
        huge = "x" * (1 << 20)
        _server_span(tracer, {"traceparent": _traceparent(1), "baggage": f"cost.transaction={huge}"})
        _server_span(tracer, {"traceparent": _traceparent(2), "baggage": "cost.transaction=evil%0A%1B%5B31mname"})
        assert len(runtime.names) == 50
        runtime.aggregator.fold()
        keys = {k[2] for k in runtime.aggregator._rows}
    assert len(keys) <= 51 and OTHER in keys
    assert grown < 2_000_000  # bytes, for 10,000 hostile names (without the cap: one row and one name each)
    names = [s.attributes["cost.transaction"] for s in exporter.get_finished_spans() if s.name == "GET /edge"]
    assert all(len(n) <= MAX_LENGTH for n in names)
    assert not any(c in n for n in names for c in "\n\x1b")


@pytest.mark.parametrize("spoofed", ["<idle>", "<unended>", "<untraced>"])
def test_baggage_cannot_take_the_packages_own_names(spoofed: str) -> None:
    """``<idle>`` rows are reported as idle time: a caller's baggage must not move requests there."""
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    with instrumented(Settings(**BASE), tracer_provider=provider):
        _server_span(tracer, {"traceparent": _traceparent(1), "baggage": f"cost.transaction={spoofed}"})
    assert {s.attributes["cost.transaction"] for s in exporter.get_finished_spans()} == {OTHER}


def test_untrusted_baggage_is_ignored_when_asked() -> None:
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    with instrumented(Settings(**{**BASE, "trust_baggage": False}), tracer_provider=provider):
        _server_span(tracer, {"traceparent": _traceparent(1), "baggage": "cost.transaction=spoofed"})
    assert {s.attributes["cost.transaction"] for s in exporter.get_finished_spans()} == {"GET /edge"}


def test_metrics_through_the_meter_provider() -> None:
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    with instrumented(Settings(**BASE), tracer_provider=provider, meter_provider=meters) as inst:
        for _ in range(3):
            _server_span(tracer, {}, name="POST /checkout")
        assert inst.runtime is not None
        inst.runtime.flush()
    data = {
        m.name: m for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    assert {"cost.usd", "cost.idle.usd", "cost.transaction.usd"} <= set(data)
    compute = [
        p
        for p in data["cost.usd"].data.data_points
        if p.attributes == {"cost.transaction": "POST /checkout", "cost.component": "compute"}
    ]
    roots = [s for s in exporter.get_finished_spans() if s.name == "POST /checkout"]
    assert compute[0].value == pytest.approx(sum(s.attributes["cost.compute.usd"] for s in roots), rel=1e-9)
    (hist,) = data["cost.transaction.usd"].data.data_points
    assert (hist.count, hist.sum) == (3, pytest.approx(sum(s.attributes["cost.transaction.usd"] for s in roots)))
    assert data["cost.idle.usd"].data.data_points[0].value > 0


def test_a_name_past_the_cap_is_answered_from_memory() -> None:
    """Past the cap, a name seen before is ``<other>`` without being cleaned or looked up under the lock again
    (it cost 14,000 instructions a root); what it became, admitted, cleaned or ``<other>``, stays what it was."""
    from opentelemetry_instrumentation_cost.transactions.names import TransactionNames

    names = TransactionNames(2)
    assert [names.admit(n) for n in ("GET /a", "GET /b\n", "GET /c", "GET /c", "GET /a")] == [
        "GET /a",
        "GET /b",
        OTHER,
        OTHER,
        "GET /a",
    ]
    assert len(names) == 2 and names.known == {"GET /a": "GET /a", "GET /b\n": "GET /b", "GET /c": OTHER}
    assert names.admit("<idle>") == OTHER
