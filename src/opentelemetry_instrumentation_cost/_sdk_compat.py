"""Writing into an open span's attributes, with feature detection and a public-API fallback.

Why: the SDK freezes a span's attributes before ``_on_ending``/``on_end`` (SDK >= 1.43), and each attribute written
through ``set_attribute(s)`` costs about 0.7 µs. The cost of a local root is only known as it ends, so the package
writes its already-clean primitive values into the span's attribute dict just before the SDK's own ``end`` runs.

The other SDK and API internals the per-span and per-call paths read, each to save a call per span or per request
(docs/architecture.md lists them): ``SpanContext`` by index, ``Span._parent``/``_context``/``_start_time``/
``_name``/``_kind``/``_resource`` and the multi-processors' ``on_start`` (``attribution/``), the current-span and
baggage context keys (``aws/metering.py``, ``transactions/propagator.py``), the contextvars runtime context's
``ContextVar`` and a span's ``_instrumentation_scope`` (``aws/metering.py``, once per AWS call), and an SDK
MeterProvider's ``_measurement_consumer._reader_storages`` (``has_no_reader``, for ``metrics.py``: nothing is recorded
where no reader exists), and ``ParentBased``'s delegate attributes (``local_root_delegates``, for
``attribution/sampling.py``). ``tests/test_sdk_compat.py`` fails loudly if an SDK release changes any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.util import types

from ._log import warn_once


def attribute_dict(span: Any, room: int) -> dict[str, types.AttributeValue] | None:
    """An open span's own attribute dict, when ``room`` more attributes fit under its count limit; else None,
    and the caller writes through ``span.set_attributes`` (which applies limits and eviction)."""
    try:
        bounded = span._attributes
        inner = bounded._dict
        maxlen = bounded.maxlen
        if type(inner) is dict and not bounded._immutable and (maxlen is None or len(inner) + room <= maxlen):
            return inner
    except AttributeError:
        pass
    return None


class LeftOut:
    """How many of the package's attributes did not fit under a span's attribute count limit (read by the
    flusher into the ``cost.attributes.left_out`` counter); a plain int: no metric call on the span's path."""

    count = 0


def write_attributes(
    span: Any, common: Mapping[str, types.AttributeValue], own: Mapping[str, types.AttributeValue]
) -> None:
    """Add ``common`` and ``own`` (``own`` wins a shared key, and goes first) to an open span, never evicting an
    attribute the app set: past the span's count limit, the package's attributes are the ones left out (the SDK
    would drop the oldest, the app's own ``http.route``)."""
    inner = attribute_dict(span, len(common) + len(own))
    if inner is not None:  # room for all of them
        inner.update(common)
        inner.update(own)
        return
    inner = attribute_dict(span, 0)  # open, but at its limit
    if inner is None:
        span.set_attributes({**common, **own})
        return
    maxlen = span._attributes.maxlen
    left = 0
    for key, value in (*own.items(), *((k, v) for k, v in common.items() if k not in own)):
        if key in inner or len(inner) < maxlen:
            inner[key] = value
        else:
            left += 1
    if left:
        LeftOut.count += left
        warn_once(
            "attributes-full",
            "cost: a span reached its attribute count limit (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT); the cost.* "
            "attributes that did not fit were left out, the app's own kept (counted in cost.attributes.left_out)",
        )


def write_attribute(span: Any, key: str, value: types.AttributeValue) -> None:
    """One attribute on an open span (a child's transaction name, when the span processor's inline path can't)."""
    write_attributes(span, _EMPTY, {key: value})


_EMPTY: Mapping[str, types.AttributeValue] = {}


def attribute_of(span: Any, key: str) -> Any:
    """One attribute of a span, open or ended, read from its ``_attributes`` (``span.attributes`` copies them all
    into a new mapping while the span is open); None when absent."""
    attributes = getattr(span, "_attributes", None)
    return attributes.get(key) if attributes is not None else None


def context_getter() -> Callable[[], Any]:
    """``opentelemetry.context.get_current`` without its two Python frames: the ``ContextVar``'s own ``get`` when the
    runtime context is the default contextvars one (any other, set through ``OTEL_PYTHON_CONTEXT``, keeps the API)."""
    from opentelemetry import context

    var = getattr(getattr(context, "_RUNTIME_CONTEXT", None), "_current_context", None)
    getter = getattr(var, "get", None)
    return getter if callable(getter) else context.get_current


def has_no_reader(provider: Any) -> bool:
    """Whether nothing recorded through ``provider`` right now can be read: an SDK MeterProvider with no reader
    (``opentelemetry-instrument`` installs one even with ``OTEL_METRICS_EXPORTER=none``; a reader added later starts
    empty), the API's no-op provider, or its global proxy while no SDK provider is set. Each histogram ``record``
    costs the flusher about 2 µs per local root, and the values kept for it 50 bytes. Checked at every fold."""
    if isinstance(provider, NoOpMeterProvider):
        return True
    if hasattr(provider, "_real_meter_provider"):  # the global proxy: whatever was set behind it, if anything
        provider = provider._real_meter_provider
        if provider is None:
            return True
    storages = getattr(getattr(provider, "_measurement_consumer", None), "_reader_storages", None)
    return storages is not None and not storages


def shut_down_at_exit(provider: Any) -> bool:
    """Shut an SDK provider down now if it would be shut down by its own ``atexit`` handler later (it then
    unregisters that handler: SDK ``TracerProvider`` and ``MeterProvider`` keep it in ``_atexit_handler``). At
    exit, the package's last flush must come after the exporters' last export: the host is alive until then."""
    if getattr(provider, "_atexit_handler", None) is None:
        return False
    provider.shutdown()
    return True


_LOCAL_ROOT_DELEGATES = ("_root", "_remote_parent_sampled", "_remote_parent_not_sampled")


def local_root_delegates(sampler: Any) -> tuple[str, ...] | None:
    """The attributes of a ``ParentBased`` sampler holding the delegates it consults for local roots (no parent, a
    remote one sampled or not); None for any other sampler, or a subclass that decides by itself."""
    from opentelemetry.sdk.trace.sampling import ParentBased, Sampler

    if not isinstance(sampler, ParentBased) or type(sampler).should_sample is not ParentBased.should_sample:
        return None
    if all(isinstance(vars(sampler).get(name), Sampler) for name in _LOCAL_ROOT_DELEGATES):
        return _LOCAL_ROOT_DELEGATES
    return None
