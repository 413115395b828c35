"""The one place that touches SDK internals, with feature detection and a public-API fallback.

Why: the SDK freezes a span's attributes before ``_on_ending``/``on_end`` (SDK >= 1.43), and each attribute written
through ``set_attribute(s)`` costs about 0.7 µs. The cost of a local root is only known as it ends, so the package
writes its already-clean primitive values into the span's attribute dict just before the SDK's own ``end`` runs.
``tests/test_sdk_compat.py`` fails loudly if an SDK release changes the shape relied on here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.util import types


def write_attributes(
    span: Any, common: Mapping[str, types.AttributeValue], own: Mapping[str, types.AttributeValue]
) -> None:
    """Add ``common`` then ``own`` to an open span, within its attribute count limit."""
    try:
        bounded = span._attributes
        inner = bounded._dict
        maxlen = bounded.maxlen
        fast = type(inner) is dict and not bounded._immutable
    except AttributeError:
        fast = False
    if fast and (maxlen is None or len(inner) + len(common) + len(own) <= maxlen):
        inner.update(common)
        inner.update(own)
        return
    span.set_attributes({**common, **own})  # public path: applies limits and eviction


def write_attribute(span: Any, key: str, value: types.AttributeValue) -> None:
    """One attribute on a span just started (the hot path for every child span)."""
    bounded = span._attributes
    inner = bounded._dict
    maxlen = bounded.maxlen
    if not bounded._immutable and (maxlen is None or len(inner) < maxlen):
        inner[key] = value
    else:
        span.set_attribute(key, value)
