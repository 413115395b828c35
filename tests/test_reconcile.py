"""``otel-cost reconcile``: the public bill samples, and bills this test writes, with planted differences, for a
store filled by an instrumented process against moto; ``--calibrate`` then a process priced at the bill's rate.

Truths: the samples' golden totals (their README: AWS usage lines list at $20.763, one credit of −$2.61), the calls
moto received, AWS's published unit prices, and the differences planted here.
"""

from __future__ import annotations

import csv
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest

from scripts.harness import BIN
from tests.moto_log import MotoLog, dynamodb_operations, s3_requests
from tests.test_aws_meters import _by_name, session

SAMPLES = Path(__file__).parent / "data" / "billing"
DISCOUNT, MORE = 0.8, 1.01  # planted: a 20% discount, 1% more billed DynamoDB writes
PRICES = {("dynamodb", "WriteRequestUnits"): 6.25e-07, ("s3", "Requests-Tier1"): 5e-06, ("sqs", "Requests"): 4e-07}
CODES = {"dynamodb": "AmazonDynamoDB", "s3": "AmazonS3", "sqs": "AWSQueueService"}
USAGE_TYPES = {"dynamodb": "WriteRequestUnits", "s3": "Requests-Tier1", "sqs": "Requests-Tier1"}


def _reconcile(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "otel-cost"), "reconcile", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("reader", ["duckdb", "csv"])
def test_the_public_samples_layouts_totals_and_credits(tmp_path: Path, reader: str) -> None:
    store = f"sqlite:///{tmp_path / 'empty.db'}"
    focus = _reconcile("--bill", str(SAMPLES / "focus-1.0-sample.csv"), "--store", store, "--output", "json",
                       "--reader", reader)  # fmt: skip
    assert focus.returncode == 1  # no day of the bill has stored usage: nothing compared is not a match
    report = json.loads(focus.stdout)
    assert report["bill"]["layout"] == "focus-1.0"
    assert report["bill_totals"]["usage_list_usd"] == pytest.approx(20.763, abs=5e-4)
    assert report["bill_totals"]["apart"] == {"credit": pytest.approx(-2.61, abs=5e-3)}  # never in the comparison
    cur = json.loads(_reconcile("--bill", str(SAMPLES / "aws-cur-legacy-sample.csv"), "--store", store, "--output",
                                "json", "--reader", reader).stdout)  # fmt: skip
    assert cur["bill"]["layout"] == "cur"
    with (SAMPLES / "aws-cur-legacy-sample.csv").open() as f:
        rows = list(csv.DictReader(f))
    usage = [r for r in rows if r["lineItem/LineItemType"] == "Usage"]
    assert cur["bill_totals"]["usage_lines"] == len(usage)
    assert cur["bill_totals"]["usage_list_usd"] == pytest.approx(sum(float(r["pricing/publicOnDemandCost"] or 0)
                                                                     for r in usage))  # fmt: skip
    taxes = sum(float(r["lineItem/UnblendedCost"]) for r in rows if r["lineItem/LineItemType"] == "Tax")
    assert cur["bill_totals"]["apart"] == {"tax": pytest.approx(taxes)}


def test_bad_bills_and_stores_get_their_exit_codes(tmp_path: Path) -> None:
    with (SAMPLES / "focus-1.0-sample.csv").open() as f:
        header = next(csv.reader(f))
    broken = tmp_path / "no-quantity.csv"
    broken.write_text(",".join(c for c in header if c != "ConsumedQuantity") + "\n")
    done = _reconcile("--bill", str(broken), "--reader", "csv")
    assert done.returncode == 4 and "ConsumedQuantity" in done.stderr
    assert _reconcile("--bill", str(tmp_path / "missing.csv")).returncode == 2
    unreachable = _reconcile("--bill", str(SAMPLES / "focus-1.0-sample.csv"), "--store",
                             "postgresql://postgres@127.0.0.1:9/none")  # fmt: skip
    assert unreachable.returncode == 3, unreachable.stderr


def _fill(monkeypatch: pytest.MonkeyPatch, moto: MotoLog, store: str) -> dict[str, int]:
    """An instrumented process's calls; what moto received, counted per meter unit."""
    name = f"bill-{uuid.uuid4().hex[:8]}"  # one moto server for the session: names of this test's own
    with (
        moto.recording_requests() as received,
        session(monkeypatch, moto.url, "before", store_url=store) as (tracer, _exporter),
    ):
        ddb, s3, sqs = (boto3.client(n, region_name="us-east-1") for n in ("dynamodb", "s3", "sqs"))
        with tracer.start_as_current_span("setup"):
            ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST")  # fmt: skip
            s3.create_bucket(Bucket=name)
            queue = sqs.create_queue(QueueName=name)["QueueUrl"]
        for n in range(10):
            with tracer.start_as_current_span("request"):
                ddb.put_item(TableName=name, Item={"pk": {"S": str(n)}})
                if n < 5:
                    s3.put_object(Bucket=name, Key=str(n), Body=b"x")
                if n < 4:
                    sqs.send_message(QueueUrl=queue, MessageBody="x")
    return {
        "dynamodb": dynamodb_operations(received, "PutItem"),  # 1 WRU each (moto's ConsumedCapacity)
        "s3": len([m for m in s3_requests(received, name) if m == "PUT"]),  # CreateBucket and PutObject
        "sqs": sum(1 for r in received if "AmazonSQS." in (r.target or "")),  # CreateQueue and SendMessage
    }


def _lines(counts: dict[str, int], hourly: bool = True) -> list[dict[str, Any]]:
    """The planted bill: today's usage in two lines each (one with the region prefix, one without; hourly, or both
    dated at the day's start as a daily export has them), list prices, 20% off, 1% more DynamoDB writes; a NAT
    gateway nothing estimates; a credit and tax apart."""
    day = time.strftime("%Y-%m-%d", time.gmtime())
    out = []
    for service, count in counts.items():
        quantity = count * (MORE if service == "dynamodb" else 1.0)
        for hour, prefix in ((0, "USE1-"), (1, "")):
            q = quantity / 2
            listed = q * PRICES[(service, "Requests" if service == "sqs" else USAGE_TYPES[service])]
            out.append({"day": f"{day} {hour if hourly else 0:02d}:00:00", "code": CODES[service], "kind": "Usage",
                        "usage": prefix + USAGE_TYPES[service], "quantity": q, "list": listed,
                        "effective": listed * DISCOUNT})  # fmt: skip
    out.append({"day": f"{day} 00:00:00", "code": "AmazonEC2", "usage": "USE1-NatGateway-Hours", "quantity": 24.0,
                "list": 1.08, "effective": 1.08, "kind": "Usage"})  # fmt: skip
    out.append({"day": f"{day} 00:00:00", "code": "AmazonEC2", "usage": "", "quantity": 0, "list": 0,
                "effective": -1.0, "kind": "Credit"})  # fmt: skip
    out.append({"day": f"{day} 00:00:00", "code": "AmazonEC2", "usage": "", "quantity": 0, "list": 0,
                "effective": 0.5, "kind": "Tax"})  # fmt: skip
    return out


def _write(lines: list[dict[str, Any]], layout: str, path: Path) -> None:
    if layout == "cur":
        rows = [{"lineItem/UsageStartDate": x["day"].replace(" ", "T") + "Z", "lineItem/ProductCode": x["code"],
                 "lineItem/UsageType": x["usage"], "product/regionCode": "us-east-1",
                 "lineItem/LineItemType": x["kind"],
                 "lineItem/UsageAmount": x["quantity"], "pricing/publicOnDemandCost": x["list"],
                 "lineItem/UnblendedCost": x["effective"]} for x in lines]  # fmt: skip
    else:  # an AWS FOCUS 1.0 export, with its x_ columns
        rows = [{"ChargePeriodStart": x["day"], "ProviderName": "AWS", "x_ServiceCode": x["code"],
                 "ServiceName": x["code"], "x_UsageType": x["usage"], "ChargeDescription": "", "RegionId": "us-east-1",
                 "ChargeCategory": {"Usage": "Usage", "Credit": "Credit", "Tax": "Tax"}[x["kind"]],
                 "ConsumedQuantity": x["quantity"], "ListCost": x["list"], "EffectiveCost": x["effective"],
                 "BilledCost": x["effective"]} for x in lines]  # fmt: skip
    csv_path = path.with_suffix(".csv")
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if path.suffix == ".parquet":
        duckdb.execute(f"COPY (SELECT * FROM read_csv('{csv_path}', header = true)) TO '{path}' (FORMAT PARQUET)")
        csv_path.unlink()


@pytest.mark.parametrize(
    ("layout", "suffix", "reader"),
    [("focus", ".csv", "duckdb"), ("focus", ".csv", "csv"), ("cur", ".csv", "csv"), ("cur", ".parquet", "duckdb")],
)
def test_reconcile_reports_what_was_planted(
    monkeypatch: pytest.MonkeyPatch, logged_moto: MotoLog, tmp_path: Path, layout: str, suffix: str, reader: str
) -> None:
    store = f"sqlite:///{tmp_path / 'c.db'}"
    counts = _fill(monkeypatch, logged_moto, store)
    assert counts == {"dynamodb": 10, "s3": 6, "sqs": 5}
    bill = tmp_path / f"bill{suffix}"
    _write(_lines(counts, hourly=layout == "focus"), layout, bill)  # FOCUS hourly, the CURs daily
    done = _reconcile("--bill", str(bill), "--store", store, "--output", "json", "--reader", reader)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    units = {(u["service"], u["unit"]): u for u in report["units"]}
    assert set(units) == set(PRICES)
    for (service, unit), price in PRICES.items():
        u = units[(service, unit)]
        billed = counts[service] * (MORE if service == "dynamodb" else 1.0)
        assert u["billed_quantity"] == pytest.approx(billed)
        assert u["estimated_quantity"] == pytest.approx(counts[service])
        assert u["quantity_error"] == pytest.approx((counts[service] - billed) / billed, abs=1e-12)
        assert u["realised_rate"] == pytest.approx(DISCOUNT) and u["price_drift"] == pytest.approx(0.0, abs=1e-9)
        assert u["effective_unit_price"] == pytest.approx(price * DISCOUNT)
    assert report["unexplained"][0] == {"service": "AmazonEC2", "usage": "USE1-NatGateway-Hours", "region": "us-east-1",
                                        "effective_usd": pytest.approx(1.08)}  # fmt: skip
    explained = sum(counts[s] * (MORE if s == "dynamodb" else 1) * PRICES[(s, u)] * DISCOUNT for s, u in PRICES)
    assert report["coverage"] == pytest.approx(explained / (explained + 1.08))
    assert report["apart"] == {"credit": pytest.approx(-1.0), "tax": pytest.approx(0.5)}
    unbilled = {(e["service"], e["unit"]) for e in report["unbilled_estimates"]}
    assert ("ec2", "BoxUsage:m5.large") in unbilled  # the host's hours: this bill has no EC2 instance line
    strict = _reconcile("--bill", str(bill), "--store", store, "--tolerance", "0.005", "--reader", reader)
    assert strict.returncode == 1 and "outside tolerance" in strict.stdout  # the 1% DynamoDB difference


def test_calibrated_prices_are_the_bills_effective_rates(
    monkeypatch: pytest.MonkeyPatch, logged_moto: MotoLog, tmp_path: Path
) -> None:
    bill = tmp_path / "bill.csv"
    _write(_lines({"dynamodb": 10, "s3": 6, "sqs": 5}), "focus", bill)
    prices = tmp_path / "prices.json"
    done = _reconcile("--bill", str(bill), "--calibrate", str(prices))
    assert done.returncode == 0, done.stderr
    written = json.loads(prices.read_text())
    day = time.strftime("%Y-%m-%d", time.gmtime())
    assert written["calibrated"]["period"] == f"{day}/{day}"
    with session(monkeypatch, logged_moto.url, "before", price_file=prices) as (tracer, exporter):
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        with tracer.start_as_current_span("setup"):
            ddb.create_table(TableName="calibrated", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST")  # fmt: skip
        with tracer.start_as_current_span("request"):
            ddb.put_item(TableName="calibrated", Item={"pk": {"S": "1"}})
    (put,) = [s.attributes for s in _by_name(exporter)["DynamoDB.PutItem"]]
    assert put["cost.usd"] == pytest.approx(6.25e-07 * DISCOUNT, rel=1e-9)  # the bill's effective rate per WRU
    assert put["cost.pricing.source"] == "calibrated"
