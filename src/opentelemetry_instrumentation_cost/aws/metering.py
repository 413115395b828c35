"""Per call: meter, price and attach one AWS call's charge (imported when the app creates its first client).

``before-parameter-build`` lets a meter ask AWS to report billed units (botocore's copy of the params, never the
caller's); ``after-call`` (fired for error responses too) meters, prices and attaches the charge:

* with the OpenTelemetry botocore instrumentation, on its CLIENT span for this call (current during the events);
* without it, on the enclosing span (the local root's own cost, or a child span's), so totals stay right;
* and always into the local root's ``cost.transaction.usd``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.util import types

from .. import semconv as sc
from .._log import error_once
from ..pricing.charges import Charge, price_metering
from . import registry
from .services import bedrock
from .types import Call, Metering

_STATE_KEY = "otel_cost"


class _CallState:
    __slots__ = ("injected", "meter", "params")

    def __init__(self, meter: Any, params: dict[str, Any], injected: bool) -> None:
        self.meter, self.params, self.injected = meter, params, injected


class CallMeter:
    """The two event handlers; reports to the runtime's price book and ledger."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.enabled = True
        self._accepts: dict[tuple[str, str], frozenset[str]] = {}  # per operation, its input member names

    # per call ------------------------------------------------------------------------------------------------
    def before_parameter_build(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        try:
            meter = registry.meter_for(model.service_model.service_name)
            if meter is None:
                return
            key = (model.service_model.service_name, model.name)
            accepts = self._accepts.get(key)
            if accepts is None:
                shape = model.input_shape
                accepts = self._accepts[key] = frozenset(shape.members) if shape is not None else frozenset()
            injected = meter.prepare(model.name, params, accepts)
            context[_STATE_KEY] = _CallState(meter, params, injected)
        except Exception:
            error_once("aws-before", "cost: failed to prepare an AWS call for metering")

    def before_call(self, model: Any, **_: Any) -> None:
        """Enforce mode: refuse a call whose transaction is already over budget (raises into the boto3 call)."""
        guard = self.runtime.guard
        if guard is None or not self.enabled:
            return
        try:
            ctx = trace.get_current_span().get_span_context()
            root = self.runtime.ledger.root_of(ctx.trace_id) if ctx.is_valid else None
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
            state: _CallState | None = context.get(_STATE_KEY)
            if state is None or not self.enabled:
                return
            service = model.service_model.service_name
            meta = parsed.get("ResponseMetadata") or {}
            call = Call(
                service=service,
                operation=model.name,
                params=state.params,
                response=parsed,
                status=int(getattr(http_response, "status_code", 0) or meta.get("HTTPStatusCode") or 0),
                headers=getattr(http_response, "headers", None) or meta.get("HTTPHeaders") or {},
                region=str(context.get("client_region") or "us-east-1"),
                attempts=1 + int(meta.get("RetryAttempts") or 0),
            )
            metering = state.meter.measure(call)
            if state.injected:
                state.meter.restore(parsed)
            if metering is None:
                return
            root = self._attach(call, metering)
            if model.name in ("ConverseStream", "InvokeModelWithResponseStream") and "stream" in parsed:
                parsed["stream"] = bedrock.MeteredStream(
                    parsed["stream"], model.name, lambda tokens: self._stream_usage(call, root, tokens)
                )
        except Exception:
            error_once("aws-after", "cost: failed to meter an AWS call")

    def _attach(self, call: Call, metering: Metering) -> Any:
        """Price the call and put the charge where it belongs; returns the local root it counted into."""
        charge = price_metering(self.runtime.book, call.service, call.region, metering)
        span = trace.get_current_span()
        ctx = span.get_span_context()
        root = self.runtime.ledger.root_of(ctx.trace_id) if ctx.is_valid else None
        on_root = root is not None and root.span_id == ctx.span_id  # its end writes cost.usd = compute + this
        if _is_call_span(span, call):
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


def _is_call_span(span: Any, call: Call) -> bool:
    """The botocore instrumentation's CLIENT span for this very call."""
    if not span.is_recording():
        return False
    attrs = getattr(span, "attributes", None) or {}
    return attrs.get("rpc.system") == "aws-api" and attrs.get("rpc.method") == call.operation


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
