"""`make demo`'s last sections: prices in every region offline, and a store that keeps a year in bounded size."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from scripts.harness import BIN


def priced_everywhere() -> None:
    print("\n--- priced everywhere: the bundled snapshot, offline (no Price List API) ---")
    print("$ otel-cost prices --coverage   (first lines, and three regions)")
    out = subprocess.run([str(BIN / "otel-cost"), "prices", "--coverage"], capture_output=True, text=True).stdout
    lines = out.splitlines()
    keep = [line for line in lines if line.startswith(("region ", "us-east-1 ", "eu-west-1 ", "ap-southeast-2 "))]
    print("\n".join(lines[:5] + keep + lines[-1:]))
    for region, itype in (("eu-west-1", "m5.large"), ("us-east-1", "m7i.metal-24xl"), ("il-central-1", "m5.large")):
        print(f"\n$ otel-cost prices --region {region} --instance-type {itype}   (its line)")
        out = subprocess.run(
            [str(BIN / "otel-cost"), "prices", "--region", region, "--instance-type", itype],
            capture_output=True, text=True, env={"OTEL_PYTHON_COST_PRICING_API": "false", "PATH": "/usr/bin"},
        ).stdout  # fmt: skip
        print(next(line for line in out.splitlines() if line.strip().startswith(itype)))


def rolled_up(work: Path) -> None:
    """Three days back, 2,000 per-minute rows written through the store; the daily upkeep rolls them up to hours."""
    from opentelemetry_instrumentation_cost.store.model import Batch, Row
    from opentelemetry_instrumentation_cost.store.sqlite import SQLiteStore

    path = work / "rollup.db"
    path.unlink(missing_ok=True)
    day = (int(time.time()) // 86400 - 3) * 86400
    rng = random.Random(3)
    rows = {
        (day + 60 * m, "shop", f"GET /item/{t}", "m5.large", "us-east-1", "host-a", "boot"): Row(
            rng.randint(1, 9), 1e-5, 8e-6, 2e-6, 3e-6
        )
        for m in range(0, 1440, 3)
        for t in range(4)
    }
    SQLiteStore(path, rollup_days=30).write(Batch(rows))
    query = "SELECT count(*), sum(count), round(sum(sum_usd), 9) FROM otel_cost_transactions"
    before = sqlite3.connect(path).execute(query).fetchone()
    SQLiteStore(path, rollup_days=2).maintain()  # what every process does once a day after a periodic flush
    after = sqlite3.connect(path).execute(query).fetchone()
    print("\n--- a bounded store: per-minute rows older than OTEL_PYTHON_COST_ROLLUP_DAYS (2) become hourly ---")
    print(f"a day three days back: {before[0]:,} per-minute rows ({before[1]:,} requests, ${before[2]}) → "
          f"{after[0]:,} hourly rows ({after[1]:,} requests, ${after[2]}): every sum and count kept")  # fmt: skip
    sys.stdout.flush()


_PUBLISHED = {  # AWS's published us-east-1 list prices, per unit (aws-pricing-facts.md)
    ("dynamodb", "WriteRequestUnits"): 6.25e-07, ("dynamodb", "ReadRequestUnits"): 1.25e-07,
    ("s3", "Requests-Tier1"): 5e-06, ("s3", "Requests-Tier2"): 4e-07, ("sqs", "Requests"): 4e-07,
    ("ec2", "BoxUsage:m5.large"): 0.096,
}  # fmt: skip
_USAGE_TYPES = {("sqs", "Requests"): "Requests-Tier1"}
_CODES = {"dynamodb": "AmazonDynamoDB", "s3": "AmazonS3", "sqs": "AWSQueueService", "ec2": "AmazonEC2"}


def reconciled(work: Path, store: str) -> None:
    """A bill for the demo's own usage (a FOCUS export with AWS's x_ columns), at list prices less 18%, with a NAT
    gateway nothing estimates and a credit; then ``otel-cost reconcile`` against the store."""
    import csv

    db = store.removeprefix("sqlite:///")
    used = (
        sqlite3.connect(db)
        .execute(
            "SELECT strftime('%Y-%m-%d', bucket_start, 'unixepoch'), aws_service, region, unit, sum(quantity) "
            "FROM otel_cost_usage GROUP BY 1, 2, 3, 4"
        )
        .fetchall()
    )
    bill = work / "bill-focus.csv"
    fields = ["ChargePeriodStart", "ProviderName", "x_ServiceCode", "ServiceName", "x_UsageType", "RegionId",
              "ChargeCategory", "ConsumedQuantity", "ListCost", "EffectiveCost", "BilledCost"]  # fmt: skip
    with bill.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        day = used[0][0] if used else time.strftime("%Y-%m-%d", time.gmtime())
        for d, service, region, unit, quantity in used:
            price = _PUBLISHED.get((service, unit))
            if price is not None:
                usage = _USAGE_TYPES.get((service, unit), unit)
                listed = quantity * price
                writer.writerow(_line(d, _CODES[service], usage, region, "Usage", quantity, listed, listed * 0.82))
        writer.writerow(_line(day, "AmazonEC2", "USE1-NatGateway-Hours", "us-east-1", "Usage", 1, 0.045, 0.045))
        writer.writerow(_line(day, "AmazonEC2", "", "us-east-1", "Credit", 0, 0, -0.01))
    print("\n--- the estimates against a bill: the demo writes a FOCUS export for its own usage, at AWS's list")
    print("prices less 18%, with a NAT gateway nothing estimates and a credit ---")
    print(f"$ otel-cost reconcile --bill {bill} --store {store}")
    sys.stdout.flush()
    subprocess.run([str(BIN / "otel-cost"), "reconcile", "--bill", str(bill), "--store", store], check=False)


def _line(day: str, code: str, usage: str, region: str, kind: str, quantity: float, listed: float, cost: float) -> dict:
    return {"ChargePeriodStart": f"{day} 00:00:00", "ProviderName": "AWS", "x_ServiceCode": code, "ServiceName": code,
            "x_UsageType": usage, "RegionId": region, "ChargeCategory": kind, "ConsumedQuantity": quantity,
            "ListCost": listed, "EffectiveCost": cost, "BilledCost": cost}  # fmt: skip
