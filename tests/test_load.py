"""Under load, on loopback, bounded in time: gunicorn (4 workers, preloaded and forked) and Flask's threaded server.

No error attributable to the package; per host, compute cost on every process's exported spans + the idle cost
equals the host's cost (to 0.1%), both metrics being taken once per host, by whichever process flushes; the store's
aggregates equal the spans exported (count and sum); worker memory flat after warm-up (RSS growth under 10 MB).
"""

from __future__ import annotations

import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from scripts.harness import EXAMPLE, free_port, run_process
from scripts.load import drive
from tests.conftest import BIN, subprocess_env
from tests.fakes.otlp import FakeOtlpReceiver

WARMUP_S, LOAD_S = 3.0, 10.0
PATHS = ["/health", "/health?work_ms=1", "/health?route=a"]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(c) for c in children]


@pytest.mark.parametrize("server", ["gunicorn", "threaded"])
def test_under_load(tmp_path: Path, server: str) -> None:
    port = free_port()
    store = tmp_path / "costs.db"
    with FakeOtlpReceiver() as receiver:
        env = subprocess_env(
            tmp_path,
            OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large",
            OTEL_PYTHON_COST_HOST_SHARE="0.5",
            OTEL_PYTHON_COST_STORE_URL=f"sqlite:///{store}",
            OTEL_PYTHON_COST_FLUSH_INTERVAL="1",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.url + "/v1/traces",
            OTEL_BSP_MAX_QUEUE_SIZE="200000",
            OTEL_METRICS_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=receiver.url + "/v1/metrics",
            OTEL_METRIC_EXPORT_INTERVAL="1000",
            OTEL_EXPERIMENTAL_RESOURCE_DETECTORS="otel,process",  # process.pid on spans and metrics, per worker
            OTEL_SERVICE_NAME="shop",
            PORT=str(port),
        )
        app = [sys.executable, str(EXAMPLE)]
        if server == "gunicorn":
            app = [
                str(BIN / "gunicorn"),
                "-w",
                "4",
                "--preload",
                "-b",
                f"127.0.0.1:{port}",
                "--chdir",
                str(EXAMPLE.parent),
                "app:app",
            ]
        cmd = [str(BIN / "opentelemetry-instrument"), *app]
        with run_process(cmd, env, tmp_path / "logs", f"http://127.0.0.1:{port}/health") as running:
            url = f"http://127.0.0.1:{port}"
            warm = drive(url, PATHS, WARMUP_S)
            pids = _workers(running.proc.pid) if server == "gunicorn" else [running.proc.pid]
            rss_before = {pid: _rss_kb(pid) for pid in pids}
            load = drive(url, PATHS, LOAD_S)
            rss_after = {pid: _rss_kb(pid) for pid in pids}
            # gunicorn: the graceful stop a deployment sends; the immediate one (SIGINT) can interrupt a worker
            # still in sendall() after its client has read the response, and gunicorn logs that as a traceback
            _, err = running.stop(signal.SIGTERM if server == "gunicorn" else signal.SIGINT)
        time.sleep(0.2)
        spans = [(n, a) for n, a in receiver.spans("process.pid") if n.startswith("GET")]
        idle = receiver.last_sums("cost.idle.usd", "process.pid")
        host = receiver.last_sums("cost.host.usd", "process.pid")
    assert load.errors == 0 and set(load.statuses) == {200}, load
    assert warm.requests + load.requests + 1 == len(spans)  # +1: the readiness probe
    assert "Traceback" not in err and "cost:" not in err, err[-2000:]
    if server == "gunicorn":
        assert len(pids) == 4
    compute = sum(a["cost.compute.usd"] for _, a in spans)  # conservation, per host: every process's spans
    assert compute + sum(idle.values()) == pytest.approx(sum(host.values()), rel=1e-3), (compute, idle, host)
    assert all(sum(a["cost.compute.usd"] for _, a in spans if a["process.pid"] == pid) > 0 for pid in pids)
    for pid in pids:
        assert rss_after[pid] - rss_before[pid] < 10 * 1024, (pid, rss_before, rss_after)
    count, total = (
        sqlite3.connect(store)
        .execute("SELECT sum(count), sum(sum_usd) FROM otel_cost_transactions WHERE transaction_name != '<idle>'")
        .fetchone()
    )
    assert count == len(spans)
    assert total == pytest.approx(sum(a["cost.transaction.usd"] for _, a in spans), rel=1e-9)
    print(
        f"{server}: {load.rate:.0f} requests/s over {load.seconds:.1f} s, {len(spans)} spans, "
        f"RSS growth {max(rss_after[p] - rss_before[p] for p in pids)} kB"
    )
