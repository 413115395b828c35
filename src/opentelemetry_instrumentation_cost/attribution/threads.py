"""A request's threads are the request's: the OpenTelemetry context follows work handed to other threads.

An AWS call made on another thread (s3transfer's multipart parts, a ``ThreadPoolExecutor``, ``run_in_executor``, a
``threading.Thread``) finds its local root by the current span's trace id. Without the request's context there, it
is ``<untraced>`` and the request shows none of its spend. ``opentelemetry-instrumentation-threading`` carries the
context into ``Thread``, ``Timer`` and ``ThreadPoolExecutor`` (``run_in_executor`` uses the latter); the package
depends on it.

``opentelemetry-instrument`` loads it by its own entry point (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=threading``
still turns it off there); an app that instruments by itself gets it enabled here, unless
``OTEL_PYTHON_COST_THREADS=false``.
"""

from __future__ import annotations

from typing import Any

from .._log import warn_once
from ..package import loaded_by_auto_instrumentation


def enable() -> Any:
    """Instrument threading unless it already is or the loader will; returns the instrumentor to undo, or None."""
    if loaded_by_auto_instrumentation():
        return None
    try:
        from opentelemetry.instrumentation.threading import ThreadingInstrumentor
    except ImportError:
        warn_once(
            "threads-missing",
            "cost: opentelemetry-instrumentation-threading is not installed; AWS calls on worker threads count as "
            "<untraced>",
        )
        return None
    instrumentor = ThreadingInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        return None
    instrumentor.instrument()
    return instrumentor
