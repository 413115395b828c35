"""Real boto3 clients against moto's server (and a loopback bedrock-runtime): exact charges on the right spans."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.sdk.trace import ReadableSpan

from opentelemetry_instrumentation_cost.config import Settings
from tests.fakes.bedrock import FakeBedrockRuntime
from tests.inprocess import instrumented, memory_provider

WRU, RRU = 0.625e-6, 0.125e-6
TIER1, TIER2 = 5e-6, 0.4e-6
SQS, SNS = 0.4e-6, 0.5e-6
SETTINGS = {"instance_type": "m5.large", "pricing_api": False, "host_share": 1.0, "imds_disabled": True}


@contextlib.contextmanager
def session(monkeypatch: pytest.MonkeyPatch, moto_url: str, botocore: str, **settings: Any) -> Iterator[Any]:
    """Cost instrumented, with the botocore instrumentation "before", "after" or "none"; yields (tracer, exporter)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    provider, exporter = memory_provider()
    bi = BotocoreInstrumentor()
    if botocore == "before":
        bi.instrument(tracer_provider=provider)
    try:
        with instrumented(Settings(**{**SETTINGS, **settings}), tracer_provider=provider):
            if botocore == "after":
                bi.instrument(tracer_provider=provider)
            yield provider.get_tracer("test"), exporter
    finally:
        if botocore != "none":
            bi.uninstrument()


def _by_name(exporter: Any) -> dict[str, list[ReadableSpan]]:
    """Spans by ``Service.Operation`` for AWS calls (SNS publish spans are named "<topic> send"), else by name."""
    out: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        a = span.attributes
        key = f"{a['rpc.service']}.{a['rpc.method']}" if a.get("rpc.system") == "aws-api" else span.name
        out.setdefault(key, []).append(span)
    return out


def _table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _workload(tracer: Any, table: str, bucket: str, queue: str) -> tuple[dict[str, float], float]:
    """Every call the issue names, inside one local root; returns moto's reported DynamoDB units and the root."""
    ddb, s3, sqs, sns = (boto3.client(s) for s in ("dynamodb", "s3", "sqs", "sns"))
    _table(ddb, table)
    s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    topic = sns.create_topic(Name=queue)["TopicArn"]
    with tracer.start_as_current_span("root"):
        ddb.put_item(TableName=table, Item={"k": {"S": "a"}, "v": {"S": "x"}})
        ddb.get_item(TableName=table, Key={"k": {"S": "a"}})
        ddb.query(TableName=table, KeyConditionExpression="k = :k", ExpressionAttributeValues={":k": {"S": "a"}})
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"k": {"S": f"b{i}"}}}} for i in range(3)]})
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": {"k": {"S": "t"}}}}])
        s3.put_object(Bucket=bucket, Key="r.json", Body=b"{}")
        s3.get_object(Bucket=bucket, Key="r.json")["Body"].read()
        s3.list_objects_v2(Bucket=bucket)
        s3.delete_object(Bucket=bucket, Key="r.json")
        sqs.send_message(QueueUrl=queue_url, MessageBody="x" * (100 * 1024))
        sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(3)])
        sns.publish(TopicArn=topic, Message="hello")
    # moto's own unit figures for the same requests, asked for explicitly (moto does not model every rounding)
    ref = {
        "PutItem": ddb.put_item(
            TableName=table, Item={"k": {"S": "a"}, "v": {"S": "x"}}, ReturnConsumedCapacity="TOTAL"
        )["ConsumedCapacity"]["CapacityUnits"],
        "GetItem": ddb.get_item(TableName=table, Key={"k": {"S": "a"}}, ReturnConsumedCapacity="TOTAL")[
            "ConsumedCapacity"
        ]["CapacityUnits"],
        "Query": ddb.query(
            TableName=table,
            KeyConditionExpression="k = :k",
            ReturnConsumedCapacity="TOTAL",
            ExpressionAttributeValues={":k": {"S": "a"}},
        )["ConsumedCapacity"]["CapacityUnits"],
        "BatchWriteItem": ddb.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": {"k": {"S": f"b{i}"}}}} for i in range(3)]},
            ReturnConsumedCapacity="TOTAL",
        )["ConsumedCapacity"][0]["CapacityUnits"],
    }
    return ref, 0.0


EXPECTED_FIXED = {  # (span name, unit, quantity, usd)
    "S3.PutObject": ("Requests-Tier1", 1.0, TIER1),
    "S3.GetObject": ("Requests-Tier2", 1.0, TIER2),
    "S3.ListObjectsV2": ("Requests-Tier1", 1.0, TIER1),
    "S3.DeleteObject": ("Requests-Free", 1.0, 0.0),
    "SQS.SendMessage": ("Requests", 2.0, 2 * SQS),  # 100 KB = two 64 KB chunks
    "SQS.SendMessageBatch": ("Requests", 1.0, SQS),
    "SNS.Publish": ("Requests", 1.0, SNS),
}


@pytest.mark.parametrize("botocore", ["before", "after"], ids=["botocore-first", "cost-first"])
def test_charges_on_the_botocore_client_spans(monkeypatch: pytest.MonkeyPatch, moto_url: str, botocore: str) -> None:
    name = f"t-{botocore}"
    with session(monkeypatch, moto_url, botocore) as (tracer, exporter):
        ref, _ = _workload(tracer, name, name, name)
    spans = _by_name(exporter)
    root = spans["root"][0]
    total_services = 0.0
    for span_name, (unit, qty, usd) in EXPECTED_FIXED.items():
        span = spans[span_name][0]
        a = span.attributes
        assert (a["cost.service.units"], a["cost.service.quantity"]) == (unit, qty), span_name
        assert a["cost.usd"] == pytest.approx(usd, rel=1e-12) and a["cost.service.usd"] == a["cost.usd"]
        assert (a["cost.currency"], a["cost.pricing.source"]) == ("USD", "snapshot")
        total_services += a["cost.usd"]
    for op, unit, price in (
        ("PutItem", "WriteRequestUnits", WRU),
        ("GetItem", "ReadRequestUnits", RRU),
        ("Query", "ReadRequestUnits", RRU),
        ("BatchWriteItem", "WriteRequestUnits", WRU),
    ):
        a = spans[f"DynamoDB.{op}"][0].attributes
        assert (a["cost.service.units"], a["cost.service.quantity"]) == (unit, ref[op])
        assert a["cost.usd"] == pytest.approx(ref[op] * price, rel=1e-12) and "cost.estimated" not in a
        total_services += a["cost.usd"]
    transact = spans["DynamoDB.TransactWriteItems"][0].attributes
    # moto answers TransactWriteItems with an empty ConsumedCapacity list: estimated, 2 x 1 KB-rounded write
    assert (transact["cost.service.quantity"], transact["cost.estimated"]) == (2.0, True)
    assert transact["cost.usd"] == pytest.approx(2 * WRU, rel=1e-12)
    total_services += transact["cost.usd"]
    assert root.attributes["cost.usd"] == root.attributes["cost.compute.usd"]  # the root's own cost: compute only
    assert root.attributes["cost.transaction.usd"] == pytest.approx(
        root.attributes["cost.compute.usd"] + total_services, rel=1e-12
    )
    summed = sum(
        s.attributes.get("cost.usd", 0.0)
        for ss in spans.values()
        for s in ss
        if s.context.trace_id == root.context.trace_id
    )
    assert summed == pytest.approx(root.attributes["cost.transaction.usd"], rel=1e-12)  # no double counting


def test_without_the_botocore_instrumentation_the_enclosing_span_is_charged(
    monkeypatch: pytest.MonkeyPatch, moto_url: str
) -> None:
    with session(monkeypatch, moto_url, "none") as (tracer, exporter):
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="plain")["QueueUrl"]
        with tracer.start_as_current_span("root"):
            sqs.send_message(QueueUrl=url, MessageBody="x" * (100 * 1024))
            with tracer.start_as_current_span("work"):
                sqs.send_message(QueueUrl=url, MessageBody="small")
                sqs.send_message(QueueUrl=url, MessageBody="small")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    root, work = spans["root"].attributes, spans["work"].attributes
    assert work["cost.usd"] == pytest.approx(2 * SQS, rel=1e-12) and work["cost.service.usd"] == work["cost.usd"]
    assert root["cost.service.usd"] == pytest.approx(2 * SQS, rel=1e-12)
    assert root["cost.usd"] == pytest.approx(root["cost.compute.usd"] + 2 * SQS, rel=1e-12)
    assert root["cost.transaction.usd"] == pytest.approx(root["cost.compute.usd"] + 4 * SQS, rel=1e-12)


def test_calls_outside_any_local_root_are_stored_as_untraced(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, tmp_path: Any
) -> None:
    """A call made at start-up or on an untraced thread has no span to carry its charge: it is still spent, so it
    is stored under ``<untraced>`` (one request per call) rather than lost."""
    from opentelemetry_instrumentation_cost import CostInstrumentor
    from opentelemetry_instrumentation_cost.store.open import open_store

    url = f"sqlite:///{tmp_path}/c.db"
    with session(monkeypatch, moto_url, "none", store_url=url) as (tracer, _):
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="untraced")["QueueUrl"]  # 1 request
        sqs.send_message(QueueUrl=queue, MessageBody="x" * (100 * 1024))  # 2 chunks
        with tracer.start_as_current_span("root"):
            sqs.send_message(QueueUrl=queue, MessageBody="small")
        runtime = CostInstrumentor().runtime
        assert runtime is not None and runtime.flush()
    store = open_store(url)
    rows = {r[2]: r for r in store.rows(0)}
    store.close()
    count, compute, service = rows["<untraced>"][5], rows["<untraced>"][7], rows["<untraced>"][8]
    assert (count, compute) == (2, 0.0) and service == pytest.approx(3 * SQS, rel=1e-12)
    assert rows["root"][5] == 1 and rows["root"][8] == pytest.approx(SQS, rel=1e-12)


def test_a_call_no_request_reaches_is_untraced_not_a_transaction(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, tmp_path: Any
) -> None:
    """With the botocore instrumentation, a call on a thread that did not get the request's context (an executor,
    s3transfer's workers) makes a CLIENT span with no parent. It used to become a transaction of its own, named
    after the operation, and take a compute share as if it were a request. Now its charge is <untraced>; the
    request itself, on its thread, is the only transaction. (The package enables the threading instrumentation,
    which would carry the context into the thread: it is left off here, as an app may turn it off.)"""
    import threading

    from opentelemetry_instrumentation_cost import CostInstrumentor
    from opentelemetry_instrumentation_cost.store.open import open_store

    url = f"sqlite:///{tmp_path}/c.db"
    with session(monkeypatch, moto_url, "before", store_url=url, threads=False) as (tracer, exporter):
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="threads")["QueueUrl"]  # at start-up: untraced too
        with tracer.start_as_current_span("GET /work"):
            worker = threading.Thread(target=sqs.send_message, kwargs={"QueueUrl": queue, "MessageBody": "x"})
            worker.start()
            worker.join()
        runtime = CostInstrumentor().runtime
        assert runtime is not None and runtime.flush()
    store = open_store(url)
    rows = {r[2]: r for r in store.rows(0)}
    store.close()
    assert set(rows) - {"<idle>"} == {"GET /work", "<untraced>"}, rows
    assert rows["<untraced>"][5] == 2 and rows["<untraced>"][8] == pytest.approx(2 * SQS, rel=1e-12)
    assert rows["GET /work"][8] == 0.0  # the request did not reach the call (no context on the thread)
    send = _by_name(exporter)["SQS.SendMessage"][0].attributes
    assert send["cost.usd"] == pytest.approx(SQS, rel=1e-12) and "cost.compute.usd" not in send


def test_consumed_capacity_is_asked_for_and_hidden_again(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    sent: list[bytes] = []
    with session(monkeypatch, moto_url, "before") as (tracer, exporter), tracer.start_as_current_span("root"):
        ddb = boto3.client("dynamodb")
        ddb.meta.events.register("before-send.dynamodb", lambda request, **_: sent.append(request.body))
        _table(ddb, "rcc")
        params = {"TableName": "rcc", "Item": {"k": {"S": "1"}}}
        plain = ddb.put_item(**params)
        total = ddb.put_item(**params, ReturnConsumedCapacity="TOTAL")
        indexes = ddb.put_item(**params, ReturnConsumedCapacity="INDEXES")
        none = ddb.put_item(**params, ReturnConsumedCapacity="NONE")
    assert params == {"TableName": "rcc", "Item": {"k": {"S": "1"}}}
    assert "ConsumedCapacity" not in plain and "ConsumedCapacity" not in none
    assert "Table" not in total["ConsumedCapacity"] and "Table" in indexes["ConsumedCapacity"]
    bodies = [json.loads(b) for b in sent if b and b"Item" in b]
    assert [b.get("ReturnConsumedCapacity") for b in bodies] == ["TOTAL", "TOTAL", "INDEXES", "NONE"]
    puts = _by_name(exporter)["DynamoDB.PutItem"]
    assert [s.attributes.get("cost.estimated", False) for s in puts] == [False, False, False, True]


def test_partiql_is_sent_as_the_app_wrote_it(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    """ExecuteStatement accepts ReturnConsumedCapacity but is not metered: the package leaves it alone."""
    sent: list[bytes] = []
    with session(monkeypatch, moto_url, "before") as (tracer, _), tracer.start_as_current_span("root"):
        ddb = boto3.client("dynamodb")
        _table(ddb, "partiql")
        ddb.meta.events.register("before-send.dynamodb", lambda request, **_: sent.append(request.body))
        ddb.execute_statement(Statement='SELECT * FROM "partiql"')
    (body,) = [json.loads(b) for b in sent if b and b"Statement" in b]
    assert body == {"Statement": 'SELECT * FROM "partiql"'}


def test_estimation_when_consumed_capacity_is_turned_off(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    with session(monkeypatch, moto_url, "before", dynamodb_consumed_capacity=False) as (tracer, exporter):
        ddb = boto3.client("dynamodb")
        _table(ddb, "est")
        root = tracer.start_as_current_span("root")
        root.__enter__()
        ddb.put_item(TableName="est", Item={"k": {"S": "1"}, "blob": {"S": "x" * 2500}})  # 2.5 KB → 3 WRU
        ddb.get_item(TableName="est", Key={"k": {"S": "1"}})  # eventually consistent, < 4 KB → 0.5 RRU
        ddb.get_item(TableName="est", Key={"k": {"S": "1"}}, ConsistentRead=True)  # → 1 RRU
        root.__exit__(None, None, None)
    spans = _by_name(exporter)
    put = spans["DynamoDB.PutItem"][0].attributes
    assert (put["cost.service.quantity"], put["cost.estimated"], put["cost.usd"]) == (3.0, True, pytest.approx(3 * WRU))
    gets = [s.attributes["cost.service.quantity"] for s in spans["DynamoDB.GetItem"]]
    assert gets == [0.5, 1.0]


def test_failed_calls_are_priced_as_aws_bills_them(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    with session(monkeypatch, moto_url, "before") as (tracer, exporter):
        ddb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
        _table(ddb, "fail")
        url = sqs.create_queue(QueueName="fail")["QueueUrl"]
        with tracer.start_as_current_span("root"), contextlib.suppress(ddb.exceptions.ClientError):
            ddb.put_item(TableName="fail", Item={"wrong": {"S": "1"}})  # validation error: consumes nothing
        with tracer.start_as_current_span("root"), contextlib.suppress(sqs.exceptions.ClientError):
            sqs.send_message(QueueUrl=url + "-missing", MessageBody="x")  # failed SQS requests are billed
    spans = _by_name(exporter)
    put = spans["DynamoDB.PutItem"][0].attributes
    assert (put["cost.usd"], put["cost.service.units"], put["cost.pricing.source"]) == (
        0.0,
        "WriteRequestUnits",
        "snapshot",
    )
    assert spans["SQS.SendMessage"][0].attributes["cost.usd"] == pytest.approx(SQS, rel=1e-12)


def test_other_services_get_nothing_and_never_fail(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    with session(monkeypatch, moto_url, "before") as (tracer, exporter), tracer.start_as_current_span("root"):
        boto3.client("sts").get_caller_identity()
        boto3.client("ec2").describe_regions()
    calls = [s for s in exporter.get_finished_spans() if s.name != "root"]
    assert len(calls) == 2
    for span in calls:  # only the transaction's name, which every span of it carries
        assert {k for k in span.attributes if k.startswith("cost.")} == {"cost.transaction"}
        assert span.attributes["cost.transaction"] == "root"


def test_uninstrument_removes_every_hook(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    provider, exporter = memory_provider()
    botocore = BotocoreInstrumentor()
    botocore.instrument(tracer_provider=provider)
    try:
        with instrumented(Settings(**SETTINGS), tracer_provider=provider):
            sqs = boto3.client("sqs")
            url = sqs.create_queue(QueueName="unhook")["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="x")
        sqs.send_message(QueueUrl=url, MessageBody="x")  # the same client, after uninstrument
    finally:
        botocore.uninstrument()
    sends = [s for s in exporter.get_finished_spans() if s.attributes.get("rpc.method") == "SendMessage"]
    assert len(sends) == 2
    assert sends[0].attributes["cost.service.usd"] == pytest.approx(SQS)
    assert not any(k.startswith("cost.") for k in sends[1].attributes)


BEDROCK_USAGE = {"inputTokens": 1000, "outputTokens": 500, "cacheReadInputTokens": 200, "cacheWriteInputTokens": 100}


def test_bedrock_converse_and_invoke_model(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeBedrockRuntime(BEDROCK_USAGE) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.url)
        with session(monkeypatch, moto_url, "before") as (tracer, exporter):
            br = boto3.client("bedrock-runtime")
            msg = [{"role": "user", "content": [{"text": "hi"}]}]
            with tracer.start_as_current_span("agent"):
                br.converse(modelId="us.anthropic.claude-3-5-sonnet-20240620-v1:0", messages=msg)
                br.invoke_model(modelId="amazon.nova-micro-v1:0", body=b"{}")
                br.converse(modelId="acme.unknown-model-v1:0", messages=msg)
                br.converse(modelId="acme.unknown-model-v1:0", messages=msg)
    spans = _by_name(exporter)
    assert "Bedrock Runtime.Converse" in spans, sorted(spans)
    converse = spans["Bedrock Runtime.Converse"]
    a = converse[0].attributes
    assert a["cost.usd"] == pytest.approx(1000 * 3e-6 + 500 * 15e-6 + 200 * 0.3e-6 + 100 * 3.75e-6, rel=1e-12)
    assert list(a["cost.service.units"]) == ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"]
    assert list(a["cost.service.quantity"]) == [1000.0, 500.0, 200.0, 100.0]
    invoke = spans["Bedrock Runtime.InvokeModel"][0].attributes
    assert invoke["cost.usd"] == pytest.approx(1000 * 0.035e-6 + 500 * 0.14e-6, rel=1e-12)
    for unknown in converse[1:]:
        assert "cost.usd" not in unknown.attributes and unknown.attributes["cost.pricing.source"] == "unknown"
    assert sum("acme.unknown-model" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING) == 1
    agent = spans["agent"][0].attributes
    assert agent["cost.transaction.usd"] == pytest.approx(
        agent["cost.compute.usd"] + a["cost.usd"] + invoke["cost.usd"]
    )


def test_a_mocked_make_request_returning_no_response_is_not_an_error(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Apps' own tests often mock ``Endpoint.make_request``; with a parsed response of None the package used to
    raise AttributeError in its hook and log "failed to meter an AWS call". The app gets what its mock returns."""
    from unittest import mock

    class Http:
        def __init__(self) -> None:
            self.status_code, self.headers = 200, {}

    with session(monkeypatch, moto_url, "none") as (tracer, exporter):
        ddb = boto3.client("dynamodb")
        with (
            mock.patch("botocore.endpoint.Endpoint.make_request", return_value=(Http(), None)),
            tracer.start_as_current_span("root"),
        ):
            assert ddb.put_item(TableName="t", Item={"pk": {"S": "1"}}) is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.records
    (root,) = exporter.get_finished_spans()
    assert "cost.compute.usd" in root.attributes
