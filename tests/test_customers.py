"""Cost per customer: a customer id in baggage at the edge reaches a second service's rows; an attribute the app
sets on its root names it too; 10,000 distinct hostile ids stay bounded in memory and in the store."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import tracemalloc
import urllib.request
from pathlib import Path

import pytest

from opentelemetry_instrumentation_cost.config import Settings
from scripts.harness import BIN
from tests.conftest import run_example, subprocess_env
from tests.inprocess import instrumented, memory_provider, offline_settings


def _checkout(url: str, customer: str) -> int:
    body = json.dumps({"items": ["1"]}).encode()
    headers = {"Content-Type": "application/json", "baggage": f"enduser.id={customer}"}
    request = urllib.request.Request(url + "/checkout", data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.status


def test_a_customer_in_baggage_at_the_edge_reaches_the_second_services_rows(tmp_path: Path, moto_url: str) -> None:
    store = f"sqlite:///{tmp_path}/costs.db"
    common = {"OTEL_PYTHON_COST_INSTANCE_TYPE": "m5.large", "AWS_ENDPOINT_URL": moto_url,
              "OTEL_PYTHON_COST_STORE_URL": store, "OTEL_PYTHON_COST_FLUSH_INTERVAL": "0.5",
              "OTEL_PYTHON_COST_CUSTOMER": "enduser.id", "OTEL_TRACES_EXPORTER": "none"}  # fmt: skip
    with run_example(tmp_path, subprocess_env(tmp_path, OTEL_SERVICE_NAME="quote", **common)) as quote:
        edge_env = subprocess_env(tmp_path, OTEL_SERVICE_NAME="edge", QUOTE_URL=quote.url, **common)
        with run_example(tmp_path, edge_env) as edge:
            for customer in ("acme", "acme", "globex"):
                assert _checkout(edge.url, customer) == 201
    rows = (
        sqlite3.connect(tmp_path / "costs.db")
        .execute(
            "SELECT service, customer, sum(count) FROM otel_cost_transactions "
            "WHERE transaction_name = 'POST /checkout' GROUP BY 1, 2 ORDER BY 1, 2"
        )
        .fetchall()
    )
    assert rows == [("edge", "acme", 2), ("edge", "globex", 1), ("quote", "acme", 2), ("quote", "globex", 1)]
    report = json.loads(subprocess.run(
        [str(BIN / "otel-cost"), "report", "--store", store, "--by", "customer", "--format", "json"],
        capture_output=True, text=True, check=True).stdout)  # fmt: skip
    lines = {line["group"]: line for line in report["lines"]}
    assert lines["acme"]["requests"] == 2 and lines["globex"]["requests"] == 1  # counted once, at the edge
    assert lines["acme"]["total_usd"] > 0


def test_an_attribute_the_app_sets_names_the_customer(tmp_path: Path) -> None:
    store = tmp_path / "c.db"
    provider, _ = memory_provider()
    settings = offline_settings(customer="tenant.id", store_url=f"sqlite:///{store}")
    with instrumented(settings, tracer_provider=provider):
        tracer = provider.get_tracer("t")
        for tenant in ("t-1", "t-2", "t-2"):
            with tracer.start_as_current_span("GET /orders") as span:
                span.set_attribute("tenant.id", tenant)  # set while the request runs, after the root started
    rows = (
        sqlite3.connect(store)
        .execute(
            "SELECT customer, sum(count) FROM otel_cost_transactions WHERE transaction_name = 'GET /orders' GROUP BY 1"
        )
        .fetchall()
    )
    assert sorted(rows) == [("t-1", 1), ("t-2", 2)]


def test_ten_thousand_hostile_ids_are_bounded_in_memory_and_in_the_store(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    store = tmp_path / "c.db"
    provider = TracerProvider()  # no exporter keeping the spans: what grows is the package's (and the SDK's)
    settings: Settings = offline_settings(customer="tenant.id", max_customers=100, store_url=f"sqlite:///{store}")
    hostile = [f"\x00tenant-{n}\n\x1b[31m" + "é" * 3000 + "\u202e" for n in range(10_000)]
    with instrumented(settings, tracer_provider=provider) as inst:
        tracer = provider.get_tracer("t")
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for value in hostile:
            with tracer.start_as_current_span("GET /x") as span:
                span.set_attribute("tenant.id", value)
        assert inst.runtime is not None
        inst.runtime.flush()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    assert grown < 20 * 2**20, grown  # the package keeps no hostile id beyond its cap
    customers = dict(sqlite3.connect(store).execute(
        "SELECT customer, sum(count) FROM otel_cost_transactions WHERE transaction_name = 'GET /x' GROUP BY 1"
    ).fetchall())  # fmt: skip
    assert len(customers) == 101 and customers["<other>"] == 10_000 - 100  # 100 admitted, the rest <other>
    for name in customers:
        assert len(name) <= 128 and not any(ord(c) < 0x20 or c == "\x7f" for c in name)
    assert sum(customers.values()) == 10_000


@pytest.mark.parametrize("value", ["end user", "x" * 200])
def test_a_bad_customer_key_is_refused_with_one_warning(value: str, caplog: pytest.LogCaptureFixture) -> None:
    assert Settings.from_env({"OTEL_PYTHON_COST_CUSTOMER": value}).customer is None
    assert any("OTEL_PYTHON_COST_CUSTOMER" in r.getMessage() for r in caplog.records)


def test_a_budget_per_customer_per_day(tmp_path: Path) -> None:
    """``budgets check --by customer``: a customer's spend over the window against its daily budget × the window."""
    import time as _time

    from opentelemetry_instrumentation_cost.store.model import Batch, Row
    from opentelemetry_instrumentation_cost.store.sqlite import SQLiteStore

    minute = int(_time.time()) // 60 * 60
    host = ("m5.large", "us-east-1", "web-1", "b1")
    SQLiteStore(tmp_path / "c.db").write(Batch({
        (minute, "shop", "GET /x", *host, "acme"): Row(10, 0.05, 0.01, 0.04, 0.01),  # $0.05 in the hour
        (minute, "shop", "GET /x", *host, "globex"): Row(10, 0.01, 0.01, 0.0, 0.001),  # $0.01
    }))  # fmt: skip
    budgets = tmp_path / "budgets.json"
    budgets.write_text(json.dumps({"acme": {"per_day": 0.96}, "globex": {"per_day": 0.96}}))  # $0.04 an hour
    done = subprocess.run(
        [str(BIN / "otel-cost"), "budgets", "check", "--by", "customer", "--window", "1h", "--budgets", str(budgets),
         "--store", f"sqlite:///{tmp_path / 'c.db'}"], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    over = [line for line in done.stdout.splitlines() if "OVER" in line]
    assert len(over) == 1 and "acme" in over[0] and "per day" in over[0]
