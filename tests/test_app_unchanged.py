"""The package never changes what the app sees: not its span attributes at the count limit, not the params a hook
holds, not a Stubber's canned response, not the room in an SQS message's attributes. Real clients against moto."""

from __future__ import annotations

import copy
import logging
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from opentelemetry import trace
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import SpanLimits

from opentelemetry_instrumentation_cost.config import Settings
from tests.inprocess import instrumented, memory_provider
from tests.test_aws_meters import SETTINGS, WRU, _table


def _counter(reader: InMemoryMetricReader, name: str) -> float:
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    return sum(p.value for p in metric.data.data_points)
    return 0.0


def test_at_the_attribute_limit_the_apps_attributes_stay(caplog: pytest.LogCaptureFixture) -> None:
    provider, exporter = memory_provider(span_limits=SpanLimits(max_span_attributes=4))
    reader = InMemoryMetricReader()
    tracer = provider.get_tracer("t")
    root_attrs = {"http.method": "GET", "http.route": "/items", "app.tenant": "a"}  # room for one more
    child_attrs = {"db.system": "postgresql", "db.name": "shop", "db.operation": "SELECT", "app.rows": 3}  # full
    with instrumented(Settings(**SETTINGS), tracer_provider=provider, meter_provider=MeterProvider([reader])) as inst:
        with (
            tracer.start_as_current_span("GET /items", kind=trace.SpanKind.SERVER, attributes=root_attrs),
            tracer.start_as_current_span("SELECT", attributes=child_attrs),
        ):
            pass
        assert inst.runtime is not None and inst.runtime.flush()
    child, root = exporter.get_finished_spans()
    assert dict(child.attributes) == child_attrs  # no cost.transaction: nothing of the app's went for it
    assert {k: root.attributes[k] for k in root_attrs} == root_attrs
    assert list(root.attributes)[3:] == ["cost.usd"] and root.attributes["cost.usd"] > 0  # what fitted: the cost
    # left out: on the root the compute, the transaction's total and name, the host's 3, source and currency;
    # on the child its transaction name
    assert _counter(reader, "cost.attributes.left_out") == 9
    assert sum("attribute count limit" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING) == 1


def test_the_params_a_request_hook_holds_are_the_apps(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    """The units are asked for in botocore's serialized request, not in the params dict the app passed (which the
    botocore instrumentation's ``request_hook`` holds), and hidden from the response again."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    held: list[dict[str, Any]] = []
    provider, exporter = memory_provider()
    bi = BotocoreInstrumentor()
    bi.instrument(tracer_provider=provider, request_hook=lambda span, service, op, params: held.append(params))
    try:
        with instrumented(Settings(**SETTINGS), tracer_provider=provider):
            ddb = boto3.client("dynamodb")
            _table(ddb, "hooked")
            with provider.get_tracer("t").start_as_current_span("root"):
                response = ddb.put_item(TableName="hooked", Item={"k": {"S": "a"}})
    finally:
        bi.uninstrument()
    assert held[-1] == {"TableName": "hooked", "Item": {"k": {"S": "a"}}}
    assert "ConsumedCapacity" not in response
    put = next(s for s in exporter.get_finished_spans() if s.attributes.get("rpc.method") == "PutItem")
    assert put.attributes["cost.usd"] == pytest.approx(WRU, rel=1e-12) and "cost.estimated" not in put.attributes


def test_a_stubbers_response_comes_back_as_stubbed() -> None:
    canned = {"ConsumedCapacity": {"TableName": "stubbed", "CapacityUnits": 2.0}, "Attributes": {}}
    kept = copy.deepcopy(canned)
    provider, exporter = memory_provider()
    with instrumented(Settings(**SETTINGS), tracer_provider=provider):
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        params = {"TableName": "stubbed", "Item": {"k": {"S": "a"}}}
        with Stubber(ddb) as stub, provider.get_tracer("t").start_as_current_span("root"):
            stub.add_response("put_item", canned, expected_params=params)  # strict: no extra parameter allowed
            response = ddb.put_item(**params)
            stub.assert_no_pending_responses()
    assert canned == kept  # the test's own dict, untouched
    assert response["ConsumedCapacity"] == kept["ConsumedCapacity"]  # the caller asked for nothing: left as sent
    root = exporter.get_finished_spans()[0].attributes
    assert root["cost.service.usd"] == pytest.approx(2 * WRU, rel=1e-12)  # the units the response reports


@pytest.mark.parametrize("existing", [7, 9])
def test_the_transactions_baggage_never_takes_a_messages_last_slots(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, caplog: pytest.LogCaptureFixture, existing: int
) -> None:
    """SQS allows 10 message attributes. With 7 the trace context and the transaction both travel; with 9 the
    trace context takes the last slot and the transaction is skipped (counted, warned once). The boto3sqs
    instrumentation puts the context into the message."""
    from opentelemetry.instrumentation.boto3sqs import Boto3SQSInstrumentor

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    provider, _ = memory_provider()
    reader = InMemoryMetricReader()
    bi = Boto3SQSInstrumentor()
    bi.instrument(tracer_provider=provider)
    try:
        with instrumented(Settings(**SETTINGS), tracer_provider=provider, meter_provider=MeterProvider([reader])) as i:
            sqs = boto3.client("sqs")
            url = sqs.create_queue(QueueName=f"attrs-{existing}")["QueueUrl"]
            attributes = {f"app{n}": {"DataType": "String", "StringValue": str(n)} for n in range(existing)}
            sent = copy.deepcopy(attributes)
            with provider.get_tracer("t").start_as_current_span("POST /orders", kind=trace.SpanKind.SERVER):
                sqs.send_message(QueueUrl=url, MessageBody="order", MessageAttributes=attributes)
            assert i.runtime is not None and i.runtime.flush()
            (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])  # ends boto3sqs's processing
    finally:
        bi.uninstrument()
    got = message["MessageAttributes"]
    assert {k: got[k] for k in sent} == sent and "traceparent" in got
    skipped = _counter(reader, "cost.transaction.baggage_skipped")
    warned = sum("no attribute left" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    if existing == 7:
        assert got["baggage"]["StringValue"] == "cost.transaction=POST+%2Forders"
        assert (skipped, warned) == (0, 0)
    else:
        assert "baggage" not in got and len(got) == 10
        assert (skipped, warned) == (1, 1)
