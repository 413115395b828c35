"""Local roots: open a ledger share when one starts, write its cost on it just before it ends.

Children cost nothing here: the span processor names them inline. Only local roots get an ``end`` of their own:
their ledger ``Token``, set as an instance attribute that shadows ``Span.end`` for that one span. This path runs
on every request, so it is kept to a few calls and one new object (see ``bench/bench_spans.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from time import time_ns
from typing import Any, Protocol

from opentelemetry.util import types

from .. import semconv as sc
from .._log import error_once, warn_once
from .._sdk_compat import attribute_dict, write_attribute, write_attributes
from ..transactions.names import TransactionNames
from ..transactions.propagator import transaction_from
from .ledger import ComputeLedger, Token

_USD = sc.COST_USD
_COMPUTE = sc.COST_COMPUTE_USD
_TRANSACTION = sc.COST_TRANSACTION_USD
_NAME = sc.COST_TRANSACTION


class RootSink(Protocol):
    """Where each ended local root is reported (the in-process aggregates): its token, with ``transaction``,
    ``compute`` and ``end_ns`` set, and its span's resource."""

    def record(self, token: Token, resource: Any) -> None: ...


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
        self._waiting = True  # until ``ready`` is seen set (a plain attribute is cheaper than ``Event.is_set``)
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
            if self._waiting:
                self._wait_ready()
            ctx = span._context  # SpanContext: (trace_id, span_id, ...); the property costs a call
            token = RootToken(ctx[0], ctx[1])
            token.span = span
            token.tracker = self
            if self._trust_baggage and parent_context is not None:
                incoming = transaction_from(parent_context)
                if incoming is not None:
                    token.transaction = self.names.admit(incoming)
            if self._ledger.open(span._start_time or time_ns(), token) is token:  # not a root seen twice
                span.end = token
        except Exception:  # never hurt the app
            error_once("root-start", "cost: failed to track a local root")

    def _wait_ready(self) -> None:
        """The first roots wait for host detection, at most until its deadline."""
        if not self._ready.is_set():
            self._ready.wait(self._ready_by())
        self._waiting = not self._ready.is_set()

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

    def _uncommon(self, compute: float | None, token: Token) -> dict[str, types.AttributeValue]:
        """A root with service charges of its own, or whose compute price was unknown for part or all of its life.

        Never a silent 0: with no compute price there is no ``cost.compute.usd``, and ``cost.usd`` only holds
        what was priced (marked partial).
        """
        attrs = self._static.copy()
        own, services, partial_ = token.own_usd, token.services_usd, token.partial
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


def _end_root(token: RootToken, end_time: int | None = None) -> None:
    """A local root's ``end``: price it, write its cost attributes, report it, then end the span."""
    span = token.span
    if span is None or token.end_ns:  # called again through a saved reference: the root has ended
        return
    if end_time is None:
        end_time = time_ns()
    token.end_ns = end_time
    tracker = token.tracker
    try:
        del span.end  # a second end() goes to the SDK, which warns as usual
        compute = tracker._ledger.close(token, end_time)
        name = tracker.names.admit(span._name) if token.edge or token.transaction is None else token.transaction
        if tracker.guard is not None:
            tracker.guard.check_end(token, name, (compute or 0.0) + token.services_usd)
        if compute is not None and not token.partial and not token.own_usd:
            static = tracker._static
            inner = attribute_dict(span, len(static) + 4)  # the common case: straight into the span's dict
            attrs = {} if inner is None else inner
            attrs.update(static)
            attrs[_USD] = compute
            attrs[_COMPUTE] = compute
            attrs[_TRANSACTION] = compute + token.services_usd
            attrs[_NAME] = name
            if inner is None:
                span.set_attributes(attrs)
        else:
            write_attributes(span, tracker._uncommon(compute, token), {_NAME: name})
        token.transaction = name
        token.compute = compute
        token.span = None
        if tracker.sink is not None:
            tracker.sink.record(token, span._resource)
    except Exception:
        error_once("root-end", "cost: failed to price a local root")
    span.end(end_time)


class RootToken(Token):
    """A local root's ledger token, set as its span's ``end`` (an instance attribute shadowing ``Span.end``):
    one object per root, called directly, where a ``partial`` of a bound method would be three and a frame more."""

    __slots__ = ("tracker",)
    tracker: RootTracker
    __call__ = _end_root
