"""Per-call prices follow what was called: S3 requests by the object's storage class, DynamoDB units by the table's
class and Lambda duration by the function's architecture (both from the price file: the calls do not say).

Expected figures: AWS's published us-east-1 prices, written here (S3: Standard-IA and One Zone-IA $0.01 / $0.001
per 1,000 PUT / GET, Glacier Instant Retrieval $0.02 / $0.01, Intelligent-Tiering $0.005 / $0.0004; DynamoDB
Standard-IA on demand $0.78 per million writes; Lambda $0.0000166667 per GB-second on x86, $0.0000133334 on arm64,
$0.20 per million requests).
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from tests.fakes.lambda_invoke import FakeLambda
from tests.test_aws_meters import _by_name, session

S3_PUT = {"STANDARD": 5e-06, "STANDARD_IA": 1e-05, "ONEZONE_IA": 1e-05, "GLACIER_IR": 2e-05,
          "INTELLIGENT_TIERING": 5e-06}  # fmt: skip


def test_s3_requests_are_priced_by_storage_class(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    with session(monkeypatch, moto_url, "before") as (tracer, exporter):
        s3 = boto3.client("s3", region_name="us-east-1")
        with tracer.start_as_current_span("setup"):
            s3.create_bucket(Bucket="classes")
        with tracer.start_as_current_span("request"):
            for storage in [*S3_PUT, "GLACIER"]:
                s3.put_object(Bucket="classes", Key=storage, Body=b"x", StorageClass=storage)
            s3.get_object(Bucket="classes", Key="STANDARD_IA")["Body"].read()
            s3.get_object(Bucket="classes", Key="STANDARD")["Body"].read()
    spans = _by_name(exporter)
    puts = [s.attributes for s in spans["S3.PutObject"]]
    assert [p.get("cost.usd") for p in puts[:-1]] == [pytest.approx(v, rel=1e-12) for v in S3_PUT.values()]
    assert "cost.usd" not in puts[-1] and puts[-1]["cost.pricing.source"] == "unknown"  # Glacier: no price offline
    gets = [s.attributes["cost.usd"] for s in spans["S3.GetObject"]]
    assert gets == [pytest.approx(1e-06, rel=1e-12), pytest.approx(4e-07, rel=1e-12)]  # IA's GET, Standard's GET


def test_a_standard_ia_table_named_in_the_price_file_is_priced_at_its_class(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"dynamodb_tables": {"archive": "STANDARD_INFREQUENT_ACCESS"}}))
    with session(monkeypatch, moto_url, "before", price_file=prices) as (tracer, exporter):
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        with tracer.start_as_current_span("setup"):
            for name in ("archive", "live"):
                ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                 BillingMode="PAY_PER_REQUEST", TableClass="STANDARD_INFREQUENT_ACCESS"
                                 if name == "archive" else "STANDARD")  # fmt: skip
        with tracer.start_as_current_span("request"):
            for name in ("archive", "live"):
                ddb.put_item(TableName=name, Item={"pk": {"S": "1"}})
    puts = [s.attributes for s in _by_name(exporter)["DynamoDB.PutItem"]]
    assert [p["cost.usd"] for p in puts] == [pytest.approx(7.8e-07, rel=1e-12), pytest.approx(6.25e-07, rel=1e-12)]
    assert [p["cost.service.units"] for p in puts] == ["IA-WriteRequestUnits", "WriteRequestUnits"]


def test_an_arm64_function_named_in_the_price_file_is_priced_at_the_arm64_rate(
    monkeypatch: pytest.MonkeyPatch, moto_url: str, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"lambda_functions": {"arn:aws:lambda:us-east-1:123456789012:function:resize": "arm64"}})
    )
    with FakeLambda(billed_ms=120, memory_mb=1024) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake.url)
        with session(monkeypatch, moto_url, "before", price_file=prices) as (tracer, exporter):
            lam = boto3.client("lambda", region_name="us-east-1")
            with tracer.start_as_current_span("request"):
                for name in ("resize", "resize:live", "thumbnail"):
                    lam.invoke(FunctionName=name, LogType="Tail", Payload=b"{}")
    invokes = [s.attributes["cost.usd"] for s in _by_name(exporter)["Lambda.Invoke"]]
    arm, x86 = 0.12 * 1.0 * 1.33334e-05 + 2e-07, 0.12 * 1.0 * 1.66667e-05 + 2e-07
    assert invokes == [pytest.approx(v, rel=1e-9) for v in (arm, arm, x86)]
