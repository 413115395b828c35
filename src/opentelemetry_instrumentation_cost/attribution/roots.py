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
from typing import Any

from opentelemetry.util import types

from .. import semconv as sc
from .._log import error_once, warn_once
from .._sdk_compat import write_attributes
from .ledger import ComputeLedger, Token

_USD = sc.COST_USD
_COMPUTE = sc.COST_COMPUTE_USD
_TRANSACTION = sc.COST_TRANSACTION_USD


class RootTracker:
    """Opens and closes local roots in the ledger and writes their cost attributes."""

    def __init__(self, ledger: ComputeLedger, ready: threading.Event, ready_by: Callable[[], float]) -> None:
        self._ledger = ledger
        self._ready = ready
        self._ready_by = ready_by  # seconds left to wait for host detection
        self._static: dict[str, types.AttributeValue] = {sc.COST_PRICING_SOURCE: sc.SOURCE_UNKNOWN}

    def set_static(self, attrs: Mapping[str, types.AttributeValue]) -> None:
        """Attributes every local root gets (host, source, currency); swapped whole, so readers need no lock."""
        static = dict(attrs)
        if static.get(sc.COST_PRICING_SOURCE) != sc.SOURCE_UNKNOWN:
            static[sc.COST_CURRENCY] = sc.CURRENCY_USD
        self._static = static

    def started(self, span: Any) -> None:
        try:
            if not self._ready.is_set():
                self._ready.wait(self._ready_by())
            ctx = span.context
            token = self._ledger.open(span.start_time or time_ns(), ctx.trace_id, ctx.span_id)
            span.end = partial(self._end, span, token, span.end)
        except Exception:  # never hurt the app
            error_once("root-start", "cost: failed to track a local root")

    def _end(self, span: Any, token: Token, original_end: Callable[..., None], end_time: int | None = None) -> None:
        try:
            del span.end  # a second end() goes to the SDK, which warns as usual
            if end_time is None:
                end_time = time_ns()
            compute, partial_ = self._ledger.close(token, end_time)
            if compute is not None and not partial_ and not token.own_usd:
                own = {_USD: compute, _COMPUTE: compute, _TRANSACTION: compute + token.services_usd}
                write_attributes(span, self._static, own)
            else:
                write_attributes(span, self._uncommon(compute, partial_, token), {})
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
