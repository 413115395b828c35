"""Fails loudly if an SDK release changes the internals ``_sdk_compat`` and ``attribution.processor`` rely on."""

from __future__ import annotations

import os

import pytest
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import SpanLimits, SynchronousMultiSpanProcessor, TracerProvider

from opentelemetry_instrumentation_cost._sdk_compat import write_attributes
from opentelemetry_instrumentation_cost.attribution.processor import attach, detach


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
    assert len(span.attributes) == 3 and span.attributes["cost.b"] == 2.0


def test_multi_processor_class_swap_and_back() -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    active = provider._active_span_processor
    assert type(active) is SynchronousMultiSpanProcessor
    attach(provider)
    assert type(active).__mro__[1] is SynchronousMultiSpanProcessor
    detach(provider)
    assert type(active) is SynchronousMultiSpanProcessor


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_forked_child_starts_with_its_own_totals() -> None:
    from opentelemetry_instrumentation_cost.config import Settings
    from tests.inprocess import instrumented, memory_provider

    provider, exporter = memory_provider()
    settings = Settings(instance_type="m5.large", pricing_api=False, imds_disabled=True, host_share=1.0)
    with instrumented(settings, tracer_provider=provider) as inst:
        span = provider.get_tracer("t").start_span("in-flight-at-fork")
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: no roots in flight, a new root is priced
            try:
                ledger = inst.runtime.ledger  # type: ignore[union-attr]
                child = provider.get_tracer("t").start_span("child-root")
                child.end()
                ok = ledger.totals(child.end_time).in_flight == 0 and child.attributes["cost.usd"] > 0
                os.write(write, b"ok" if ok else b"bad")
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 2) == b"ok"
        span.end()
    assert exporter.get_finished_spans()[-1].attributes["cost.usd"] > 0
