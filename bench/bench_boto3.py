"""Overhead of the package's botocore hooks per boto3 call, against moto, in one run.

Each row has two clients: one created before ``instrument()`` (no hooks) and one after (hooked), both called inside
an open local root, so the whole metering path runs (meter, price, attach to the root). Calls are made in pairs,
one of each, in alternating order, and each call is timed on its own: the figures are the medians, so a slow
moment of this shared VM (or of moto) falls on both sides alike.

* round trip: real calls to moto's server on loopback, the goal as the issue words it ("against moto");
* client side: moto's recorded answer replayed through botocore's ``before-send`` short-circuit, so the ratio is
  against botocore's own per-call work (serialise, sign, parse) alone: the stricter figure, reported too.

aiobotocore clients are measured round trip too, each call run to completion on one event loop on both sides.

DynamoDB is measured twice: as most callers call it (the package adds ``ReturnConsumedCapacity=TOTAL``, so botocore
and the server do more), and with the caller asking for it itself (the package's own work only). A third row has
no package on either side: the same call without and with ``ReturnConsumedCapacity=TOTAL``, what asking for the
billed units costs botocore and moto by themselves.
"""

from __future__ import annotations

import functools
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.update(
    OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large",
    OTEL_PYTHON_COST_PRICING_API="false",
    AWS_EC2_METADATA_DISABLED="true",
    OTEL_PYTHON_COST_STORE_URL="none",
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    AWS_DEFAULT_REGION="us-east-1",
)

import asyncio

import boto3
from aiobotocore.session import get_session
from botocore.awsrequest import AWSResponse
from opentelemetry.sdk.trace import TracerProvider

from opentelemetry_instrumentation_cost import CostInstrumentor
from scripts.harness import ROOT, run_moto

PAIRS = {"round trip": 600, "client side": 2000}
ASKS = "DynamoDB PutItem, caller asks ConsumedCapacity"
ASKING_ALONE = "DynamoDB PutItem, ConsumedCapacity asked, no package"
CHUNK = 25  # pairs between fresh SQS queues (moto's SendMessage time grows with the messages it holds)
ITEM = {"k": {"S": "1"}, "v": {"S": "x" * 100}}
Call = Callable[[], Any]


class _Replay:
    """botocore's before-send short-circuit: answer with a recorded response instead of sending."""

    def __init__(self, client: Any, call: Call) -> None:
        recorded: list[Any] = []
        record = lambda http_response, **_: recorded.append(http_response)  # noqa: E731
        client.meta.events.register("after-call", record)
        call()
        client.meta.events.unregister("after-call", record)
        r = recorded[0]
        self.answer = (r.url, r.status_code, r.headers, r.content)
        client.meta.events.register_first("before-send", self.replay)

    def replay(self, **_: Any) -> AWSResponse:
        url, status, headers, body = self.answer
        return AWSResponse(url, status, headers, _Raw(body))


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def _rows(queue_url: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Each measured call: (service, method, params)."""
    put = {"TableName": "bench", "Item": ITEM}
    return {
        "DynamoDB PutItem": ("dynamodb", "put_item", put),
        ASKS: (
            "dynamodb",
            "put_item",
            {**put, "ReturnConsumedCapacity": "TOTAL"},
        ),
        "SQS SendMessage": ("sqs", "send_message", {"QueueUrl": queue_url, "MessageBody": "x" * 200}),
    }


def _clients(moto_url: str, queue_url: str) -> dict[str, tuple[Any, functools.partial[Any]]]:
    """A client of its own per row (each replays its own answer), and the call."""
    made = {}
    for name, (service, method, params) in _rows(queue_url).items():
        client = boto3.client(service, endpoint_url=moto_url)
        made[name] = (client, functools.partial(getattr(client, method), **params))
    return made


def _aio_clients(moto_url: str, queue_url: str, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """aiobotocore clients for the same rows, each call run on ``loop``."""
    made = {}
    for name, (service, method, params) in _rows(queue_url).items():
        client = loop.run_until_complete(get_session().create_client(service, endpoint_url=moto_url).__aenter__())
        made[f"aiobotocore {name}"] = (client, functools.partial(_run, loop, getattr(client, method), **params))
    return made


def _run(loop: asyncio.AbstractEventLoop, method: Callable[..., Any], **params: Any) -> Any:
    return loop.run_until_complete(method(**params))


def _paired(base: Call, cost: Call, pairs: int, between: Call) -> tuple[float, float]:
    """Median seconds per call of each side, timed call by call in pairs of alternating order."""
    times: tuple[list[float], list[float]] = ([], [])
    clock = time.perf_counter
    for _ in range(20):  # warm both paths
        base(), cost()
    for i in range(pairs):
        if i % CHUNK == 0:
            between()
        order = ((0, base), (1, cost)) if i % 2 else ((1, cost), (0, base))
        for side, call in order:
            t0 = clock()
            call()
            times[side].append(clock() - t0)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    with run_moto(ROOT / ".bench" / "logs") as moto_url:
        setup = boto3.client("dynamodb", endpoint_url=moto_url)
        setup.create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs_admin = boto3.client("sqs", endpoint_url=moto_url)
        queues = itertools.count()
        queue = sqs_admin.create_queue(QueueName="bench")["QueueUrl"]

        loop = asyncio.new_event_loop()
        plain = _clients(moto_url, queue)  # created before instrument(): never hooked
        alone = _clients(moto_url, queue)  # ASKING_ALONE compares two of these, unhooked too
        aio_plain = _aio_clients(moto_url, queue, loop)
        CostInstrumentor().instrument()
        CostInstrumentor().runtime.settled.wait(5)
        hooked = _clients(moto_url, queue)
        aio_hooked = _aio_clients(moto_url, queue, loop)

        def fresh_queue() -> None:  # moto slows down as it holds more messages, and PurgeQueue is rate-limited
            old = plain["SQS SendMessage"][1].keywords["QueueUrl"]
            url = sqs_admin.create_queue(QueueName=f"bench-{next(queues)}")["QueueUrl"]
            sqs_admin.delete_queue(QueueUrl=old)
            for made in (plain, hooked):
                made["SQS SendMessage"][1].keywords["QueueUrl"] = url
            for made in (aio_plain, aio_hooked):
                made["aiobotocore SQS SendMessage"][1].keywords["QueueUrl"] = url

        tracer = TracerProvider(shutdown_on_exit=False).get_tracer("bench")
        print(f"{'call':<60}{'mode':<13}{'without µs':>11}{'with µs':>10}{'added µs':>10}{'ratio':>8}  goal")
        with tracer.start_as_current_span("root"):
            for mode, pairs in PAIRS.items():
                measured = [(name, plain[name], hooked[name]) for name in plain]
                measured.append((ASKING_ALONE, alone["DynamoDB PutItem"], alone[ASKS]))
                if mode == "round trip":
                    measured += [(name, aio_plain[name], aio_hooked[name]) for name in aio_plain]
                for name, (base_client, base), (cost_client, cost) in measured:
                    if mode == "client side":
                        _Replay(base_client, base)
                        _Replay(cost_client, cost)
                    b, c = _paired(base, cost, pairs, fresh_queue)
                    goal = "(no package)" if name == ASKING_ALONE else "< 2%" if mode == "round trip" else "(reported)"
                    print(
                        f"{name:<60}{mode:<13}{b * 1e6:>11.1f}{c * 1e6:>10.1f}{(c - b) * 1e6:>10.1f}"
                        f"{c / b:>8.3f}  {goal}"
                    )
        for client, _ in (*aio_plain.values(), *aio_hooked.values()):
            loop.run_until_complete(client.__aexit__(None, None, None))
        loop.close()


if __name__ == "__main__":
    main()
