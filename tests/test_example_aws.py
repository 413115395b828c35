"""The example's checkout under opentelemetry-instrument against moto's server: service charges on every trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import http, run_example, server_spans, subprocess_env

DDB_WRITE, S3_PUT, SQS_REQ = 0.625e-6, 5e-6, 0.4e-6


@pytest.mark.parametrize("botocore", [True, False], ids=["with-botocore-instrumentation", "without"])
def test_checkout_carries_its_aws_charges(tmp_path: Path, moto_url: str, botocore: bool) -> None:
    extra = {} if botocore else {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "botocore,boto3"}  # boto3: boto3sqs
    env = subprocess_env(tmp_path, OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large", AWS_ENDPOINT_URL=moto_url, **extra)
    with run_example(tmp_path, env) as app:
        assert http("GET", app.url + "/items/1")[0] == 200  # creates the tables, bucket and queue
        assert http("POST", app.url + "/checkout", {"items": ["1", "2"]})[0] == 201
        spans = app.spans()
    checkout = next(s for s in server_spans(spans) if s["name"] == "POST /checkout")
    a = checkout["attributes"]
    trace_spans = [s for s in spans if s["context"]["trace_id"] == checkout["context"]["trace_id"]]
    services = DDB_WRITE + S3_PUT + SQS_REQ  # one small PutItem (1 WRU), one PUT, one small message
    assert a["cost.transaction.usd"] == pytest.approx(a["cost.compute.usd"] + services, rel=1e-9)
    assert sum(s["attributes"].get("cost.usd", 0.0) for s in trace_spans) == pytest.approx(
        a["cost.transaction.usd"], rel=1e-9
    )
    if botocore:
        by_method = {s["attributes"].get("rpc.method"): s["attributes"] for s in trace_spans}
        assert by_method["PutItem"]["cost.usd"] == pytest.approx(DDB_WRITE, rel=1e-12)
        assert by_method["PutObject"]["cost.usd"] == pytest.approx(S3_PUT, rel=1e-12)
        assert by_method["SendMessage"]["cost.usd"] == pytest.approx(SQS_REQ, rel=1e-12)
        assert a["cost.usd"] == a["cost.compute.usd"]
    else:
        assert len(trace_spans) == 1  # no client spans: the charges are the server span's own
        assert a["cost.service.usd"] == pytest.approx(services, rel=1e-12)
        assert a["cost.usd"] == pytest.approx(a["cost.compute.usd"] + services, rel=1e-12)
