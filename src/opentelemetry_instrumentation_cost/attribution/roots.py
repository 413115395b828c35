"""Local roots: open a ledger share when one starts, write its cost on it just before it ends.

Children cost nothing here: the span processor returns after one parent check, and only local roots get an
``end`` of their own (an instance attribute that shadows ``Span.end`` for that one span). This path runs on every
request, so it is kept to a few calls (see ``bench/bench_spans.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from functools import partial
from time import time_ns
from typing import Any, Protocol

from opentelemetry.util import types

from .. import semconv as sc
from .._log import error_once, warn_once
from .._sdk_compat import write_attribute, write_attributes
from ..transactions.names import TransactionNames
from ..transactions.propagator import transaction_from
from .ledger import ComputeLedger, Token

_USD = sc.COST_USD
_COMPUTE = sc.COST_COMPUTE_USD
_TRANSACTION = sc.COST_TRANSACTION_USD
_NAME = sc.COST_TRANSACTION


class RootSink(Protocol):
    """Where each ended local root is reported (the in-process aggregates)."""

    def record(
        self, span: Any, token: Token, transaction: str, compute: float | None, end_ns: int, exceeded: bool = False
    ) -> None: ...


class RootTracker:
    """Opens and closes local roots in the ledger and writes their cost attributes."""

    def __init__(
        self,
        ledger: ComputeLedger,
        ready: threading.Event,
        ready_by: Callable[[], float],
        names: TransactionNames,
        trust_baggage: bool,
    ) -> None:
        self._ledger = ledger
        self.roots = ledger.roots  # trace id → innermost local root in flight (read by the span processor)
        self._ready = ready
        self._ready_by = ready_by  # seconds left to wait for host detection
        self.names = names
        self._trust_baggage = trust_baggage
        self.sink: RootSink | None = None
        self.guard: Any = None  # budgets.guard.BudgetGuard when budgets are configured
        self._static: dict[str, types.AttributeValue] = {sc.COST_PRICING_SOURCE: sc.SOURCE_UNKNOWN}

    def set_static(self, attrs: Mapping[str, types.AttributeValue]) -> None:
        """Attributes every local root gets (host, source, currency); swapped whole, so readers need no lock."""
        static = dict(attrs)
        if static.get(sc.COST_PRICING_SOURCE) != sc.SOURCE_UNKNOWN:
            static[sc.COST_CURRENCY] = sc.CURRENCY_USD
        self._static = static

    def started(self, span: Any, parent_context: Any) -> None:
        try:
            if not self._ready.is_set():
                self._ready.wait(self._ready_by())
            ctx = span._context  # SpanContext: (trace_id, span_id, ...); the property costs a call
            seen = self.roots.get(ctx[0])
            if seen is not None and seen.span is span:  # reported twice (a fallback beside a patched processor)
                return
            token = self._ledger.open(span._start_time or time_ns(), ctx[0], ctx[1])
            token.span = span
            if self._trust_baggage and parent_context is not None:
                incoming = transaction_from(parent_context)
                if incoming is not None:
                    token.transaction = self.names.admit(incoming)
            span.end = partial(self._end, span, token, span.end)
        except Exception:  # never hurt the app
            error_once("root-start", "cost: failed to track a local root")

    def share_roots(self, index: dict[int, Token]) -> None:
        """Index the roots in flight in ``index`` from now on (see ``processor.RootDetector``)."""
        self._ledger.share_index(index)
        self.roots = index

    def transaction_of(self, token: Token) -> str:
        """The transaction a root belongs to: from baggage, else (at the edge) the root span's name, cached on the
        token for its children and outgoing calls (the root itself takes its final name at its end)."""
        name = token.transaction
        if name is None:
            name = token.transaction = self.names.admit(token.span.name)
            token.edge = True
        return name

    def transaction_for_trace(self, trace_id: int) -> str | None:
        token = self.roots.get(trace_id)
        return None if token is None else self.transaction_of(token)

    def child_started(self, span: Any, token: Token) -> None:
        """A child span whose transaction is not named yet (its edge root's first child), or whose attributes are
        full: the processor's inline path handles every other child."""
        write_attribute(span, _NAME, token.transaction or self.transaction_of(token))

    def _end(self, span: Any, token: Token, original_end: Callable[..., None], end_time: int | None = None) -> None:
        try:
            del span.end  # a second end() goes to the SDK, which warns as usual
            if end_time is None:
                end_time = time_ns()
            compute, partial_ = self._ledger.close(token, end_time)
            name = self.names.admit(span.name) if token.edge or token.transaction is None else token.transaction
            if self.guard is not None:
                self.guard.check_end(token, name, (compute or 0.0) + token.services_usd)
            if compute is not None and not partial_ and not token.own_usd:
                own: dict[str, types.AttributeValue] = {
                    _USD: compute,
                    _COMPUTE: compute,
                    _TRANSACTION: compute + token.services_usd,
                    _NAME: name,
                }
                write_attributes(span, self._static, own)
            else:
                write_attributes(span, self._uncommon(compute, partial_, token), {_NAME: name})
            if self.sink is not None:
                self.sink.record(span, token, name, compute, end_time, token.budget_exceeded)
        except Exception:
            error_once("root-end", "cost: failed to price a local root")
        original_end(end_time)

    def _uncommon(self, compute: float | None, partial_: bool, token: Token) -> dict[str, types.AttributeValue]:
        """A root with service charges of its own, or whose compute price was unknown for part or all of its life.

        Never a silent 0: with no compute price there is no ``cost.compute.usd``, and ``cost.usd`` only holds
        what was priced (marked partial).
        """
        attrs = self._static.copy()
        own, services = token.own_usd, token.services_usd
        if own:
            attrs[sc.COST_SERVICE_USD] = own
            attrs[sc.COST_CURRENCY] = sc.CURRENCY_USD
        if compute is not None:
            attrs[_COMPUTE] = compute
            attrs[_USD] = compute + own
            attrs[_TRANSACTION] = compute + services
        else:
            warn_once("root-unpriced", "cost: no price is known for this host; local roots carry no cost.compute.usd")
            attrs[sc.COST_PRICING_SOURCE] = sc.SOURCE_UNKNOWN
            if own:
                attrs[_USD] = own
            if services:
                attrs[sc.COST_CURRENCY] = sc.CURRENCY_USD
                attrs[_TRANSACTION] = services
            partial_ = bool(services)  # nothing priced at all is said by the unknown source alone
        if partial_:
            attrs[sc.COST_PARTIAL] = True
        return attrs
