"""A local root in flight, as the ledger knows it (``ledger.py``); ``_cells.Token`` is the same in C."""

from __future__ import annotations

from typing import Any


class Token:
    """A local root in flight: its position in the integrals when it opened, its children's costs, and (once it
    ended) its compute cost."""

    # Set by ``ComputeLedger.open`` (not here: this runs on every request): ``acc`` and ``unpriced``, the
    # integrals when it opened; ``prev``, an outer local root of the same trace in this process (a loopback call).
    acc: float
    unpriced: float
    prev: Token | None
    __slots__ = (
        "acc",
        "budget_exceeded",
        "by_service",
        "compute",
        "customer",
        "edge",
        "end_ns",
        "own_usd",
        "partial",
        "prev",
        "rate_exceeded",
        "services_usd",
        "span_id",
        "span_ref",
        "trace_id",
        "transaction",
        "unpriced",
    )

    def __init__(self, trace_id: int, span_id: int) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.services_usd = 0.0  # every service charge in the transaction (this process)
        self.own_usd = 0.0  # the service charges that landed on the root span itself
        self.by_service: dict[str, float] | None = None  # service charges per AWS service, for metrics
        self.transaction: str | None = None  # from incoming baggage, or (edge) the root's name once first asked
        self.customer = ""  # from incoming baggage or the root's attribute, when OTEL_PYTHON_COST_CUSTOMER is set
        self.edge = self.budget_exceeded = self.rate_exceeded = self.partial = False
        self.span_ref: Any = None  # a weak reference to the span (see ``attribution.roots.SpanRef``)
        self.compute: float | None = None  # set as it ends, with end_ns
        self.end_ns = 0

    def live_span(self) -> Any:
        """The root's span while it is open and the app still holds it; else None."""
        ref = self.span_ref
        return None if ref is None else ref()


def unlink(innermost: Token, token: Token) -> None:
    """Take an ended ``token`` out of the chain of outer roots under ``innermost`` (a few links at most)."""
    node = innermost
    while node.prev is not None:
        if node.prev is token:
            node.prev = token.prev
            return
        node = node.prev
