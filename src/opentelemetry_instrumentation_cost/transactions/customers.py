"""Cost per customer: an optional dimension, taken where ``OTEL_PYTHON_COST_CUSTOMER`` says (a span attribute the
app sets on its server span, such as ``enduser.id`` or ``tenant.id``, or a baggage entry of that name), carried
downstream as the W3C baggage entry ``cost.customer`` like the transaction name, and bounded like it: cleaned and cut
to 128 characters, at most ``OTEL_PYTHON_COST_MAX_CUSTOMERS`` distinct values per process, the rest ``<other>``.
Nothing is read from request payloads. Off by default: then no root pays anything for it."""

from __future__ import annotations

from typing import Any

from .._sdk_compat import attribute_of
from .names import TransactionNames
from .propagator import CUSTOMER_KEY as BAGGAGE_KEY
from .propagator import baggage_entry


class Customers:
    def __init__(self, key: str, max_distinct: int) -> None:
        self.key = key
        self.names = TransactionNames(max_distinct)  # the same cleaning and cap as transaction names

    def incoming(self, parent_context: Any) -> str:
        """At a local root's start: the customer its caller carried (``cost.customer``, else the named entry)."""
        raw = baggage_entry(parent_context, BAGGAGE_KEY) or baggage_entry(parent_context, self.key)
        return self.names.admit(raw) if raw else ""

    def of_span(self, span: Any, known: str) -> str:
        """While the root is open or as it ends: the app's attribute, once it has set it, else what was known."""
        raw = attribute_of(span, self.key)
        if raw is None or isinstance(raw, (bool, tuple, list)):
            return known
        return self.names.admit(str(raw))
