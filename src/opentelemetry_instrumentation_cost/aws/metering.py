"""Per call: meter, price and attach one AWS call's charge (imported when the app creates its first client).

``before-parameter-build`` keeps the caller's params (read only); ``before-call`` lets a meter ask AWS to report
billed units in botocore's serialized request, never in a dict the caller or a hook holds; ``after-call`` (fired
for error responses too) meters, prices and attaches the charge:

* with the OpenTelemetry botocore instrumentation, on its CLIENT span for this call (current during the events);
* without it, on the enclosing span (the local root's own cost, or a child span's), so totals stay right;
* and always into the local root's ``cost.transaction.usd``; with no local root (a call at start-up, or on a
  thread no trace reaches), into the aggregates as the transaction ``<untraced>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.trace import INVALID_SPAN
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.util import types

from .. import semconv as sc
from .._log import error_once
from .._sdk_compat import context_getter, write_attributes
from ..pricing.charges import price_metering
from . import registry
from .own import is_own_call
from .services import bedrock
from .types import Call, Meter, Metering

_STATE_KEY = "otel_cost"
_BOTOCORE_SCOPE = "opentelemetry.instrumentation.botocore"
_STREAMING = ("ConverseStream", "InvokeModelWithResponseStream")
_current_context = context_getter()
_NONE: dict[str, types.AttributeValue] = {}


class CallMeter:
    """The event handlers; reports to the runtime's price book and ledger."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.enabled = True
        self._plans: dict[Any, _Plan] = {}  # per botocore OperationModel (botocore caches those per client)

    # per call ------------------------------------------------------------------------------------------------
    def before_parameter_build(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        """Keep the caller's params for ``after-call`` (which is not given them); read only, never changed."""
        try:
            if is_own_call():  # the package's own (Price List, spot prices): invisible (``aws/own.py``)
                return
            plan = self._plans.get(model)
            if plan is None:
                plan = self._plans[model] = _Plan(model)
            if plan.meter is not None:
                context[_STATE_KEY] = [plan, params, False, False]  # ``before_call``: units asked for, sent
        except Exception:
            error_once("aws-before", "cost: failed to prepare an AWS call for metering")

    def before_call(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        """Let the meter ask AWS for the billed units in the serialized request (``params`` here is botocore's
        request dict); in enforce mode, refuse a call whose transaction is already over budget (raises into the
        boto3 call). A handler that answered the call before this one (a ``Stubber``) means nothing is sent."""
        kept = context.get(_STATE_KEY)
        if kept is not None:
            kept[3] = True  # no handler answered the call before this one: its response will be botocore's own
            if kept[0].prepare is not None and self.enabled:
                try:
                    plan = kept[0]
                    kept[2] = plan.prepare(plan.operation, kept[1], params, plan.accepts)
                except Exception:
                    error_once("aws-prepare", "cost: failed to ask AWS for an AWS call's billed units")
        guard = self.runtime.guard
        if guard is None or not guard.enforce or not self.enabled or is_own_call():
            return
        try:
            root = self.runtime.ledger.root_of(_current_span().get_span_context().trace_id)
            name = self.runtime.tracker.transaction_of(root) if root is not None else None
        except Exception:
            error_once("aws-guard", "cost: failed to check a budget")
            return
        if root is not None and name is not None:
            guard.check_call(root, name, f"{model.service_model.service_name}.{model.name}")

    def after_call(
        self, http_response: Any, parsed: dict[str, Any] | None, model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        try:
            kept = context.get(_STATE_KEY)
            if kept is None or not self.enabled:
                return
            plan, params, injected, sent = kept
            call = Call(plan.service, plan.operation, params, parsed, http_response, context)
            metering = plan.meter.measure(call)
            if injected and parsed is not None:  # None: a test of the app's mocked Endpoint.make_request
                plan.meter.restore(parsed)
            if metering is None:
                return
            root = self._attach(call, metering)
            if plan.streams and sent and parsed is not None and "stream" in parsed:  # a stubbed answer: untouched
                parsed["stream"] = bedrock.metered_stream(
                    parsed["stream"], call.operation, lambda tokens: self._stream_usage(call, root, tokens)
                )
        except Exception:
            error_once("aws-after", "cost: failed to meter an AWS call")

    def _attach(self, call: Call, metering: Metering) -> Any:
        """Price the call and put the charge where it belongs; returns the local root it counted into."""
        runtime = self.runtime
        usd, source, partial = price_metering(runtime.book, call.service, call.region, metering)
        runtime.aggregator.usage.record(
            call.region,
            [(u.price_key or f"{call.service}/{u.unit}", u.quantity) for u in metering.usages if u.quantity],
        )
        span = _current_span()
        ctx = span.get_span_context()  # a tuple: trace id, span id, ...
        root = runtime.ledger.root_of(ctx[0])
        on_root = root is not None and root.span_id == ctx[1]  # its end writes cost.usd = compute + this
        if _is_call_span(span):
            write_attributes(span, _NONE, _call_attributes(metering, usd, source, partial, on_root))
        elif not on_root and usd is not None and span.is_recording():
            _accumulate(span, usd)
        if not usd:
            return root
        if root is None:
            runtime.record_untraced(call.service, usd)
            return None
        runtime.ledger.add_service_cost(root, usd, on_root, call.service)
        guard = runtime.guard
        if guard is not None:  # the call that crossed the ceiling is named in the event
            guard.observe(root, runtime.tracker.transaction_of(root), f"{call.service}.{call.operation}")
        return root

    def _stream_usage(self, call: Call, root: Any, tokens: dict[str, float]) -> None:
        """A streamed response's usage, known only when its last event arrives: charged to the local root, or, if
        that has ended meanwhile (its cost already reported), to ``<untraced>``."""
        try:
            model = bedrock.model_key(str(call.params.get("modelId", "")))
            usages = bedrock.token_usages(model, tokens)
            usd = price_metering(self.runtime.book, call.service, call.region, Metering(usages))[0]
            self.runtime.aggregator.usage.record(call.region, [(u.price_key or "", u.quantity) for u in usages])
            if not usd:
                return
            if root is None or root.end_ns:
                self.runtime.record_untraced(call.service, usd)
            else:
                self.runtime.ledger.add_service_cost(root, usd, True, call.service)
        except Exception:
            error_once("aws-stream", "cost: failed to meter a streamed Bedrock response")


def _current_span() -> Any:
    """The current span, read from the context by its key (``trace.get_current_span()`` is four calls deep, and
    this runs on every AWS call). An invalid span's trace id, 0, is never a local root's."""
    return _current_context().get(_SPAN_KEY) or INVALID_SPAN


class _Plan:
    """What is known about an operation before any call to it, worked out once."""

    __slots__ = ("accepts", "meter", "operation", "prepare", "service", "streams")

    def __init__(self, model: Any) -> None:
        self.service: str = model.service_model.service_name
        self.operation: str = model.name
        self.meter = meter = registry.meter_for(self.service)
        shape = model.input_shape
        self.accepts = frozenset(shape.members) if shape is not None else frozenset()  # input member names
        self.prepare: Callable[[str, Any, dict[str, Any], frozenset[str]], bool] | None = None  # where overridden
        if meter is not None and type(meter).prepare is not Meter.prepare:
            self.prepare = meter.prepare
        self.streams = self.operation in _STREAMING


def _is_call_span(span: Any) -> bool:
    """The botocore instrumentation's CLIENT span, current during this call's events (its tracers are named
    ``opentelemetry.instrumentation.botocore[.<service>]``)."""
    scope = getattr(span, "_instrumentation_scope", None)  # SDK spans; read directly (see _sdk_compat)
    return scope is not None and scope.name.startswith(_BOTOCORE_SCOPE) and span.is_recording()


def _call_attributes(
    metering: Metering, usd: float | None, source: str, partial: bool, on_root: bool
) -> dict[str, types.AttributeValue]:
    """The call span's attributes; on a call span that is itself a local root, the root writes the sums."""
    attrs: dict[str, types.AttributeValue] = {} if on_root else {sc.COST_PRICING_SOURCE: source}
    usages = metering.usages
    if len(usages) == 1:
        attrs[sc.COST_SERVICE_UNITS] = usages[0].unit
        attrs[sc.COST_SERVICE_QUANTITY] = usages[0].quantity
    elif usages:
        attrs[sc.COST_SERVICE_UNITS] = [u.unit for u in usages]
        attrs[sc.COST_SERVICE_QUANTITY] = [u.quantity for u in usages]
    if usd is not None and not on_root:
        attrs[sc.COST_USD] = attrs[sc.COST_SERVICE_USD] = usd
        attrs[sc.COST_CURRENCY] = sc.CURRENCY_USD
    if metering.estimated:
        attrs[sc.COST_ESTIMATED] = True
    if partial:
        attrs[sc.COST_PARTIAL] = True
    return attrs


def _accumulate(span: Any, usd: float) -> None:
    """Add a charge to an enclosing (non-root) span that may already carry others."""
    attrs = getattr(span, "attributes", None) or {}
    write_attributes(
        span,
        _NONE,
        {
            sc.COST_USD: float(attrs.get(sc.COST_USD, 0.0)) + usd,
            sc.COST_SERVICE_USD: float(attrs.get(sc.COST_SERVICE_USD, 0.0)) + usd,
            sc.COST_CURRENCY: sc.CURRENCY_USD,
        },
    )
