"""Budgets: annotate, enforce (stop the call before it spends), spend-rate windows, fleet checks, config."""

from __future__ import annotations

import json
import logging
import subprocess
import time
import weakref
from pathlib import Path

import boto3
import pytest

from opentelemetry_instrumentation_cost import (
    BudgetExceededError,
    current_transaction_budget,
    current_transaction_cost,
)
from opentelemetry_instrumentation_cost.attribution.ledger import ComputeLedger, Token
from opentelemetry_instrumentation_cost.budgets.config import Budget, parse_budgets
from opentelemetry_instrumentation_cost.budgets.guard import BudgetGuard
from opentelemetry_instrumentation_cost.budgets.rate import RollingSpend
from opentelemetry_instrumentation_cost.store.model import Batch, Row
from opentelemetry_instrumentation_cost.store.open import open_store
from tests.conftest import BIN, http, run_example, server_spans, subprocess_env
from tests.inprocess import instrumented, memory_provider, offline_settings

WRU = 0.625e-6


def _bulk(tmp_path: Path, moto_url: str, action: str) -> tuple[int, dict, int]:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"instances": {"m5.large": 0.0}}))  # compute free: the crossing point is exact
    env = subprocess_env(
        tmp_path,
        OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large",
        AWS_ENDPOINT_URL=moto_url,
        OTEL_PYTHON_COST_PRICE_FILE=str(prices),
        OTEL_PYTHON_COST_BUDGETS="POST /bulk=0.000003",
        OTEL_PYTHON_COST_BUDGET_ACTION=action,
    )
    batch = f"{action}-{time.monotonic_ns()}"
    with run_example(tmp_path, env) as app:
        http("GET", app.url + "/items/1")  # create the resources outside the budgeted request
        status, _ = http("POST", app.url + f"/bulk?n=20&batch={batch}")
        spans = app.spans()
    ddb = boto3.client("dynamodb", endpoint_url=moto_url)
    written = ddb.scan(
        TableName="shop-orders",
        FilterExpression="#b = :b",
        ExpressionAttributeNames={"#b": "batch"},
        ExpressionAttributeValues={":b": {"S": batch}},
    )["Count"]
    (root,) = [s for s in server_spans(spans) if s["name"] == "POST /bulk"]
    return status, root, written


def test_annotate_mode_completes_and_flags_the_request(tmp_path: Path, moto_url: str) -> None:
    status, root, written = _bulk(tmp_path, moto_url, "annotate")
    assert (status, written) == (201, 20)
    a = root["attributes"]
    assert (a["cost.budget.exceeded"], a["cost.budget.usd"]) == (True, 3e-6)
    assert a["cost.transaction.usd"] == pytest.approx(20 * WRU, rel=1e-9)
    (event,) = [e for e in root["events"] if e["name"] == "cost.budget.exceeded"]
    assert event["attributes"]["cost.budget.call"] == "dynamodb.PutItem"
    assert event["attributes"]["cost.running.usd"] == pytest.approx(5 * WRU, rel=1e-9)  # the 5th write crossed it


def test_enforce_mode_stops_at_the_first_call_after_the_ceiling(tmp_path: Path, moto_url: str) -> None:
    status, root, written = _bulk(tmp_path, moto_url, "enforce")
    assert status == 500  # the route got BudgetExceededError from boto3
    assert written == 5  # 5 x $0.000000625 > $0.000003: the 6th call never reached moto
    (exc,) = [e for e in root["events"] if e["name"] == "exception"]
    assert exc["attributes"]["exception.type"].endswith("BudgetExceededError")
    assert "'POST /bulk' is over its per request budget" in exc["attributes"]["exception.message"]
    assert root["attributes"]["cost.budget.exceeded"] is True


def test_spend_rate_budget_crosses_and_recovers() -> None:
    now = [1_000_000.0]
    ledger = ComputeLedger(0)
    ledger.set_rate(0.0, 0)
    budgets = parse_budgets('{"x": 1}')  # replaced below: a per-hour budget only
    guard = BudgetGuard(
        type(budgets)({"POST /agent": Budget(per_hour=0.001)}), True, ledger, RollingSpend(clock=lambda: now[0])
    )
    provider, exporter = memory_provider()
    tracer = provider.get_tracer("t")

    def transaction(cost: float) -> None:
        with tracer.start_as_current_span("POST /agent") as span:
            ctx = span.get_span_context()
            token = ledger.open(0, Token(ctx.trace_id, ctx.span_id))
            token.span_ref = weakref.ref(span)
            guard.check_call(token, "POST /agent", "bedrock-runtime.Converse")
            ledger.add_service_cost(token, cost, True, "bedrock-runtime")
            guard.check_end(token, "POST /agent", cost)
            ledger.close(token, 1)

    transaction(0.0006)
    now[0] += 600
    transaction(0.0006)  # $0.0012 in the hour: over from now on
    now[0] += 600
    with pytest.raises(BudgetExceededError, match="per hour"):
        transaction(0.0001)
    flagged = exporter.get_finished_spans()[-1]
    assert flagged.attributes["cost.budget.rate_exceeded"] is True
    now[0] += 3600  # the window has moved past both
    transaction(0.0001)
    assert "cost.budget.rate_exceeded" not in exporter.get_finished_spans()[-1].attributes


def test_budget_configuration_inline_and_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    inline = parse_budgets("POST /checkout=0.002;GET /items=abc;GET /items/<id>=0.0005;;=1")
    assert inline.by_transaction == {"POST /checkout": Budget(0.002), "GET /items/<id>": Budget(0.0005)}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("entry 2" in w and "GET /items=abc" in w for w in warnings) and any("entry 5" in w for w in warnings)
    caplog.clear()
    js = tmp_path / "b.json"
    js.write_text(
        json.dumps(
            {
                "POST /checkout": {"per_request": 0.002, "per_hour": 5.0},
                "*": {"per_request": 0.01},
                "bad": {"per_minute": 1},
            }
        )
    )
    parsed = parse_budgets(str(js))
    assert parsed.for_transaction("POST /checkout") == Budget(0.002, 5.0)
    assert parsed.for_transaction("anything else") == Budget(0.01)
    assert any("entry 3" in r.getMessage() for r in caplog.records)
    toml = tmp_path / "b.toml"
    toml.write_text('["POST /checkout"]\nper_request = 0.002\n\n["*"]\nper_hour = 1.5\n')
    assert parse_budgets(str(toml)).for_transaction("GET /") == Budget(None, 1.5)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_fleet_check_over_the_store(tmp_path: Path, pg_url: str, kind: str) -> None:
    url = pg_url if kind == "postgresql" else f"sqlite:///{tmp_path}/fleet.db"
    store = open_store(url)
    now = int(time.time()) // 60 * 60
    for service, count, usd in (("edge", 10, 0.02), ("quote", 10, 0.01)):  # two services writing
        store.write(
            Batch(
                {
                    (now, service, "POST /checkout", "m5.large", "us-east-1", "web-1", "b1"): Row(
                        count, usd, usd, 0, usd, 0
                    ),
                    (now, service, "GET /items", "m5.large", "us-east-1", "web-1", "b1"): Row(
                        5, 0.0001, 0.0001, 0, 0.0, 0
                    ),
                }
            )
        )
    store.close()

    def check(budgets: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "otel-cost"), "budgets", "check", "--store", url, "--budgets", budgets],
            capture_output=True,
            text=True,
        )

    over = check("POST /checkout=0.002;GET /items=0.001")  # $0.03 over 10 requests = $0.003 each
    assert over.returncode == 1, over.stderr
    assert "OVER  POST /checkout: $0.00300000 per request over 10 requests, budget $0.00200000" in over.stdout
    assert "GET /items" not in over.stdout.split("\n", 1)[1]
    fine = check("POST /checkout=0.004")
    assert fine.returncode == 0 and "all within budget" in fine.stdout


def test_public_api_inside_a_transaction(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    provider, _ = memory_provider()
    tracer = provider.get_tracer("t")
    settings = offline_settings(store_url="none", budgets="POST /api=0.01")
    assert current_transaction_cost() is None
    with instrumented(settings, tracer_provider=provider), tracer.start_as_current_span("POST /api"):
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="api")["QueueUrl"]
        before = current_transaction_cost()
        sqs.send_message(QueueUrl=url, MessageBody="x")
        after = current_transaction_cost()
        assert current_transaction_budget() == 0.01
    assert before is not None and after is not None and after - before >= 0.4e-6  # one SQS request, and time
