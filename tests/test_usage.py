"""Usage by unit in the store: the AWS calls' units and the host's compute hours, per hour, exactly once, in both
stores, next to the per-transaction rows. The truth: the calls this test made (and moto's request log), the wall
time it measured, AWS's published us-east-1 prices."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest

from tests.moto_log import MotoLog, dynamodb_operations, s3_requests
from tests.test_aws_meters import session


def _process_age_s() -> float:
    import os

    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - ticks / os.sysconf("SC_CLK_TCK")


def _usage(kind: str, where: str) -> dict[tuple[str, str, str], tuple[float, float, int]]:
    sql = "SELECT aws_service, region, unit, sum(quantity), sum(usd), sum(count) FROM otel_cost_usage GROUP BY 1, 2, 3"
    if kind == "sqlite":
        with sqlite3.connect(where) as conn:
            rows: list[Any] = conn.execute(sql).fetchall()
    else:
        with psycopg.connect(where) as conn:
            rows = conn.execute(sql).fetchall()
    return {(a, r, u): (q, usd, int(n)) for a, r, u, q, usd, n in rows}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_calls_and_compute_are_stored_by_unit(
    monkeypatch: pytest.MonkeyPatch, logged_moto: MotoLog, tmp_path: Path, pg_url: str, kind: str
) -> None:
    where = str(tmp_path / "c.db") if kind == "sqlite" else pg_url
    store = f"sqlite:///{where}" if kind == "sqlite" else pg_url
    started = time.monotonic()
    with (
        logged_moto.recording_requests() as received,
        session(monkeypatch, logged_moto.url, "before", store_url=store) as (tracer, _exporter),
    ):
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        with tracer.start_as_current_span("setup"):
            ddb.create_table(TableName=f"usage-{kind}", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST")  # fmt: skip
            s3.create_bucket(Bucket=f"usage-{kind}")
        for n in range(3):
            with tracer.start_as_current_span("request"):
                ddb.put_item(TableName=f"usage-{kind}", Item={"pk": {"S": str(n)}})
                s3.put_object(Bucket=f"usage-{kind}", Key=str(n), Body=b"x")
        with tracer.start_as_current_span("request"):
            s3.get_object(Bucket=f"usage-{kind}", Key="0")["Body"].read()
    elapsed_h = (time.monotonic() - started) / 3600
    used = _usage(kind, where)
    assert dynamodb_operations(received, "PutItem") == 3
    assert s3_requests(received, f"usage-{kind}") == ["PUT"] * 4 + ["GET"]  # CreateBucket, 3 PutObject, GetObject
    assert used[("dynamodb", "us-east-1", "WriteRequestUnits")] == (pytest.approx(3.0), pytest.approx(3 * 6.25e-07), 3)
    tier1 = 1 + 3  # CreateBucket and the three PutObject
    assert used[("s3", "us-east-1", "Requests-Tier1")] == (pytest.approx(tier1), pytest.approx(tier1 * 5e-06), tier1)
    assert used[("s3", "us-east-1", "Requests-Tier2")] == (pytest.approx(1.0), pytest.approx(4e-07), 1)
    hours, usd, _ = used[("ec2", "us-east-1", "BoxUsage:m5.large")]
    assert usd == pytest.approx(hours * 0.096, rel=1e-9)  # the host's hours at its hourly price
    # the whole host (share 1): its roots' shares and its idle, from when this process started to its last flush
    assert 0.5 * elapsed_h < hours <= _process_age_s() / 3600
