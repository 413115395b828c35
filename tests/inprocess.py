"""Helpers for tests that instrument this process: a known setup, always undone."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opentelemetry_instrumentation_cost import CostInstrumentor
from opentelemetry_instrumentation_cost.config import Settings


def memory_provider(**kwargs: Any) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False, **kwargs)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@contextlib.contextmanager
def instrumented(settings: Settings | None = None, **kwargs: Any) -> Iterator[CostInstrumentor]:
    """``CostInstrumentor`` instrumented with ``settings`` (default: from the environment), settled, then undone."""
    inst = CostInstrumentor()
    settings = settings or Settings.from_env()
    if settings.ledger_dir is None and "OTEL_PYTHON_COST_LEDGER_DIR" in os.environ:  # settings made at collection
        settings = settings._replace(ledger_dir=Path(os.environ["OTEL_PYTHON_COST_LEDGER_DIR"]))
    inst.instrument(settings=settings, **kwargs)
    try:
        assert inst.runtime is not None
        assert inst.runtime.settled.wait(15)
        yield inst
    finally:
        inst.uninstrument()


def offline_settings(**overrides: Any) -> Settings:
    """Settings for a test in this process: a declared m5.large, the whole host, no IMDS, no Price List API."""
    fields: dict[str, Any] = {
        "instance_type": "m5.large",
        "pricing_api": False,
        "host_share": 1.0,
        "imds_disabled": True,
    }
    if "OTEL_PYTHON_COST_LEDGER_DIR" in os.environ:  # the test's own host (conftest; not yet at collection)
        fields["ledger_dir"] = Path(os.environ["OTEL_PYTHON_COST_LEDGER_DIR"])
    fields.update(overrides)
    return Settings(**fields)


def rate_per_ns(usd_per_hour: float, share: float = 1.0) -> float:
    return usd_per_hour * share / 3.6e12
