"""Two example services as real processes: edge → downstream over HTTP, both under opentelemetry-instrument.

The downstream service's local roots carry the edge's transaction name (W3C baggage, no code change), and the store
holds one row set per service for it whose sums equal the spans' ``cost.transaction.usd``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, http, run_example, server_spans, subprocess_env


def _report(store: str) -> dict:
    out = subprocess.run(
        [str(BIN / "otel-cost"), "report", "--store", store, "--by", "service", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def test_transaction_name_travels_downstream_and_is_stored_per_service(tmp_path: Path, moto_url: str) -> None:
    store = f"sqlite:///{tmp_path}/costs.db"
    common = {
        "OTEL_PYTHON_COST_INSTANCE_TYPE": "m5.large",
        "AWS_ENDPOINT_URL": moto_url,
        "OTEL_PYTHON_COST_STORE_URL": store,
        "OTEL_PYTHON_COST_FLUSH_INTERVAL": "0.5",
    }
    with run_example(tmp_path, subprocess_env(tmp_path, OTEL_SERVICE_NAME="quote", **common)) as quote:
        edge_env = subprocess_env(tmp_path, OTEL_SERVICE_NAME="edge", QUOTE_URL=quote.url, **common)
        with run_example(tmp_path, edge_env) as edge:
            for item in ("1", "2", "3"):
                assert http("POST", edge.url + "/checkout", {"items": [item]})[0] == 201
            edge_spans = edge.spans()
        quote_spans = quote.spans()

    checkouts = [s for s in server_spans(edge_spans) if s["name"] == "POST /checkout"]
    quotes = [s for s in server_spans(quote_spans) if s["name"] == "GET /quote/<item_id>"]
    assert len(checkouts) == len(quotes) == 3
    for span in checkouts + quotes:
        assert span["attributes"]["cost.transaction"] == "POST /checkout"
    children = [
        s
        for s in edge_spans + quote_spans
        if s["kind"] != "SpanKind.SERVER" and s["context"]["trace_id"] in {c["context"]["trace_id"] for c in checkouts}
    ]
    assert children and all(s["attributes"]["cost.transaction"] == "POST /checkout" for s in children)
    assert {s["context"]["trace_id"] for s in quotes} == {s["context"]["trace_id"] for s in checkouts}

    import sqlite3

    rows = (
        sqlite3.connect(tmp_path / "costs.db")
        .execute(
            "SELECT service, sum(count), sum(sum_usd), sum(compute_usd), sum(service_usd) FROM otel_cost_transactions "
            "WHERE transaction_name = 'POST /checkout' GROUP BY service ORDER BY service"
        )
        .fetchall()
    )
    by_service = {r[0]: r[1:] for r in rows}
    assert set(by_service) == {"edge", "quote"}
    for name, spans in (("edge", checkouts), ("quote", quotes)):
        count, total, compute, services = by_service[name]
        assert count == 3
        assert total == pytest.approx(sum(s["attributes"]["cost.transaction.usd"] for s in spans), rel=1e-9)
        assert compute == pytest.approx(sum(s["attributes"]["cost.compute.usd"] for s in spans), rel=1e-9)
        assert services > 0  # DynamoDB, S3 and SQS at the edge; a DynamoDB read downstream
    report = _report(store)
    assert {line["group"] for line in report["lines"]} == {"edge", "quote"}
    assert report["idle_usd"] > 0 and 0 < report["idle_share"] < 1


def test_cli_errors_are_one_line_with_an_exit_code(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "otel-cost"), *args], capture_output=True, text=True)

    empty = run("report", "--store", f"sqlite:///{tmp_path}/empty.db")
    bad = run("report", "--store", "mysql://nope")
    window = run("report", "--since", "soon")
    down = run("report", "--store", "postgresql://user:hunter2@127.0.0.1:9/db")
    assert (empty.returncode, bad.returncode, window.returncode, down.returncode) == (1, 2, 2, 3)
    for result in (empty, bad, window, down):
        assert "Traceback" not in result.stderr and result.stderr.startswith("otel-cost: ")
    assert "hunter2" not in down.stderr and "user:***@" in down.stderr


def test_report_formats_and_plot(tmp_path: Path) -> None:
    import time

    from opentelemetry_instrumentation_cost.store.model import Batch, Row
    from opentelemetry_instrumentation_cost.store.sqlite import SQLiteStore

    now = int(time.time()) // 60 * 60
    store = SQLiteStore(tmp_path / "r.db")
    store.write(
        Batch(
            {
                (now, "shop", "POST /checkout", "m5.large", "us-east-1", "web-1", "b1"): Row(
                    2, 0.004, 0.001, 0.003, 0.0025, 1
                ),
                (now, "shop", "GET /items", "m5.large", "us-east-1", "web-1", "b1"): Row(
                    4, 0.002, 0.002, 0.0, 0.0006, 0
                ),
                (now, "shop", "<idle>", "m5.large", "us-east-1", "web-1", "b1"): Row(0, 0.002, 0.002, 0.0, 0.0, 0),
            }
        )
    )
    url = f"sqlite:///{tmp_path}/r.db"
    table = subprocess.run(
        [str(BIN / "otel-cost"), "report", "--store", url, "--plot", str(tmp_path / "p.png")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = table.splitlines()
    assert lines[3].startswith("POST /checkout") and lines[4].startswith("GET /items")  # sorted by total
    assert "25.0% of the total $0.00800000" in table
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_out = subprocess.run(
        [str(BIN / "otel-cost"), "report", "--store", url, "--format", "csv"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert csv_out[0].startswith("group,requests,total_usd,mean_usd,max_usd")
    assert csv_out[1].split(",")[:4] == ["POST /checkout", "2", "0.004", "0.002"]
    report = json.loads(
        subprocess.run(
            [str(BIN / "otel-cost"), "report", "--store", url, "--format", "json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert report["lines"][0]["budget_violations"] == 1 and report["idle_share"] == pytest.approx(0.25)
