"""Carry the transaction name downstream as the W3C baggage entry ``cost.transaction``, with no code change.

The globally configured propagator is wrapped: on inject, the current local root's transaction is added to the
baggage of the context being injected (so the default ``tracecontext,baggage`` composite writes it); extract and
fields are the wrapped propagator's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry.baggage import _BAGGAGE_KEY as _BAGGAGE_CONTEXT_KEY
from opentelemetry.context import Context, get_current
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)

from .names import BAGGAGE_KEY


class TransactionPropagator(TextMapPropagator):
    def __init__(self, wrapped: TextMapPropagator, transaction_of: Callable[[int], str | None]) -> None:
        self.wrapped = wrapped
        self._transaction_of = transaction_of  # trace id → the in-flight local root's transaction name
        self.extract = wrapped.extract  # type: ignore[method-assign]  # every incoming request: no extra frame

    def inject(
        self, carrier: CarrierT, context: Context | None = None, setter: Setter[CarrierT] = default_setter
    ) -> None:
        ctx = context if context is not None else get_current()
        try:
            span_ctx = trace.get_current_span(ctx).get_span_context()
            name = self._transaction_of(span_ctx.trace_id) if span_ctx.is_valid else None
            if name is not None and baggage.get_baggage(BAGGAGE_KEY, ctx) != name:
                ctx = baggage.set_baggage(BAGGAGE_KEY, name, ctx)
        except Exception:  # never break the app's outgoing call
            pass
        self.wrapped.inject(carrier, ctx, setter)

    def extract(
        self, carrier: CarrierT, context: Context | None = None, getter: Getter[CarrierT] = default_getter
    ) -> Context:
        return self.wrapped.extract(carrier, context, getter)

    @property
    def fields(self) -> set[str]:
        return self.wrapped.fields


def transaction_from(parent_context: Any) -> str | None:
    """The incoming transaction name, if the parent context carries one in its baggage.

    Runs for every incoming request: the baggage is read from the context (a dict) by its key, one lookup where
    ``baggage.get_baggage`` is three calls (``tests/test_sdk_compat.py`` checks they agree).
    """
    if parent_context is None:
        return None
    entries = parent_context.get(_BAGGAGE_CONTEXT_KEY)
    if not entries:
        return None
    value = entries.get(BAGGAGE_KEY)
    return value if isinstance(value, str) and value else None
