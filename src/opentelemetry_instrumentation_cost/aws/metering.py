"""Per call: meter, price and attach one AWS call's charge (imported when the app creates its first client).

``before-parameter-build`` lets a meter ask AWS to report billed units (botocore's copy of the params, never the
caller's); ``after-call`` (fired for error responses too) meters, prices and attaches the charge:

* with the OpenTelemetry botocore instrumentation, on its CLIENT span for this call (current during the events);
* without it, on the enclosing span (the local root's own cost, or a child span's), so totals stay right;
* and always into the local root's ``cost.transaction.usd``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.context import get_current
from opentelemetry.trace import INVALID_SPAN
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.util import types

from .. import semconv as sc
from .._log import error_once
from ..pricing.charges import Charge, price_metering
from . import registry
from .services import bedrock
from .types import Call, Meter, Metering

_STATE_KEY = "otel_cost"
_BOTOCORE_SCOPE = "opentelemetry.instrumentation.botocore"
_STREAMING = ("ConverseStream", "InvokeModelWithResponseStream")


class CallMeter:
    """The event handlers; reports to the runtime's price book and ledger."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.enabled = True
        # per botocore OperationModel (cached by botocore per client): its meter, service and input member names
        self._plans: dict[Any, tuple[Meter | None, str, frozenset[str]]] = {}

    # per call ------------------------------------------------------------------------------------------------
    def before_parameter_build(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        try:
            plan = self._plans.get(model)
            if plan is None:
                plan = self._plans[model] = _plan(model)
            meter, service, accepts = plan
            if meter is None:
                return
            call = Call(meter, service, model.name, params)
            call.injected = meter.prepare(call.operation, params, accepts)
            context[_STATE_KEY] = call
        except Exception:
            error_once("aws-before", "cost: failed to prepare an AWS call for metering")

    def before_call(self, model: Any, **_: Any) -> None:
        """Enforce mode: refuse a call whose transaction is already over budget (raises into the boto3 call)."""
        guard = self.runtime.guard
        if guard is None or not self.enabled:
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
        self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        try:
            call: Call | None = context.get(_STATE_KEY)
            if call is None or not self.enabled:
                return
            call.response, call.http_response, call.context = parsed, http_response, context
            metering = call.meter.measure(call)
            if call.injected:
                call.meter.restore(parsed)
            if metering is None:
                return
            root = self._attach(call, metering)
            if call.operation in _STREAMING and "stream" in parsed:
                parsed["stream"] = bedrock.MeteredStream(
                    parsed["stream"], call.operation, lambda tokens: self._stream_usage(call, root, tokens)
                )
        except Exception:
            error_once("aws-after", "cost: failed to meter an AWS call")

    def _attach(self, call: Call, metering: Metering) -> Any:
        """Price the call and put the charge where it belongs; returns the local root it counted into."""
        charge = price_metering(self.runtime.book, call.service, call.region, metering)
        span = _current_span()
        ctx = span.get_span_context()
        root = self.runtime.ledger.root_of(ctx.trace_id)
        on_root = root is not None and root.span_id == ctx.span_id  # its end writes cost.usd = compute + this
        if _is_call_span(span):
            span.set_attributes(_call_attributes(charge, on_root))
        elif not on_root and span.is_recording() and charge.usd is not None:
            _accumulate(span, charge.usd)
        if root is not None and charge.usd:
            self.runtime.ledger.add_service_cost(root, charge.usd, on_root, call.service)
            guard = self.runtime.guard
            if guard is not None:  # the call that crossed the ceiling is named in the event
                guard.observe(root, self.runtime.tracker.transaction_of(root), f"{call.service}.{call.operation}")
        return root

    def _stream_usage(self, call: Call, root: Any, tokens: dict[str, float]) -> None:
        """A streamed response's usage, known only when its last event arrives: charged to the local root."""
        try:
            model = bedrock.base_model(str(call.params.get("modelId", "")))
            charge = price_metering(
                self.runtime.book, call.service, call.region, Metering(bedrock.token_usages(model, tokens))
            )
            if root is not None and charge.usd:
                self.runtime.ledger.add_service_cost(root, charge.usd, True, call.service)
        except Exception:
            error_once("aws-stream", "cost: failed to meter a streamed Bedrock response")


def _current_span() -> Any:
    """The current span, read from the context by its key (``trace.get_current_span()`` is four calls deep, and
    this runs on every AWS call). An invalid span's trace id, 0, is never a local root's."""
    return get_current().get(_SPAN_KEY) or INVALID_SPAN


def _plan(model: Any) -> tuple[Meter | None, str, frozenset[str]]:
    service = model.service_model.service_name
    shape = model.input_shape
    return registry.meter_for(service), service, frozenset(shape.members) if shape is not None else frozenset()


def _is_call_span(span: Any) -> bool:
    """The botocore instrumentation's CLIENT span, current during this call's events (its tracers are named
    ``opentelemetry.instrumentation.botocore[.<service>]``)."""
    scope = getattr(span, "instrumentation_scope", None)
    return scope is not None and scope.name.startswith(_BOTOCORE_SCOPE) and span.is_recording()


def _call_attributes(charge: Charge, on_root: bool) -> dict[str, types.AttributeValue]:
    """The call span's attributes; on a call span that is itself a local root, the root writes the sums."""
    attrs: dict[str, types.AttributeValue] = {} if on_root else {sc.COST_PRICING_SOURCE: charge.source}
    if len(charge.units) == 1:
        attrs[sc.COST_SERVICE_UNITS] = charge.units[0]
        attrs[sc.COST_SERVICE_QUANTITY] = charge.quantities[0]
    elif charge.units:
        attrs[sc.COST_SERVICE_UNITS] = list(charge.units)
        attrs[sc.COST_SERVICE_QUANTITY] = list(charge.quantities)
    if charge.usd is not None and not on_root:
        attrs[sc.COST_USD] = attrs[sc.COST_SERVICE_USD] = charge.usd
        attrs[sc.COST_CURRENCY] = sc.CURRENCY_USD
    if charge.estimated:
        attrs[sc.COST_ESTIMATED] = True
    if charge.partial:
        attrs[sc.COST_PARTIAL] = True
    return attrs


def _accumulate(span: Any, usd: float) -> None:
    """Add a charge to an enclosing (non-root) span that may already carry others."""
    attrs = getattr(span, "attributes", None) or {}
    span.set_attributes(
        {
            sc.COST_USD: float(attrs.get(sc.COST_USD, 0.0)) + usd,
            sc.COST_SERVICE_USD: float(attrs.get(sc.COST_SERVICE_USD, 0.0)) + usd,
            sc.COST_CURRENCY: sc.CURRENCY_USD,
        }
    )
