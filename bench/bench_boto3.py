"""Overhead of the package's botocore hooks per boto3 call, against moto, in one run.

Two clients of each service in one process: one created before ``instrument()`` (no hooks), one after (hooked);
both called inside an open local root, so the whole metering path runs (meter, price, attach to the root).
Rounds alternate between them; the fastest round of each is kept.

* round trip: real calls to moto's server on loopback (includes moto's own time);
* client side: moto's recorded answer replayed through botocore's ``before-send`` short-circuit, so the figure is
  a share of botocore's own per-call work (serialise, sign, parse), which is what the goal is about.
"""

from __future__ import annotations

import os
import sys
import time
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

import boto3
from botocore.awsrequest import AWSResponse
from opentelemetry.sdk.trace import TracerProvider

from opentelemetry_instrumentation_cost import CostInstrumentor
from scripts.harness import ROOT, run_moto

ROUNDS, CALLS = 15, 100


def _calls(clients: dict[str, Any], queue_url: str) -> list[tuple[str, Any, Any]]:
    """(name, client, call) for each measured operation; each side has its own queue, which grows alike."""
    ddb, sqs = clients["dynamodb"], clients["sqs"]
    return [
        (
            "DynamoDB PutItem",
            ddb,
            lambda: ddb.put_item(TableName="bench", Item={"k": {"S": "1"}, "v": {"S": "x" * 100}}),
        ),
        ("SQS SendMessage", sqs, lambda: sqs.send_message(QueueUrl=queue_url, MessageBody="x" * 200)),
    ]


class _Replay:
    """botocore's before-send short-circuit: answer with a recorded response instead of sending."""

    def __init__(self) -> None:
        self.recorded: AWSResponse | None = None

    def record(self, http_response: Any, **_: Any) -> None:
        self.recorded = AWSResponse(
            http_response.url, http_response.status_code, http_response.headers, _Raw(http_response.content)
        )

    def replay(self, request: Any, **_: Any) -> AWSResponse | None:
        r = self.recorded
        return None if r is None else AWSResponse(r.url, r.status_code, r.headers, _Raw(r.raw.data))


class _Raw:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def _time(fn: Any, tracer: Any) -> float:
    with tracer.start_as_current_span("root"):
        t0 = time.perf_counter()
        for _ in range(CALLS):
            fn()
        return (time.perf_counter() - t0) / CALLS


def _clients(moto_url: str) -> dict[str, Any]:
    return {s: boto3.client(s, endpoint_url=moto_url) for s in ("dynamodb", "sqs")}


def main() -> None:
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("bench")
    with run_moto(ROOT / ".bench" / "logs") as moto_url:
        plain = _clients(moto_url)  # created before instrument(): never hooked
        plain["dynamodb"].create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        plain_queue = plain["sqs"].create_queue(QueueName="bench-plain")["QueueUrl"]
        hooked_queue = plain["sqs"].create_queue(QueueName="bench-hooked")["QueueUrl"]
        CostInstrumentor().instrument()
        CostInstrumentor().runtime.settled.wait(5)
        tracer = TracerProvider(shutdown_on_exit=False).get_tracer("bench")
        hooked = _clients(moto_url)
        print(f"{'call':<20}{'mode':<14}{'without µs':>12}{'with µs':>10}{'added µs':>10}{'ratio':>8}  goal")
        pairs = zip(_calls(plain, plain_queue), _calls(hooked, hooked_queue), strict=True)
        for (name, base_client, base_fn), (_, cost_client, cost_fn) in pairs:
            for mode in ("round trip", "client side"):
                if mode == "client side":
                    for client, fn in ((base_client, base_fn), (cost_client, cost_fn)):
                        replay = _Replay()
                        client.meta.events.register("after-call", replay.record)
                        fn()
                        client.meta.events.unregister("after-call", replay.record)
                        client.meta.events.register_first("before-send", replay.replay)
                base, cost = [], []
                for _ in range(ROUNDS):
                    base.append(_time(base_fn, tracer))
                    cost.append(_time(cost_fn, tracer))
                b, c = min(base), min(cost)
                goal = "< 2%" if mode == "client side" else ""
                print(
                    f"{name:<20}{mode:<14}{b * 1e6:>12.1f}{c * 1e6:>10.1f}{(c - b) * 1e6:>10.1f}{c / b:>8.3f}  {goal}"
                )


if __name__ == "__main__":
    main()
