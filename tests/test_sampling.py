"""Head sampling never changes the numbers: real Flask (gunicorn) and FastAPI (uvicorn) services under
``opentelemetry-instrument``, each request one DynamoDB PutItem against moto, with the SDK's samplers set through
``OTEL_TRACES_SAMPLER``.

The truth is the test's own: the requests it sent and the traceparents it chose, moto's own request log (the
PutItems AWS would bill), which traces each sampler keeps (computed here from the trace ids, as the specification
defines ``traceidratio``), and the equal split computed from every request's interval (the test apps' own span
processor, ``tests/apps/oracle.py``, sees sampled and unsampled roots alike).
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts.harness import BIN, ROOT, free_port
from tests import moto_log
from tests.fair_share import fair_shares
from tests.fakes.otlp import FakeOtlpReceiver
from tests.hosts import RATE, Run, collect, environment, gunicorn, http_ready, launched, uvicorn

SERVER = 2
DDB_WRITE = 0.625e-6  # USD per write request unit, on-demand, us-east-1 (a small item: 1 WRU)
REQUESTS = 200
CLIENTS = 3
WORK_MS = 20
TABLE = "sampled-puts"


def create_table(url: str, name: str) -> None:
    """The table the apps write to, made by the test (not instrumented), once."""
    ddb = boto3.client("dynamodb", endpoint_url=url)
    if name not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


def _traceparent(i: int, rng: random.Random) -> tuple[int, str | None]:
    """Every third request arrives with no traceparent, the others with a sampled or an unsampled one."""
    if i % 3 == 0:
        return 0, None
    trace_id = rng.getrandbits(128) or 1
    return trace_id, f"00-{trace_id:032x}-{rng.getrandbits(64) or 1:016x}-{'01' if i % 3 == 1 else '00'}"


def _send(url: str, n: int, clients: int) -> dict[int, bool]:
    """``n`` POSTs from ``clients`` threads; returns the incoming sampled flag by trace id (for those sent one)."""
    rng = random.Random(1234)
    plan = [_traceparent(i, rng) for i in range(n)]
    incoming = {tid: tp.endswith("-01") for tid, tp in plan if tp is not None}
    failures: list[Any] = []
    queue = list(range(n))
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                i = queue.pop()
            headers = {} if plan[i][1] is None else {"traceparent": str(plan[i][1])}
            req = urllib.request.Request(f"{url}/put?work_ms={WORK_MS}", data=b"", method="POST", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    if resp.status != 201:
                        failures.append(resp.status)
            except Exception as exc:
                failures.append(exc)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:5]
    return incoming


def _oracle(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in directory.glob("*.jsonl") for line in f.read_text().splitlines()]


def _kept_by_ratio(trace_id: int, ratio: float) -> bool:
    """The specification's ``TraceIdRatioBased``: the trace id's lower 64 bits under ratio × 2^64."""
    return (trace_id & (2**64 - 1)) < round(ratio * 2**64)


SAMPLERS = {
    "traceidratio-0.1": ("traceidratio", "0.1"),
    "traceidratio-0.25": ("traceidratio", "0.25"),
    "parentbased_always_off": ("parentbased_always_off", ""),
    "always_off": ("always_off", ""),
}
CASES = {f"{app}-{name}": (app, *sampler) for app in ("flask", "fastapi") for name, sampler in SAMPLERS.items()}


def _command(app: str, port: int) -> list[str]:
    if app == "flask":
        return gunicorn(port, "-w", "2", app=(ROOT, "tests.apps.put_flask:app"))
    return uvicorn(port, 2, app=(ROOT, "tests.apps.put_fastapi:app"))


@pytest.mark.parametrize("case", list(CASES))
def test_every_request_is_counted_whatever_the_sampler(
    tmp_path: Path, logged_moto: moto_log.MotoLog, case: str
) -> None:
    app, sampler, arg = CASES[case]
    moto_url = logged_moto.url
    create_table(moto_url, TABLE)
    oracle_dir = tmp_path / "oracle"
    oracle_dir.mkdir()
    port = free_port()
    run = Run()
    with FakeOtlpReceiver() as receiver:
        env = environment(
            tmp_path,
            receiver,
            OTEL_TRACES_SAMPLER=sampler,
            OTEL_TRACES_SAMPLER_ARG=arg,
            AWS_ENDPOINT_URL=moto_url,
            PUT_TABLE=TABLE,
            ORACLE_DIR=str(oracle_dir),
        )
        with launched(_command(app, port), env, tmp_path, run) as proc:
            url = http_ready(port, proc)
            with logged_moto.recording_requests() as received:
                incoming = _send(url, REQUESTS, CLIENTS)
        collect(run, receiver, tmp_path, (SERVER,))
        exported = receiver.records()
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr and "cost:" not in run.stderr, run.stderr[-3000:]

    # every request was handled as a recorded local root, and the sampler's decisions are the specification's
    puts = [r for r in _oracle(oracle_dir) if r["name"] == "POST /put"]
    assert len(puts) == REQUESTS
    for r in puts:
        if sampler == "traceidratio":
            want = _kept_by_ratio(r["trace_id"], float(arg))
        elif sampler == "parentbased_always_off":
            want = incoming.get(r["trace_id"], False)
        else:
            want = False
        assert r["sampled"] is want, r
    kept = {r["trace_id"] for r in puts if r["sampled"]}

    # nothing of a dropped trace reached the exporter; every kept root did
    exported_puts = [s for s in exported if s["name"] == "POST /put" and s["kind"] == SERVER]
    probes = {s["trace_id"] for s in exported if s["name"] == "GET /health"}  # the test's readiness probe
    assert {s["trace_id"] for s in exported} - probes <= kept
    assert sorted(s["trace_id"] for s in exported_puts) == sorted(kept)

    # the store holds every request and every PutItem moto received, at its price; nothing is <untraced>
    with sqlite3.connect(tmp_path / "costs.db") as conn:
        rows = dict(
            (name, (count, compute, total))
            for name, count, compute, total in conn.execute(
                "SELECT transaction_name, sum(count), sum(compute_usd), sum(sum_usd) "
                "FROM otel_cost_transactions GROUP BY transaction_name"
            )
        )
    billed_puts = moto_log.dynamodb_operations(received, "PutItem")
    assert billed_puts == REQUESTS
    count, compute, total = rows["POST /put"]
    assert count == REQUESTS
    assert total - compute == pytest.approx(billed_puts * DDB_WRITE, rel=1e-9)
    assert "<untraced>" not in rows, rows

    # compute: the equal split over every request (sampled or not), computed here from their intervals
    everything = [r for r in _oracle(oracle_dir)]  # /put and the readiness probe's /health
    shares, _ = fair_shares([(r["start"], r["end"]) for r in everything], RATE)
    truth = {r["trace_id"]: share for r, share in zip(everything, shares, strict=True)}
    assert compute == pytest.approx(sum(truth[r["trace_id"]] for r in puts), rel=1e-2)
    if kept:
        on_exported = sum(s["attributes"]["cost.compute.usd"] for s in exported_puts)
        assert on_exported == pytest.approx(sum(truth[t] for t in kept), rel=1e-2), (len(kept), on_exported)


# in this process: which spans the SDK records, exports and drops, and the opt-out ----------------------------------
def _tracked(sampler: Any, **settings: Any) -> tuple[list[Any], list[Any], list[Any]]:
    """A server root with a child under ``sampler``: (what the exporter got, what a processor saw end, the spans)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import SpanProcessor

    from tests.inprocess import instrumented, memory_provider, offline_settings

    provider, exporter = memory_provider(sampler=sampler)
    ended: list[Any] = []

    class Seen(SpanProcessor):
        def on_end(self, span: Any) -> None:
            ended.append(span)

    provider.add_span_processor(Seen())
    tracer = provider.get_tracer("t")
    with instrumented(offline_settings(store_url="none", **settings), tracer_provider=provider):
        with (
            tracer.start_as_current_span("GET /x", kind=trace.SpanKind.SERVER) as root,
            tracer.start_as_current_span("child") as child,
        ):
            pass
        with tracer.start_as_current_span("S3.GetObject", kind=trace.SpanKind.CLIENT) as call:
            pass  # a call no request reached: never a local root, so it stays dropped
    return list(exporter.get_finished_spans()), ended, [root, child, call]


@pytest.mark.parametrize("name", ["always_off", "parentbased_always_off", "traceidratio-0", "parentbased-ratio-0"])
def test_a_dropped_local_root_is_recorded_not_exported(name: str) -> None:
    from opentelemetry.sdk.trace import sampling

    sampler = {
        "always_off": sampling.ALWAYS_OFF,
        "parentbased_always_off": sampling.DEFAULT_OFF,
        "traceidratio-0": sampling.TraceIdRatioBased(0.0),
        "parentbased-ratio-0": sampling.ParentBasedTraceIdRatio(0.0),
    }[name]
    description = sampler.get_description()
    exported, ended, (root, child, call) = _tracked(sampler)
    assert exported == []
    assert [s.name for s in ended] == ["GET /x"]
    assert type(root).__name__ == "_Span" and not root.get_span_context().trace_flags.sampled  # RECORD_ONLY
    assert type(child).__name__ == type(call).__name__ == "NonRecordingSpan"
    assert child.get_span_context().trace_id == root.get_span_context().trace_id
    assert ended[0].attributes["cost.transaction"] == "GET /x" and ended[0].attributes["cost.compute.usd"] > 0
    # uninstrumented: the sampler is the SDK's again, and says what it said
    assert sampler.get_description() == description
    assert "should_sample" not in vars(sampler)
    delegates = [v for v in vars(sampler).values() if isinstance(v, sampling.Sampler)]
    assert all(type(v).__module__ == "opentelemetry.sdk.trace.sampling" for v in delegates)


def test_the_opt_out_keeps_the_sdks_drop() -> None:
    from opentelemetry.sdk.trace import sampling

    exported, ended, (root, _, _) = _tracked(sampling.ALWAYS_OFF, record_unsampled_roots=False)
    assert exported == ended == [] and type(root).__name__ == "NonRecordingSpan"


def test_doctor_says_what_the_sampler_and_threads_mean_for_the_numbers(tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import subprocess_env

    def doctor(**env: str) -> subprocess.CompletedProcess[str]:
        base = subprocess_env(tmp_path, OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large", OTEL_PYTHON_COST_STORE_URL="none")
        return subprocess.run(
            [str(BIN / "otel-cost"), "doctor"], env={**base, **env}, capture_output=True, text=True, timeout=60
        )

    fine = doctor(OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0.1")
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert "sampler        traceidratio 0.1: every request is costed and stored;" in fine.stdout
    assert "threads        the request's context follows it into threads" in fine.stdout
    assert "AWS client     botocore " in fine.stdout

    dropped = doctor(
        OTEL_TRACES_SAMPLER="parentbased_always_off",
        OTEL_PYTHON_COST_UNSAMPLED_ROOTS="drop",
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="flask,threading",
    )
    assert dropped.returncode == 1
    assert "the sampler (parentbased_always_off) may drop requests" in dropped.stdout
    assert "fix: unset OTEL_PYTHON_COST_UNSAMPLED_ROOTS" in dropped.stdout
    assert "fix: take threading out of OTEL_PYTHON_DISABLED_INSTRUMENTATIONS" in dropped.stdout
