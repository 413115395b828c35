"""Finding local roots as spans start, at the cost of one parent check per span.

The SDK calls every registered SpanProcessor three times per span (``on_start``, ``_on_ending``, ``on_end``),
about 0.4 µs here even when they do nothing. So instead of registering a processor, the SDK's multi-processors
(the active processor of every ``TracerProvider``) get an ``on_start`` that runs their processors and then the
parent check; ``uninstall`` restores theirs. It is patched on the class, not swapped per instance: an instance whose
``__class__`` was reassigned defeats CPython's attribute caches, which cost 0.1 µs on each of the SDK's three calls.
A provider with any other active processor gets the same ``on_start`` on a plain ``SpanProcessor`` (``attach``).

A child span's whole cost is this ``on_start``: it reads the SDK's ``SpanContext`` tuples by index and writes the
transaction name straight into the attribute dict of a span that has just started (properties and
``set_attribute`` would each cost a call per span). ``tests/test_sdk_compat.py`` fails if the SDK changes that shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ConcurrentMultiSpanProcessor, SpanProcessor, SynchronousMultiSpanProcessor
from opentelemetry.trace import SpanKind

from .. import semconv as sc
from .._log import error_once
from .ledger import Token
from .roots import RootTracker

_NAME = sc.COST_TRANSACTION
# A CLIENT span with no parent at all is an outgoing call that no request reached (start-up, a worker thread that
# did not get the request's context): never a transaction of its own, no compute share. Its AWS charges are
# <untraced>. (One with a remote parent is work a caller asked for, and is a local root.)
_CLIENT = SpanKind.CLIENT
_NO_ROOTS: dict[int, Token] = {}
_MULTI = (SynchronousMultiSpanProcessor, ConcurrentMultiSpanProcessor)


class RootDetector:
    """What ``on_start`` consults: the tracker (None while uninstrumented) and its roots in flight, by trace id."""

    tracker: RootTracker | None = None
    roots: dict[int, Token] = _NO_ROOTS

    def use(self, tracker: RootTracker | None) -> None:
        self.roots = _NO_ROOTS if tracker is None else tracker.roots
        self.tracker = tracker


DETECTOR = RootDetector()


def _on_start(base_on_start: Callable[..., None] | None) -> Callable[..., None]:
    """An ``on_start`` that runs ``base_on_start`` (or, when None, loops over ``self._span_processors`` itself,
    as the synchronous multi-processor does, saving a call per span) and then handles the span's cost."""

    def on_start(self: Any, span: Any, parent_context: Context | None = None) -> None:
        if base_on_start is None:
            for processor in self._span_processors:
                processor.on_start(span, parent_context=parent_context)
        else:
            base_on_start(self, span, parent_context)
        try:
            parent = span._parent
            if parent is None or parent[2]:  # SpanContext: (trace_id, span_id, is_remote, ...): a local root
                tracker = DETECTOR.tracker
                if tracker is not None and (parent is not None or span._kind is not _CLIENT):  # the property: a call
                    tracker.started(span, parent_context)
                return
            token = DETECTOR.roots.get(parent[0])
            if token is None:
                return
            name = token.transaction
            attributes = span._attributes  # mutable: the span has only just started
            maxlen = attributes.maxlen
            if name is not None and (maxlen is None or len(attributes._dict) < maxlen):
                attributes._dict[_NAME] = name
            elif DETECTOR.tracker is not None:
                DETECTOR.tracker.child_started(span, token)
        except Exception:  # never hurt the app
            error_once("span-start", "cost: failed to inspect a starting span")

    return on_start


class _FallbackProcessor(SpanProcessor):
    """For a provider whose active processor does not run the patched ``on_start`` (see ``attach``)."""

    _span_processors = ()
    on_start = _on_start(None)


def install() -> None:
    """Patch the SDK's multi-processors (idempotent); every provider using them reports its local roots."""
    for cls in _MULTI:
        original = cls.__dict__["on_start"]
        if not hasattr(original, "__wrapped__"):
            hooked = _on_start(None if cls is SynchronousMultiSpanProcessor else original)
            hooked.__wrapped__ = original  # type: ignore[attr-defined]
            cls.on_start = hooked  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore the SDK's ``on_start``. It is a plain function, not a wrapt proxy (calling one costs about 7,000
    instructions here, four times the whole child-span path), so ``instrumentation.utils.unwrap`` does not apply."""
    for cls in _MULTI:
        hooked = cls.__dict__["on_start"]
        if hasattr(hooked, "__wrapped__"):
            cls.on_start = hooked.__wrapped__  # type: ignore[method-assign]


def attach(provider: Any) -> None:
    """Give ``provider`` a fallback processor unless its active processor runs the patched ``on_start``
    (idempotent; the fallback stays, inert, after uninstrument). A subclass that overrides ``on_start`` gets one
    too: if it also calls the SDK's, the tracker ignores the second sighting of a root."""
    on_start = getattr(type(provider._active_span_processor), "on_start", None)
    if not hasattr(on_start, "__wrapped__") and not getattr(provider, "_otel_cost_fallback", False):
        provider.add_span_processor(_FallbackProcessor())
        provider._otel_cost_fallback = True
