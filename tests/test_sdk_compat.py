"""Fails loudly if an SDK release changes the internals ``_sdk_compat`` and ``attribution.processor`` rely on."""

from __future__ import annotations

import os

import pytest
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import (
    ConcurrentMultiSpanProcessor,
    SpanLimits,
    SynchronousMultiSpanProcessor,
    TracerProvider,
)
from opentelemetry.trace import SpanKind, set_span_in_context

from opentelemetry_instrumentation_cost._sdk_compat import write_attributes
from opentelemetry_instrumentation_cost.attribution import processor


def test_open_span_keeps_a_plain_attribute_dict() -> None:
    span = TracerProvider(shutdown_on_exit=False).get_tracer("t").start_span("s")
    assert isinstance(span._attributes, BoundedAttributes)
    assert type(span._attributes._dict) is dict and span._attributes._immutable is False
    write_attributes(span, {"a": "x"}, {"b": 1.0})
    span.end()
    assert dict(span.attributes) == {"a": "x", "b": 1.0}
    assert span._attributes._immutable is True


def test_attribute_count_limit_is_respected_through_the_public_path() -> None:
    provider = TracerProvider(shutdown_on_exit=False, span_limits=SpanLimits(max_span_attributes=3))
    span = provider.get_tracer("t").start_span("s", attributes={"app.1": 1, "app.2": 2})
    write_attributes(span, {"cost.a": 1.0}, {"cost.b": 2.0})
    span.end()
    assert dict(span.attributes) == {"app.1": 1, "app.2": 2, "cost.b": 2.0}  # the app's kept; ``own`` first


def test_span_context_is_a_tuple_read_by_index() -> None:
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("t")
    root = tracer.start_span("root")
    child = tracer.start_span("child", context=set_span_in_context(root))
    ctx, parent = child._context, child._parent
    assert (ctx[0], ctx[1], ctx[2]) == (ctx.trace_id, ctx.span_id, ctx.is_remote)
    assert (parent[0], parent[1], parent[2]) == (root.context.trace_id, root.context.span_id, False)
    assert root._parent is None and root._start_time == root.start_time
    assert root._kind is root.kind is SpanKind.INTERNAL and root._name == root.name and root._resource is root.resource
    assert child._attributes.maxlen == 128 and type(child._attributes._dict) is dict


def test_multi_processors_patched_on_the_class_and_restored() -> None:
    originals = {cls: cls.__dict__["on_start"] for cls in (SynchronousMultiSpanProcessor, ConcurrentMultiSpanProcessor)}
    assert all(not hasattr(f, "__wrapped__") for f in originals.values())
    assert isinstance(SynchronousMultiSpanProcessor()._span_processors, tuple)
    processor.install()
    processor.install()  # idempotent: wraps once
    try:
        for cls, original in originals.items():
            assert cls.__dict__["on_start"].__wrapped__ is original
        provider = TracerProvider(shutdown_on_exit=False)
        processor.attach(provider)  # patched active processor: no fallback needed
        assert not getattr(provider, "_otel_cost_fallback", False)
    finally:
        processor.uninstall()
    assert {cls: cls.__dict__["on_start"] for cls in originals} == originals


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_forked_child_starts_with_its_own_totals() -> None:
    from tests.inprocess import instrumented, memory_provider, offline_settings

    provider, exporter = memory_provider()
    settings = offline_settings(host_wide=False)  # over the host's ledger a child joins its parent's totals instead
    with instrumented(settings, tracer_provider=provider) as inst:
        span = provider.get_tracer("t").start_span("in-flight-at-fork")
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: no roots in flight, a new root is priced; the parent's root ends uncosted here
            try:
                ledger = inst.runtime.ledger  # type: ignore[union-attr]
                child = provider.get_tracer("t").start_span("child-root")
                span.end()
                child.end()
                totals = ledger.totals(child.end_time)
                ok = (
                    totals.in_flight == 0
                    and child.attributes["cost.usd"] > 0
                    and totals.attributed_usd == child.attributes["cost.usd"]
                    and "cost.usd" not in span.attributes
                    and span.end_time is not None
                )
                os.write(write, b"ok" if ok else b"bad")
            finally:
                os._exit(0)
        os.close(write)  # a child that failed before writing gives b"", not a read that waits forever
        os.waitpid(pid, 0)
        assert os.read(read, 2) == b"ok"
        span.end()
    assert exporter.get_finished_spans()[-1].attributes["cost.usd"] > 0


def test_current_span_read_from_the_context_by_its_key() -> None:
    """``aws/metering.py`` reads the current span with one dict lookup instead of ``get_current_span()``."""
    from opentelemetry import trace
    from opentelemetry.context import get_current
    from opentelemetry.trace.propagation import _SPAN_KEY

    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("t")
    assert get_current().get(_SPAN_KEY) is None
    with tracer.start_as_current_span("s") as span:
        assert get_current().get(_SPAN_KEY) is span is trace.get_current_span()


def test_incoming_baggage_read_from_the_context_by_its_key() -> None:
    """``transactions.propagator.transaction_from`` reads baggage with one dict lookup."""
    from opentelemetry import baggage
    from opentelemetry.context import get_current

    from opentelemetry_instrumentation_cost.transactions.propagator import transaction_from

    ctx = baggage.set_baggage("cost.transaction", "POST /checkout", baggage.set_baggage("other", "x"))
    assert transaction_from(ctx) == baggage.get_baggage("cost.transaction", ctx) == "POST /checkout"
    assert transaction_from(baggage.set_baggage("other", "x")) is None
    assert transaction_from(get_current()) is None and transaction_from(None) is None


def test_current_context_read_from_the_runtime_contextvar() -> None:
    """``aws/metering.py`` reads the current context through the ContextVar's own ``get`` (no Python frame)."""
    from opentelemetry import context

    from opentelemetry_instrumentation_cost._sdk_compat import context_getter

    get = context_getter()
    assert get is not context.get_current and type(get).__name__ == "builtin_function_or_method"
    token = context.attach(context.set_value("k", "v"))
    try:
        assert get() is context.get_current() and get().get("k") == "v"
    finally:
        context.detach(token)


def test_span_instrumentation_scope_attribute() -> None:
    """``aws/metering.py`` recognises the botocore instrumentation's span by ``span._instrumentation_scope``."""
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("opentelemetry.instrumentation.botocore.sqs")
    span = tracer.start_span("s")
    assert span._instrumentation_scope is span.instrumentation_scope
    assert span._instrumentation_scope.name == "opentelemetry.instrumentation.botocore.sqs"


def test_meter_provider_without_readers_is_known_unread() -> None:
    """``metrics.py`` records nothing through an SDK MeterProvider that has no reader (what ``opentelemetry-instrument``
    installs with ``OTEL_METRICS_EXPORTER=none``); any other provider is recorded into."""
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from opentelemetry_instrumentation_cost._sdk_compat import has_no_reader

    provider = MeterProvider(shutdown_on_exit=False)
    assert provider._measurement_consumer._reader_storages == {}
    assert has_no_reader(provider) is True
    provider.add_metric_reader(InMemoryMetricReader())  # readers can be added later: checked at every flush
    assert has_no_reader(provider) is False
    assert has_no_reader(MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)) is False
    assert has_no_reader(NoOpMeterProvider()) is True
    from opentelemetry.metrics._internal import _ProxyMeterProvider

    proxy = _ProxyMeterProvider()  # the global one before any SDK provider is set
    assert has_no_reader(proxy) is True
    proxy.on_set_meter_provider(provider)
    assert has_no_reader(proxy) is False


def test_parent_based_consults_its_delegates_by_these_attributes() -> None:
    """``local_root_delegates``: the SDK's ``ParentBased`` keeps the delegates it asks for a span with no parent and
    for a remote parent in these instance attributes, and asks them (a delegate swapped in is the one called)."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, DEFAULT_ON, Decision, ParentBased, StaticSampler
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    from opentelemetry_instrumentation_cost._sdk_compat import local_root_delegates

    sampler = ParentBased(ALWAYS_OFF)
    names = local_root_delegates(sampler)
    assert names == ("_root", "_remote_parent_sampled", "_remote_parent_not_sampled")
    assert local_root_delegates(ALWAYS_OFF) is None and local_root_delegates(DEFAULT_ON) == names
    record = StaticSampler(Decision.RECORD_ONLY)
    for name in names:
        setattr(sampler, name, record)
    remote = [
        set_span_in_context(NonRecordingSpan(SpanContext(1, 2, is_remote=True, trace_flags=TraceFlags(flags))))
        for flags in (0, 1)
    ]
    for parent in (None, *remote):
        assert sampler.should_sample(parent, 1, "root").decision is Decision.RECORD_ONLY
    local = set_span_in_context(NonRecordingSpan(SpanContext(1, 2, is_remote=False)))
    assert sampler.should_sample(local, 1, "child").decision is Decision.DROP  # local parents: not asked


def test_one_attribute_read_from_an_open_or_ended_span() -> None:
    """``attribute_of`` reads ``_attributes`` (the customer, ``transactions/customers.py``): the SDK's public
    ``attributes`` agrees, before and after the end."""
    from opentelemetry.sdk.trace import TracerProvider

    from opentelemetry_instrumentation_cost._sdk_compat import attribute_of

    span = TracerProvider().get_tracer("t").start_span("root")
    span.set_attribute("tenant.id", "acme")
    assert attribute_of(span, "tenant.id") == span.attributes["tenant.id"] == "acme"
    assert attribute_of(span, "absent") is None
    span.end()
    assert attribute_of(span, "tenant.id") == "acme"
