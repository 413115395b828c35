"""A request's threads are the request's: AWS calls made on s3transfer's threads, a ``ThreadPoolExecutor``, a
``threading.Thread`` or ``run_in_executor`` are charged to the request that made them, on the real servers, with
nothing but ``opentelemetry-instrument`` and the package installed.

The truth is moto's own request log, priced here from the published list prices; the exported spans show which
trace each call belongs to.
"""

from __future__ import annotations

import signal
import sqlite3
import urllib.request
from pathlib import Path

import boto3
import pytest

from scripts.harness import ROOT, free_port
from tests import moto_log
from tests.fakes.otlp import FakeOtlpReceiver
from tests.hosts import Run, collect, environment, gunicorn, http_ready, launched, uvicorn
from tests.test_sampling import create_table

SERVER, CLIENT = 2, 3
DDB_WRITE = 0.625e-6  # USD per write request unit (a small item: 1 WRU)
S3_TIER1 = 5e-6  # USD per PUT, COPY, POST or LIST request (S3 Standard, us-east-1)
S3_TIER2 = 0.4e-6  # USD per GET, HEAD and other request
TABLE, BUCKET = "threaded-puts", "threaded-transfers"


def _stored(db: Path) -> dict[str, tuple[int, float]]:
    """Per transaction: requests and service spend (the sum less compute)."""
    with sqlite3.connect(db) as conn:
        return {
            name: (count, total - compute)
            for name, count, compute, total in conn.execute(
                "SELECT transaction_name, sum(count), sum(compute_usd), sum(sum_usd) "
                "FROM otel_cost_transactions GROUP BY transaction_name"
            )
        }


def _post(url: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=60) as resp:
        assert resp.status == 201


def _server(app: str, port: int) -> list[str]:
    if app == "flask":
        return gunicorn(port, app=(ROOT, "tests.apps.put_flask:app"))
    return uvicorn(port, 0, app=(ROOT, "tests.apps.put_fastapi:app"))


@pytest.mark.parametrize(
    ("app", "path", "transaction"),
    [
        ("flask", "/transfer?mb=20", "POST /transfer"),
        ("flask", "/fanout", "POST /fanout"),
        ("fastapi", "/fanout", "POST /fanout"),
    ],
    ids=["s3transfer-upload-and-download", "thread-pool-and-thread", "run_in_executor"],
)
def test_calls_on_other_threads_count_into_their_request(
    tmp_path: Path, logged_moto: moto_log.MotoLog, app: str, path: str, transaction: str
) -> None:
    moto_url = logged_moto.url
    create_table(moto_url, TABLE)
    s3 = boto3.client("s3", endpoint_url=moto_url)
    if BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    port = free_port()
    run = Run()
    with FakeOtlpReceiver() as receiver:
        env = environment(tmp_path, receiver, AWS_ENDPOINT_URL=moto_url, PUT_TABLE=TABLE, TRANSFER_BUCKET=BUCKET)
        with launched(_server(app, port), env, tmp_path, run) as proc:
            url = http_ready(port, proc)
            with logged_moto.recording_requests() as received:
                for _ in range(3):
                    _post(url + path)
        collect(run, receiver, tmp_path, (SERVER,))
        spans = receiver.records()
    # uvicorn alone (no --workers) ends a graceful SIGTERM shutdown by re-raising the signal, as without the package
    assert run.returncode == (0 if app == "flask" else -signal.SIGTERM), run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert "cost:" not in run.stderr, run.stderr[-3000:]

    methods = moto_log.s3_requests(received, BUCKET)
    puts = moto_log.dynamodb_operations(received, "PutItem")
    tier1 = sum(1 for m in methods if m in ("PUT", "POST"))
    tier2 = sum(1 for m in methods if m in ("GET", "HEAD"))
    assert len(methods) == tier1 + tier2  # nothing else was asked of S3
    if "transfer" in path:
        assert tier1 >= 3 * 5 and tier2 >= 3 * 3, methods  # 20 MB in 8 MB parts: multipart each way, 3 times
    else:
        assert puts == 3 * (3 if app == "flask" else 2)
    truth = puts * DDB_WRITE + tier1 * S3_TIER1 + tier2 * S3_TIER2

    stored = _stored(tmp_path / "costs.db")
    assert stored[transaction][0] == 3
    assert stored[transaction][1] == pytest.approx(truth, rel=1e-9)
    assert set(stored) <= {transaction, "GET /health", "<idle>"}, stored  # no <untraced>, no "S3.UploadPart"

    # every call's span is in its request's trace
    roots = {s["trace_id"] for s in spans if s["kind"] == SERVER and s["name"] == transaction}
    calls = [s for s in spans if s["kind"] == CLIENT and "rpc.service" in s["attributes"]]
    assert len(calls) == puts + len(methods)
    assert all(s["parented"] and s["trace_id"] in roots for s in calls)


def test_an_app_that_instruments_itself_gets_the_context_into_its_threads() -> None:
    """Without ``opentelemetry-instrument``, the package enables the threading instrumentation (and undoes it)."""
    from concurrent.futures import ThreadPoolExecutor

    from opentelemetry import trace
    from opentelemetry.instrumentation.threading import ThreadingInstrumentor

    from tests.inprocess import instrumented, memory_provider, offline_settings

    provider, _ = memory_provider()
    tracer = provider.get_tracer("t")
    assert not ThreadingInstrumentor().is_instrumented_by_opentelemetry
    with instrumented(offline_settings(store_url="none"), tracer_provider=provider):
        with tracer.start_as_current_span("GET /x", kind=trace.SpanKind.SERVER) as root, ThreadPoolExecutor(1) as pool:
            seen = pool.submit(lambda: trace.get_current_span().get_span_context().trace_id).result()
        assert seen == root.get_span_context().trace_id
    assert not ThreadingInstrumentor().is_instrumented_by_opentelemetry
    with instrumented(offline_settings(store_url="none", threads=False), tracer_provider=provider):
        assert not ThreadingInstrumentor().is_instrumented_by_opentelemetry
