"""Cost reaches the span every exporter receives, whatever provider, tracer or processor setup the app has."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ConcurrentMultiSpanProcessor, SynchronousMultiSpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.inprocess import instrumented, memory_provider, offline_settings, rate_per_ns

M5 = 0.096


def _one_trace(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("root"), tracer.start_as_current_span("child"):
        time.sleep(0.005)


def _assert_priced(exporter: InMemorySpanExporter) -> None:
    spans = {s.name: s for s in exporter.get_finished_spans()}
    root, child = spans["root"], spans["child"]
    assert root.attributes["cost.usd"] == pytest.approx(rate_per_ns(M5) * (root.end_time - root.start_time), rel=1e-12)
    assert root.attributes["cost.pricing.source"] == "snapshot"
    assert {k: v for k, v in child.attributes.items() if k.startswith("cost.")} == {"cost.transaction": "root"}
    assert root.attributes["cost.transaction"] == "root"


def test_tracer_obtained_before_the_package_loaded() -> None:
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("early")  # before instrument()
    with instrumented(offline_settings(), tracer_provider=provider):
        _one_trace(tracer)
    _assert_priced(exporter)


def test_provider_built_by_the_app_after_start_up() -> None:
    with instrumented(offline_settings()):
        provider, exporter = memory_provider()
        _one_trace(provider.get_tracer("late"))
    _assert_priced(exporter)


def test_concurrent_multi_span_processor() -> None:
    with instrumented(offline_settings()):
        provider, exporter = memory_provider(active_span_processor=ConcurrentMultiSpanProcessor(2))
        _one_trace(provider.get_tracer("c"))
        provider.shutdown()
    _assert_priced(exporter)


def test_custom_active_processors_are_covered_once() -> None:
    """A subclass that inherits ``on_start`` runs the patched one; one that overrides it gets the fallback processor,
    whether or not it also calls the SDK's (a root seen twice is opened once: the cost is not doubled)."""
    from opentelemetry.sdk.trace import SpanProcessor

    class Inherits(SynchronousMultiSpanProcessor):
        pass

    class CallsSuper(SynchronousMultiSpanProcessor):
        def on_start(self, span: object, parent_context: object = None) -> None:
            super().on_start(span, parent_context)  # type: ignore[arg-type]

    class Own(SpanProcessor):
        def __init__(self) -> None:
            self._inner = SynchronousMultiSpanProcessor()

        def add_span_processor(self, processor: SpanProcessor) -> None:
            self._inner.add_span_processor(processor)

        def on_start(self, span: object, parent_context: object = None) -> None:
            for p in self._inner._span_processors:
                p.on_start(span, parent_context=parent_context)  # type: ignore[arg-type]

        def _on_ending(self, span: object) -> None:
            for p in self._inner._span_processors:
                p._on_ending(span)  # type: ignore[arg-type]

        def on_end(self, span: object) -> None:
            for p in self._inner._span_processors:
                p.on_end(span)  # type: ignore[arg-type]

    for active in (Inherits, CallsSuper, Own):
        with instrumented(offline_settings()):
            provider, exporter = memory_provider(active_span_processor=active())
            _one_trace(provider.get_tracer("custom"))
            assert getattr(provider, "_otel_cost_fallback", False) is (active is not Inherits)
        _assert_priced(exporter)


def test_a_child_whose_attributes_are_full_keeps_the_apps() -> None:
    from opentelemetry.sdk.trace import SpanLimits

    with instrumented(offline_settings()):
        provider, exporter = memory_provider(span_limits=SpanLimits(max_span_attributes=2))
        tracer = provider.get_tracer("limits")
        with tracer.start_as_current_span("root"):
            tracer.start_span("child", attributes={"app.a": 1, "app.b": 2}).end()
    child = next(s for s in exporter.get_finished_spans() if s.name == "child")
    assert dict(child.attributes) == {"app.a": 1, "app.b": 2}  # the package's name is the one left out
    assert child.dropped_attributes == 0


def test_uninstrument_stops_pricing_and_reinstrument_resumes() -> None:
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    with instrumented(offline_settings(), tracer_provider=provider):
        pass
    assert not hasattr(SynchronousMultiSpanProcessor.__dict__["on_start"], "__wrapped__")  # the SDK's on_start back
    _one_trace(tracer)
    assert not any(k.startswith("cost.") for s in exporter.get_finished_spans() for k in s.attributes)
    exporter.clear()
    with instrumented(offline_settings(), tracer_provider=provider):
        _one_trace(tracer)
    _assert_priced(exporter)


def test_remote_parent_makes_a_local_root() -> None:
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    remote = trace.SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=True, trace_flags=trace.TraceFlags(1))
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    with (
        instrumented(offline_settings(), tracer_provider=provider),
        tracer.start_as_current_span("server", context=parent),
    ):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.attributes["cost.usd"] > 0


def test_console_and_memory_exporters_on_one_provider_see_the_same_cost() -> None:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    from tests.conftest import parse_console_spans

    provider, exporter = memory_provider()
    console = io.StringIO()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=console)))
    with instrumented(offline_settings(), tracer_provider=provider):
        _one_trace(provider.get_tracer("t"))
    out = console.getvalue()
    printed = {s["name"]: s for s in parse_console_spans(out)}
    assert set(printed) == {"root", "child"}, out[:3000]
    memory = {s.name: s for s in exporter.get_finished_spans()}
    assert printed["root"]["attributes"]["cost.usd"] == memory["root"].attributes["cost.usd"]


def test_ended_twice_and_explicit_end_time(tmp_path: Path) -> None:
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")
    with instrumented(offline_settings(), tracer_provider=provider):
        span = tracer.start_span("root")
        span.end(end_time=span.start_time + 1_000_000_000)  # exactly one second
        span.end()  # the SDK warns; nothing else happens
    (done,) = exporter.get_finished_spans()
    assert done.attributes["cost.usd"] == pytest.approx(M5 / 3600, rel=1e-12)
