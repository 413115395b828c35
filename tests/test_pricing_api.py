"""The Price List API gives every price the package uses, for the region in force: EC2 bare metal, Fargate,
Lambda and the meters' units, in eu-west-1 and ap-southeast-2 (regions the snapshot has no service prices for).

A loopback Price List server answers ``GetProducts`` with real-shaped products (usage types with the region's
prefix, tiered prices, hundreds of unrelated products so that answers are paged) and records when each request
came. The expected charges are the fake's own figures × the quantities moto's answers show.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fakes.ecs import FakeEcs
from tests.fakes.pricing import FakePriceList, PricingConfig, service_product
from tests.inprocess import instrumented, memory_provider
from tests.test_aws_meters import _by_name, session

EU = {"dynamodb/WriteRequestUnits": 7.05e-07, "s3/Requests-Tier1": 5.4e-06, "sqs/Requests": 4.4e-07}
AP = {"vcpu": 0.04856, "gb": 0.00532, "gb_second": 1.7e-05}


def _products() -> dict[str, list[dict]]:
    eu, ap = "eu-west-1", "ap-southeast-2"
    s3_noise = [
        service_product("AmazonS3", eu, f"EU-DataTransfer-Out-Bytes-{n}", [(0, 0.09)], "Data Transfer")
        for n in range(1450)
    ]  # 1,452 products: 15 pages of 100, more than the quota's burst of 10
    return {
        "AmazonDynamoDB": [
            service_product("AmazonDynamoDB", eu, "EU-WriteRequestUnits", [(0, EU["dynamodb/WriteRequestUnits"])]),
            service_product("AmazonDynamoDB", eu, "EU-ReadRequestUnits", [(0, 1.41e-07)]),
            service_product("AmazonDynamoDB", eu, "EU-IA-WriteRequestUnits", [(0, 8.8e-07)]),
            service_product("AmazonDynamoDB", eu, "EU-TimedStorage-ByteHrs", [(0, 0.283)], "Database Storage"),
            service_product("AmazonDynamoDB", "us-west-2", "USW2-WriteRequestUnits", [(0, 6.25e-07)]),
        ],
        "AmazonS3": [
            service_product("AmazonS3", eu, "EU-Requests-Tier1", [(0, EU["s3/Requests-Tier1"])]),
            service_product("AmazonS3", eu, "EU-Requests-Tier2", [(0, 4.3e-07)]),
            *s3_noise,
        ],
        "AWSQueueService": [  # the first million a month free, then tiers: the first paid tier is the price
            service_product(
                "AWSQueueService", eu, "EU-Requests-Tier1", [(0, 0), (1e6, EU["sqs/Requests"]), (1e11, 3e-7)]
            ),
            service_product("AWSQueueService", eu, "EU-Requests-FIFO-Tier1", [(0, 0), (1e6, 5.5e-07)]),
        ],
        "AmazonECS": [
            service_product("AmazonECS", ap, "APS2-Fargate-vCPU-Hours:perCPU", [(0, AP["vcpu"])], "Compute"),
            service_product("AmazonECS", ap, "APS2-Fargate-GB-Hours", [(0, AP["gb"])], "Compute"),
            service_product("AmazonECS", ap, "APS2-Fargate-ARM-vCPU-Hours:perCPU", [(0, 0.03885)], "Compute"),
            service_product("AmazonECS", ap, "APS2-Fargate-ARM-GB-Hours", [(0, 0.00426)], "Compute"),
        ],
        "AWSLambda": [
            service_product("AWSLambda", ap, "APS2-Lambda-GB-Second", [(0, AP["gb_second"]), (6e9, 1.5e-05)]),
            service_product("AWSLambda", ap, "APS2-Request", [(0, 2e-07)]),
        ],
    }


def _config() -> PricingConfig:
    return PricingConfig(prices={("m7i.metal-24xl", "eu-west-1"): 5.9136}, products=_products())


def _setup(tracer: Any) -> str:
    with tracer.start_as_current_span("setup"):
        boto3.client("dynamodb", region_name="eu-west-1").create_table(
            TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        boto3.client("s3", region_name="eu-west-1").create_bucket(
            Bucket="prices-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        return str(boto3.client("sqs", region_name="eu-west-1").create_queue(QueueName="q")["QueueUrl"])


def _calls(tracer: Any, queue: str) -> None:
    with tracer.start_as_current_span("request"):
        boto3.client("dynamodb", region_name="eu-west-1").put_item(TableName="t", Item={"pk": {"S": "1"}})
        boto3.client("s3", region_name="eu-west-1").put_object(Bucket="prices-bucket", Key="k", Body=b"x")
        boto3.client("sqs", region_name="eu-west-1").send_message(QueueUrl=queue, MessageBody="x")


def _charged(exporter: Any) -> dict[str, tuple[Any, Any]]:
    spans = _by_name(exporter)
    last = {name: spans[name][-1].attributes for name in ("DynamoDB.PutItem", "S3.PutObject", "SQS.SendMessage")}
    return {name: (a.get("cost.usd"), a.get("cost.pricing.source")) for name, a in last.items()}


def test_an_eu_west_1_process_prices_its_metal_host_and_its_calls_from_the_api_then_the_cache(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, tmp_path: Path
) -> None:
    want = {
        "DynamoDB.PutItem": (pytest.approx(EU["dynamodb/WriteRequestUnits"]), "api"),  # 1 WRU (moto's capacity)
        "S3.PutObject": (pytest.approx(EU["s3/Requests-Tier1"]), "api"),
        "SQS.SendMessage": (pytest.approx(EU["sqs/Requests"]), "api"),
    }
    settings = {"instance_type": "m7i.metal-24xl", "pricing_api": True, "pricing_region": "eu-west-1",
                "cache_dir": tmp_path}  # fmt: skip
    with FakePriceList(_config()) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", fake.url)
        with session(monkeypatch, moto_url, "before", **settings) as (tracer, exporter):
            queue = _setup(tracer)
            _calls(tracer, queue)  # each service's first call asks the API (itself priced from nothing: unknown)
            _wait_for(lambda: fake.get_products_calls() >= 1 + 1 + 15 + 1)
            _calls(tracer, queue)
            roots = [s.attributes for s in exporter.get_finished_spans() if s.name == "request"]
        assert _charged(exporter) == want
        assert roots[-1]["cost.pricing.source"] == "api"  # the metal host: 5.9136 an hour from the API
        calls = fake.get_products_calls()
        assert calls == 1 + 1 + 15 + 1  # EC2 once, DynamoDB once, S3 in 15 pages, SQS once: once per process
        assert fake.quota_kept(rate=5, burst=10)

        with session(monkeypatch, moto_url, "before", **settings) as (tracer, exporter):  # a restart within the TTL
            _calls(tracer, queue)
            roots = [s.attributes for s in exporter.get_finished_spans() if s.name == "request"]
        assert fake.get_products_calls() == calls  # not one request
    assert _charged(exporter) == {name: (usd, "cache") for name, (usd, _) in want.items()}
    assert roots[-1]["cost.pricing.source"] == "cache"


def _wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the answer is applied right after it arrives


@pytest.mark.parametrize("platform", ["fargate", "lambda"])
def test_fargate_and_lambda_hosts_in_ap_southeast_2_are_priced_from_the_api_then_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, platform: str
) -> None:
    with FakePriceList(_config()) as fake, FakeEcs(cpu=0.5, memory_mib=2048, region="ap-southeast-2") as ecs:
        monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", fake.url)
        monkeypatch.setenv("OTEL_PYTHON_COST_PRICING_API", "true")
        monkeypatch.setenv("OTEL_PYTHON_COST_CACHE_DIR", str(tmp_path))
        monkeypatch.delenv("OTEL_PYTHON_COST_INSTANCE_TYPE", raising=False)
        if platform == "fargate":
            monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", ecs.url_v4)
            hourly = 0.5 * AP["vcpu"] + 2.0 * AP["gb"]
        else:
            for k, v in {"AWS_LAMBDA_FUNCTION_NAME": "fn", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
                         "AWS_REGION": "ap-southeast-2"}.items():  # fmt: skip
                monkeypatch.setenv(k, v)
            hourly = 2.0 * 3600 * AP["gb_second"]  # the first tier
        sources = []
        for _ in range(2):  # a start, then a restart within the TTL
            provider, _exporter = memory_provider()
            with instrumented(tracer_provider=provider) as inst:
                assert inst.runtime is not None and inst.runtime.compute is not None
                assert inst.runtime.compute.price.usd == pytest.approx(hourly, rel=1e-12)
                sources.append(inst.runtime.compute.price.source)
        assert sources == ["api", "cache"]
        assert fake.get_products_calls() == 1
