"""Local roots: open a ledger share when one starts, write its cost on it just before it ends.

Children cost nothing here: the span processor names them inline. Only local roots get an ``end`` of their own
(``RootEnd``), set as an instance attribute that shadows ``Span.end`` for that one span. This path runs on every
request, so it is kept to a few calls and three new objects (see ``bench/bench_spans.py``).

The ledger's token (which children and AWS calls find by trace id) holds the span only weakly (``SpanRef``), and
only the span holds its ``RootEnd``. An app that drops a root without ending it (a bug, but a common one) would
otherwise keep every such span alive and in flight forever: memory growing, and every later request's share
divided among ghosts. Such a span is collected with its ``RootEnd`` (by the cycle collector: they refer to each
other), its share is closed at the next root or flush and recorded under the transaction ``<unended>`` with one
warning, so attributed + idle still equals the host's cost.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from time import time_ns
from typing import Any, Protocol

from opentelemetry.util import types

from .. import semconv as sc
from .._log import error_once, warn_once
from .._sdk_compat import attribute_dict, write_attribute, write_attributes
from ..transactions.names import UNENDED, TransactionNames
from ..transactions.propagator import transaction_from
from .ledger import ComputeLedger, Token
from .region import _cells

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
        self._token = NativeRootToken if ledger.native else RootToken
        self.roots = ledger.roots  # trace id → innermost local root in flight (read by the span processor)
        self._ready = ready
        self._waiting = True  # until ``ready`` is seen set (a plain attribute is cheaper than ``Event.is_set``)
        self._ready_by = ready_by  # seconds left to wait for host detection
        self.names = names
        self._trust_baggage = trust_baggage
        self.sink: RootSink | None = None
        self.guard: Any = None  # budgets.guard.BudgetGuard when budgets are configured
        self._static: dict[str, types.AttributeValue] = {sc.COST_PRICING_SOURCE: sc.SOURCE_UNKNOWN}
        self.unended: deque[SpanRef] = deque()  # roots whose span was collected without end(), to close
        self.customers: Any = None  # ``transactions.customers.Customers`` when OTEL_PYTHON_COST_CUSTOMER is set

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
            if self.unended:
                self.close_unended()
            ctx = span._context  # SpanContext: (trace_id, span_id, ...); the property costs a call
            token = self._token(ctx[0], ctx[1])
            token.tracker = self
            token.span_ref = ref = SpanRef(span, _collected)
            ref.token = token
            ref.resource = span._resource
            if self._trust_baggage and parent_context is not None:
                incoming = transaction_from(parent_context)
                if incoming is not None:
                    token.transaction = self.names.admit(incoming)
                if self.customers is not None:
                    token.customer = self.customers.incoming(parent_context)
            start = span._start_time or time_ns()
            opened = self._ledger.c_open(start, token, ctx[0], self.roots)  # the C path, else the Python one
            if opened is None:
                opened = self._ledger.open_locked(start, token)
            if opened is token:
                span.end = end = RootEnd()
                end.span = span
                end.token = token
            else:  # a root seen twice: this token goes, and must not report the span's collection later
                token.span_ref = None
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
            span = token.live_span()
            name = token.transaction = UNENDED if span is None else self.names.admit(span.name)
            token.edge = True
        return name

    def transaction_for_trace(self, trace_id: int) -> str | None:
        token = self.roots.get(trace_id)
        return None if token is None else self.transaction_of(token)

    def customer_for_trace(self, trace_id: int) -> str:
        """The customer of the trace's local root in flight: the app's attribute once set, else its caller's."""
        token = self.roots.get(trace_id)
        if token is None or self.customers is None:
            return ""
        span = token.live_span()
        return token.customer if span is None else self.customers.of_span(span, token.customer)

    def close_unended(self) -> None:
        """Close the shares of roots whose span was collected without ``end()`` and report them as ``<unended>``
        (on the next root's thread or the flusher's: the collector may run anywhere, even under the ledger's lock)."""
        while self.unended:
            try:
                ref = self.unended.popleft()
            except IndexError:  # another thread took the last one
                return
            try:
                self._close_unended(ref)
            except Exception:  # the next root must still be tracked
                error_once("root-unended-failed", "cost: failed to close a local root dropped without end()")

    def _close_unended(self, ref: SpanRef) -> None:
        token = ref.token
        if token.end_ns:
            return
        token.end_ns = now = time_ns()
        token.compute = self._ledger.close(token, now)
        token.transaction = UNENDED
        token.span_ref = None
        warn_once(
            "root-unended",
            "cost: a local root span was dropped without end(); its compute share is recorded under the transaction %s",
            UNENDED,
        )
        if self.sink is not None:
            self.sink.record(token, ref.resource)

    def after_fork(self, ready: threading.Event) -> None:
        """In a forked child the roots in flight are the parent's: their spans become plain SDK spans again (an
        ``end()`` in the child goes to the SDK, uncosted), and their collection is not reported. ``ready``: the
        child's own host-detection event."""
        self._ready = ready
        self._waiting = not ready.is_set()
        tokens = list(self.roots.values())
        while tokens:
            token = tokens.pop()
            if token.prev is not None:
                tokens.append(token.prev)
            span = token.live_span()
            token.span_ref = None
            end = getattr(span, "__dict__", {}).get("end")
            if type(end) is RootEnd and end.token is token:
                del span.end
        self.unended.clear()

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


def _end_root(end: RootEnd, end_time: int | None = None) -> None:
    """A local root's ``end``: price it, write its cost attributes, report it, then end the span."""
    token = end.token
    if token.end_ns:  # called again through a saved reference: the root has ended
        return
    span = end.span
    if end_time is None:
        end_time = time_ns()
    token.end_ns = end_time
    tracker = token.tracker
    try:
        del span.end  # a second end() goes to the SDK, which warns as usual
        ledger = tracker._ledger
        compute = ledger.c_close(end_time, token, token.trace_id, tracker.roots)  # the C path, else the Python one
        if compute is None:
            compute = ledger.close_locked(token, end_time)
        elif token.partial and compute <= 0.0:
            compute = None
        name = token.transaction
        if name is None or token.edge:  # named at the edge: the root's name now (seen before: one dict read)
            raw = span._name
            name = tracker.names.known.get(raw) or tracker.names.admit(raw)
        if tracker.customers is not None:
            token.customer = tracker.customers.of_span(span, token.customer)
        if tracker.guard is not None:
            tracker.guard.check_end(token, name, (compute or 0.0) + token.services_usd)
        if compute is not None and not token.partial and not token.own_usd:
            static = tracker._static
            inner = attribute_dict(span, len(static) + 4)  # the common case: straight into the span's dict
            if inner is not None:
                inner.update(static)
                inner[_USD] = compute
                inner[_COMPUTE] = compute
                inner[_TRANSACTION] = compute + token.services_usd
                inner[_NAME] = name
            else:  # at its attribute limit: what fits, the app's attributes kept
                own: dict[str, types.AttributeValue] = {_USD: compute, _COMPUTE: compute, _NAME: name}
                own[_TRANSACTION] = compute + token.services_usd
                write_attributes(span, static, own)
        else:
            write_attributes(span, tracker._uncommon(compute, token), {_NAME: name})
        token.transaction = name
        token.compute = compute
        token.span_ref = None  # it refers back to the token: freed now, not by the cycle collector
        if tracker.sink is not None:
            tracker.sink.record(token, span._resource)
    except Exception:
        error_once("root-end", "cost: failed to price a local root")
    span.end(end_time)


def _collected(ref: SpanRef) -> None:
    """A root's span was collected: queue it, unless it ended. No lock here (see ``RootTracker.close_unended``)."""
    try:
        token = ref.token
        if not token.end_ns:
            token.tracker.unended.append(ref)
    except Exception:  # a weakref callback must never raise
        pass


class SpanRef(weakref.ref):  # type: ignore[type-arg]
    """A local root's span, weakly, with what reporting it needs if the app drops it without ending it."""

    __slots__ = ("resource", "token")
    token: RootToken
    resource: Any


class RootToken(Token):
    """A local root's ledger token, with the tracker that closes it."""

    __slots__ = ("tracker",)
    tracker: RootTracker


class NativeRootToken(_cells.Token if _cells is not None else Token):  # type: ignore[misc]
    """The same, over the C ``Token`` (``_cells.c``) where it was built: made for a few hundred instructions."""

    __slots__ = ("tracker",)
    tracker: RootTracker


class RootEnd:
    """A local root's ``end``: an instance attribute shadowing ``Span.end``, called directly (a ``partial`` of a
    bound method would be two objects more and a frame). It holds the span: ``tracer.start_span(...).end()`` drops
    the app's only reference to the span before the call."""

    __slots__ = ("span", "token")
    span: Any
    token: RootToken
    __call__ = _end_root
