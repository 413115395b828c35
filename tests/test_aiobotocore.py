"""aiobotocore clients are metered exactly like botocore's: the same calls against moto's server (and the loopback
bedrock-runtime) give the same figures as ``test_aws_meters.py``, the DynamoDB units are asked for and hidden again,
and a budget in enforce mode stops an async call before it is sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiobotocore.session import get_session

from opentelemetry_instrumentation_cost.budgets.errors import BudgetExceededError
from opentelemetry_instrumentation_cost.config import Settings
from tests.fakes.bedrock import FakeBedrockRuntime
from tests.inprocess import instrumented, memory_provider
from tests.test_aws_meters import BEDROCK_USAGE, EXPECTED_FIXED, RRU, SETTINGS, WRU

CALLS = [  # (span name, client, method, kwargs): each call in a span of its own, which carries its charge
    ("DynamoDB.PutItem", "dynamodb", "put_item", {"TableName": "{t}", "Item": {"k": {"S": "a"}, "v": {"S": "x"}}}),
    ("DynamoDB.GetItem", "dynamodb", "get_item", {"TableName": "{t}", "Key": {"k": {"S": "a"}}}),
    ("S3.PutObject", "s3", "put_object", {"Bucket": "{t}", "Key": "r.json", "Body": b"{}"}),
    ("S3.GetObject", "s3", "get_object", {"Bucket": "{t}", "Key": "r.json"}),
    ("S3.ListObjectsV2", "s3", "list_objects_v2", {"Bucket": "{t}"}),
    ("S3.DeleteObject", "s3", "delete_object", {"Bucket": "{t}", "Key": "r.json"}),
    ("SQS.SendMessage", "sqs", "send_message", {"QueueUrl": "{q}", "MessageBody": "x" * (100 * 1024)}),
    ("SQS.SendMessageBatch", "sqs", "send_message_batch", {"QueueUrl": "{q}", "Entries": [{"Id": "1",
                                                                                          "MessageBody": "m"}]}),
    ("SNS.Publish", "sns", "publish", {"TopicArn": "{n}", "Message": "hello"}),
]  # fmt: skip


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names) if value in ("{t}", "{q}", "{n}") else value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


async def _workload(tracer: Any, name: str) -> dict[str, Any]:
    """The calls, each in its span, inside one local root; returns what the app saw of the DynamoDB responses and
    moto's own capacity figures for the same requests, asked for explicitly."""
    session = get_session()
    seen: dict[str, Any] = {}
    async with (
        session.create_client("dynamodb") as ddb,
        session.create_client("s3") as s3,
        session.create_client("sqs") as sqs,
        session.create_client("sns") as sns,
    ):
        clients = {"dynamodb": ddb, "s3": s3, "sqs": sqs, "sns": sns}
        await ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        await s3.create_bucket(Bucket=name)
        names = {
            "t": name,
            "q": (await sqs.create_queue(QueueName=name))["QueueUrl"],
            "n": (await sns.create_topic(Name=name))["TopicArn"],
        }
        with tracer.start_as_current_span("root"):
            for span_name, client, method, kwargs in CALLS:
                with tracer.start_as_current_span(span_name):
                    response = await getattr(clients[client], method)(**_fill(kwargs, names))
                    if method == "get_object":
                        async with response["Body"] as body:
                            await body.read()
                    seen[span_name] = response
        for op, method, kwargs in (("PutItem", "put_item", CALLS[0][3]), ("GetItem", "get_item", CALLS[1][3])):
            args = {**_fill(kwargs, names), "ReturnConsumedCapacity": "TOTAL"}
            seen[f"moto.{op}"] = (await getattr(ddb, method)(**args))["ConsumedCapacity"]["CapacityUnits"]
    return seen


def test_aiobotocore_calls_carry_the_same_charges_as_botocore(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    provider, exporter = memory_provider()
    with instrumented(Settings(**SETTINGS), tracer_provider=provider):
        seen = asyncio.run(_workload(provider.get_tracer("t"), "aio"))
    spans = {s.name: s.attributes for s in exporter.get_finished_spans()}
    total = 0.0
    for span_name, (_, _, usd) in EXPECTED_FIXED.items():
        assert spans[span_name].get("cost.usd", 0.0) == pytest.approx(usd, rel=1e-12), span_name
        total += usd
    for op, price in (("PutItem", WRU), ("GetItem", RRU)):
        usd = seen[f"moto.{op}"] * price
        assert spans[f"DynamoDB.{op}"]["cost.usd"] == pytest.approx(usd, rel=1e-12)
        assert "ConsumedCapacity" not in seen[f"DynamoDB.{op}"]  # asked for by the package, hidden from the app
        total += usd
    root = spans["root"]
    assert root["cost.transaction.usd"] == pytest.approx(root["cost.compute.usd"] + total, rel=1e-12)


def test_aiobotocore_bedrock_converse(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    async def converse(tracer: Any) -> None:
        async with get_session().create_client("bedrock-runtime") as br:
            with tracer.start_as_current_span("agent"):
                msg = [{"role": "user", "content": [{"text": "hi"}]}]
                await br.converse(modelId="us.anthropic.claude-3-5-sonnet-20240620-v1:0", messages=msg)

    provider, exporter = memory_provider()
    with FakeBedrockRuntime(BEDROCK_USAGE) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.url)
        with instrumented(Settings(**SETTINGS), tracer_provider=provider):
            asyncio.run(converse(provider.get_tracer("t")))
    agent = exporter.get_finished_spans()[0].attributes
    usd = 1000 * 3e-6 + 500 * 15e-6 + 200 * 0.3e-6 + 100 * 3.75e-6
    assert agent["cost.service.usd"] == pytest.approx(usd, rel=1e-12)


def test_aiobotocore_call_is_stopped_by_a_budget_in_enforce_mode(
    monkeypatch: pytest.MonkeyPatch, moto_url: str
) -> None:
    async def loop(tracer: Any) -> int:
        sent = 0
        async with get_session().create_client("sqs") as sqs:
            url = (await sqs.create_queue(QueueName="aio-budget"))["QueueUrl"]
            with tracer.start_as_current_span("POST /bulk"):
                for _ in range(10):
                    await sqs.send_message(QueueUrl=url, MessageBody="x")
                    sent += 1
        return sent

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    provider, _ = memory_provider()
    settings = Settings(**SETTINGS, budgets="POST /bulk=0.000001", budget_enforce=True)
    with instrumented(settings, tracer_provider=provider), pytest.raises(BudgetExceededError):
        asyncio.run(loop(provider.get_tracer("t")))


SONNET = 1000 * 3e-6 + 500 * 15e-6 + 200 * 0.3e-6 + 100 * 3.75e-6  # BEDROCK_USAGE at Claude 3.5 Sonnet's prices


@pytest.mark.parametrize("client", ["botocore", "aiobotocore"])
def test_a_streamed_converse_is_charged_when_its_usage_event_arrives(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, client: str
) -> None:
    """ConverseStream over the wire (AWS's event stream encoding): every event reaches the app unchanged, and the
    usage in the last one is charged to the request."""
    import boto3

    model = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
    msg = [{"role": "user", "content": [{"text": "hi"}]}]

    async def aio(tracer: Any) -> list[Any]:
        async with get_session().create_client("bedrock-runtime") as br:
            with tracer.start_as_current_span("POST /chat"):
                response = await br.converse_stream(modelId=model, messages=msg)
                return [event async for event in response["stream"]]

    def sync(tracer: Any) -> list[Any]:
        br = boto3.client("bedrock-runtime")
        with tracer.start_as_current_span("POST /chat"):
            return list(br.converse_stream(modelId=model, messages=msg)["stream"])

    provider, exporter = memory_provider()
    with FakeBedrockRuntime(BEDROCK_USAGE) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.url)
        with instrumented(Settings(**SETTINGS), tracer_provider=provider):
            tracer = provider.get_tracer("t")
            events = asyncio.run(aio(tracer)) if client == "aiobotocore" else sync(tracer)
    assert [next(iter(e)) for e in events] == [
        "messageStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"
    ]  # fmt: skip
    assert events[-1]["metadata"]["usage"]["inputTokens"] == 1000
    root = exporter.get_finished_spans()[0].attributes
    assert root["cost.service.usd"] == pytest.approx(SONNET, rel=1e-12)
    assert root["cost.transaction.usd"] == pytest.approx(root["cost.compute.usd"] + SONNET, rel=1e-12)
