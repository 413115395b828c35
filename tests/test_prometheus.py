"""The cost metrics in a real Prometheus (Debian's package, ``scripts/ensure_prometheus.sh``), scraped from the
example app under ``opentelemetry-instrument`` with the OpenTelemetry Prometheus exporter, as a user sets it up:
PromQL gives the $/request per transaction and the idle share the store gives; the rules under ``deploy/`` pass
``promtool``; every query of the Grafana dashboard runs against the real Prometheus and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scripts.harness import BIN, ROOT, free_port, http, wait_http
from tests.conftest import run_example, subprocess_env

RULES = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "cost-dashboard.json"


@pytest.fixture(scope="module", autouse=True)
def _prometheus_installed() -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure_prometheus.sh")], check=True)


def test_the_rules_pass_promtool() -> None:
    check = subprocess.run(["promtool", "check", "rules", "cost-rules.yml"], cwd=RULES, capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS: 7 rules found" in check.stdout, check.stdout + check.stderr
    tested = subprocess.run(["promtool", "test", "rules", "cost-rules.test.yml"], cwd=RULES, capture_output=True,
                            text=True)  # fmt: skip
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def _query(base: str, promql: str, at: float | None = None) -> list[dict[str, Any]]:
    params = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as resp:
        answer = json.load(resp)
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def _prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {RULES / 'cost-rules.yml'}\n"
        f"scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n"
    )
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("wb"),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/-/ready", proc)
    deadline = time.monotonic() + 30  # its discovery hands targets to the scrapers after about 5 s
    while time.monotonic() < deadline:
        try:
            if _query(base, "up == 1"):
                break
        except urllib.error.URLError:  # the API can answer 503 for a moment after /-/ready
            pass
        time.sleep(0.25)
    return proc, base


def _frozen(pid: int, base: str, pg_url: str) -> tuple[dict[str, float], float, dict[str, Any]]:
    """The app stopped (SIGSTOP: its store and its metrics stand still): PromQL at the moment it stopped (the
    scrapes after it fail, and Prometheus marks the series stale from then), and the store's report."""
    os.kill(pid, signal.SIGSTOP)
    at = time.time()
    try:
        time.sleep(0.6)
        per_request = {r["metric"]["cost_transaction"]: float(r["value"][1]) for r in _query(
            base, "sum by (cost_transaction) (cost_transaction_usd_USD_sum) "
                  "/ sum by (cost_transaction) (cost_transaction_usd_USD_count)", at)}  # fmt: skip
        (idle,) = _query(base, "sum(cost_idle_usd_USD_total) / (sum(cost_usd_USD_total) "
                               "+ sum(cost_idle_usd_USD_total))", at)  # fmt: skip
        report = json.loads(subprocess.run(
            [str(BIN / "otel-cost"), "report", "--store", pg_url, "--since", "1h", "--format", "json"],
            capture_output=True, text=True, check=True, timeout=60).stdout)  # fmt: skip
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(1.3)  # a flush, and scrapes after it, before the next attempt
    return per_request, float(idle["value"][1]), report


def _grafana_sql(sql: str) -> str:
    """Grafana's PostgreSQL macros, as Grafana expands them for the last hour."""
    sql = re.sub(r"\$__timeGroupAlias\((\w+), '1m'\)", r"date_trunc('minute', \1) AS time", sql)
    return re.sub(r"\$__timeFilter\((\w+)\)", r"\1 BETWEEN now() - interval '1 hour' AND now()", sql)


def test_promql_gives_what_the_store_gives_and_the_dashboard_runs(tmp_path: Path, moto_url: str, pg_url: str) -> None:
    port = free_port()
    env = subprocess_env(
        tmp_path, AWS_ENDPOINT_URL=moto_url, OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1", OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
        OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large", OTEL_PYTHON_COST_FLUSH_INTERVAL="1",
        OTEL_PYTHON_COST_STORE_URL=pg_url,
        OTEL_PYTHON_COST_BUDGETS="POST /checkout=0.0000001",  # every checkout over budget: the burn panel has data
    )  # fmt: skip
    with run_example(tmp_path, env) as app:
        prometheus, base = _prometheus(tmp_path, f"127.0.0.1:{port}")
        try:
            for _ in range(6):
                assert http("POST", app.url + "/checkout", {"item": "book", "qty": 1})[0] == 201
                assert http("GET", app.url + "/health")[0] == 200
            time.sleep(3.0)  # the flushes that record the metrics and write the store
            for _attempt in range(6):
                per_request, idle, report = _frozen(app.proc.pid, base, pg_url)
                if idle == pytest.approx(report["idle_share"], rel=1e-9):
                    break  # else the app flushed after Prometheus's last scrape before it stood still: again
            stored = {line["group"]: line["mean_usd"] for line in report["lines"]}
            assert set(per_request) == set(stored) == {"POST /checkout", "GET /health"}
            for name, usd in stored.items():
                assert per_request[name] == pytest.approx(usd, rel=1e-9), name
            assert idle == pytest.approx(report["idle_share"], rel=1e-9)
            assert _query(base, "cost:transaction_usd_per_request:rate5m")  # the recording rules evaluate
            assert _query(base, "cost:idle_share:rate5m")

            dashboard = json.loads(DASHBOARD.read_text())
            ran = 0
            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    if "expr" in target:
                        assert _query(base, target["expr"]), panel["title"]
                    else:
                        with psycopg.connect(pg_url) as conn:
                            rows = conn.execute(_grafana_sql(target["rawSql"])).fetchall()
                        assert rows, panel["title"]
                        if panel["type"] == "table":
                            assert rows[0][0] == report["lines"][0]["group"]  # the most expensive, as the report says
                    ran += 1
            assert ran == len(dashboard["panels"]) == 6
        finally:
            prometheus.terminate()
            prometheus.wait(10)
