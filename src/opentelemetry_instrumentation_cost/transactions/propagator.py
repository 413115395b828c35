"""Carry the transaction name downstream as the W3C baggage entry ``cost.transaction``, with no code change.

The globally configured propagator is wrapped: on inject, the current local root's transaction is added to the
baggage of the context being injected (so the default ``tracecontext,baggage`` composite writes it); extract and
fields are the wrapped propagator's own. Into an SQS or SNS message's attributes (at most 10), the app's own context
is injected first, and the transaction's baggage only where it takes no slot the message lacks.
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

from .._log import warn_once
from .names import BAGGAGE_KEY

CUSTOMER_KEY = "cost.customer"  # ``transactions/customers.py``


class TransactionPropagator(TextMapPropagator):
    def __init__(
        self,
        wrapped: TextMapPropagator,
        transaction_of: Callable[[int], str | None],
        customer_of: Callable[[int], str] | None = None,
    ) -> None:
        self.wrapped = wrapped
        self._transaction_of = transaction_of  # trace id → the in-flight local root's transaction name
        self._customer_of = customer_of  # trace id → its customer (``transactions/customers.py``), when configured
        self.extract = wrapped.extract  # type: ignore[method-assign]  # every incoming request: no extra frame

    def inject(
        self, carrier: CarrierT, context: Context | None = None, setter: Setter[CarrierT] = default_setter
    ) -> None:
        ctx = context if context is not None else get_current()
        try:
            span_ctx = trace.get_current_span(ctx).get_span_context()
            name = self._transaction_of(span_ctx.trace_id) if span_ctx.is_valid else None
            ours = ctx
            if name is not None and baggage.get_baggage(BAGGAGE_KEY, ctx) != name:
                ours = baggage.set_baggage(BAGGAGE_KEY, name, ctx)
            if self._customer_of is not None and span_ctx.is_valid:
                customer = self._customer_of(span_ctx.trace_id)
                if customer and baggage.get_baggage(CUSTOMER_KEY, ours) != customer:
                    ours = baggage.set_baggage(CUSTOMER_KEY, customer, ours)
            if ours is not ctx and _message_attributes(carrier):
                self.wrapped.inject(carrier, ctx, setter)  # the app's attributes and trace context come first
                attributes: dict[str, Any] = carrier  # type: ignore[assignment]
                if _BAGGAGE_FIELD not in attributes and len(attributes) >= MAX_MESSAGE_ATTRIBUTES:
                    Skipped.count += 1
                    warn_once(
                        "baggage-no-room",
                        "cost: a message has no attribute left for the transaction's baggage (SQS and SNS allow "
                        "10); it was sent without it (counted in cost.transaction.baggage_skipped)",
                    )
                    return
            ctx = ours
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


MAX_MESSAGE_ATTRIBUTES = 10  # SQS and SNS
_BAGGAGE_FIELD = "baggage"


class Skipped:
    """Messages sent without the transaction's baggage for want of an attribute slot (read by the flusher)."""

    count = 0


def _message_attributes(carrier: Any) -> bool:
    """Whether ``carrier`` is an SQS or SNS message's attributes (``{"DataType": ..., "StringValue": ...}`` each,
    as the botocore and boto3sqs instrumentations write them): a map with a limit on its size."""
    return isinstance(carrier, dict) and any(isinstance(v, dict) and "DataType" in v for v in carrier.values())


def transaction_from(parent_context: Any) -> str | None:
    """The incoming transaction name, if the parent context carries one in its baggage."""
    return baggage_entry(parent_context, BAGGAGE_KEY)


def baggage_entry(parent_context: Any, key: str) -> str | None:
    """A baggage entry of the parent context, if any.

    Runs for every incoming request: the baggage is read from the context (a dict) by its key, one lookup where
    ``baggage.get_baggage`` is three calls (``tests/test_sdk_compat.py`` checks they agree).
    """
    if parent_context is None:
        return None
    entries = parent_context.get(_BAGGAGE_CONTEXT_KEY)
    if not entries:
        return None
    value = entries.get(key)
    return value if isinstance(value, str) and value else None
