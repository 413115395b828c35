"""Running a real multi-process server on loopback under ``opentelemetry-instrument`` and reading back what it did:
its spans (OTLP, every process), its stored rows (SQLite) and the wall time the test measured itself."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.harness import BIN, ROOT, free_port, wait_http, watch_store
from tests.conftest import subprocess_env
from tests.fair_share import fair_shares
from tests.fakes.otlp import FakeOtlpReceiver

M5_LARGE = 0.096  # USD/h, us-east-1 Linux on-demand (the bundled snapshot)
SHARE = 0.5  # the host's share of the machine, given to every process
RATE = M5_LARGE * SHARE  # USD/h
EXAMPLES = ROOT / "examples"


@dataclass
class Run:
    """One server's life: launched at ``launch_ns``, its last process gone at ``exit_ns`` (the test's clock)."""

    launch_ns: int = 0
    exit_ns: int = 0
    last_write_ns: int = 0  # when the store's totals last changed, as a reader polling it every 10 ms saw
    returncode: int | None = None
    roots: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    stderr: str = ""

    @property
    def true_host_usd(self) -> float:
        """The price × the time from launch to the last process's final flush (its commit, seen from outside):
        after it the interpreter only tears down, where no code runs (about 0.3 s to 0.6 s here)."""
        return RATE * ((self.last_write_ns or self.exit_ns) - self.launch_ns) / 3.6e12

    def stored_sum(
        self, column: str, transactions: tuple[str, ...] | None = None, exclude: tuple[str, ...] = ()
    ) -> float:
        i = _COLUMNS.index(column)
        t = _COLUMNS.index("transaction_name")
        return sum(r[i] for r in self.rows if (transactions is None or r[t] in transactions) and r[t] not in exclude)


_COLUMNS = ("transaction_name", "count", "compute_usd", "sum_usd", "host", "boot", "service")


def environment(tmp_path: Path, receiver: FakeOtlpReceiver, **extra: str) -> dict[str, str]:
    settings = {
        "OTEL_PYTHON_COST_INSTANCE_TYPE": "m5.large",
        "OTEL_PYTHON_COST_HOST_SHARE": str(SHARE),
        "OTEL_PYTHON_COST_STORE_URL": f"sqlite:///{tmp_path}/costs.db",
        "OTEL_PYTHON_COST_FLUSH_INTERVAL": "1",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url + "/v1/traces",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BSP_MAX_QUEUE_SIZE": "100000",
        # process.pid on every span: which worker (a process forked after the SDK was set up keeps its parent's)
        "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel,process",
        "OTEL_SERVICE_NAME": "shop",
    }
    return subprocess_env(tmp_path, **{**settings, **extra})


@contextlib.contextmanager
def launched(cmd: list[str], env: dict[str, str], tmp_path: Path, run: Run) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``opentelemetry-instrument cmd``; on the way out wait for it (SIGTERM if still running after the
    block) and note when it was gone."""
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    err = logs / "stderr.txt"
    with err.open("wb") as e:
        run.launch_ns = time.time_ns()
        proc = subprocess.Popen(
            [str(BIN / "opentelemetry-instrument"), *cmd], env=env, stdout=subprocess.DEVNULL, stderr=e, cwd=ROOT
        )
    last_write = watch_store(tmp_path / "costs.db", proc)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        run.exit_ns = time.time_ns()
        time.sleep(1.1)  # the watcher's last looks: a process it started may store the host's last idle
        run.last_write_ns = last_write[0]
        run.returncode = proc.returncode
        run.stderr = err.read_text()


def collect(run: Run, receiver: FakeOtlpReceiver, tmp_path: Path, root_kinds: tuple[int, ...]) -> None:
    """The local roots every process exported (by kind, parentless: nothing the package wrote picks them) and the
    stored rows."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the exporters' last batches
        time.sleep(0.3)
        count = len(receiver.batches)
        time.sleep(0.3)
        if len(receiver.batches) == count:
            break
    run.roots = [s for s in receiver.records() if s["kind"] in root_kinds and not s["parented"]]
    db = tmp_path / "costs.db"
    if db.exists():
        with contextlib.closing(sqlite3.connect(db)) as conn:
            run.rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM otel_cost_transactions").fetchall()


def fairness(run: Run) -> tuple[dict[Any, tuple[float, float]], list[float]]:
    """Per process: (attributed compute on its roots, the host-wide equal split the test computes from every
    process's span times); and each root's relative error against its own equal split."""
    intervals = [(s["start"], s["end"]) for s in run.roots]
    expected, _ = fair_shares(intervals, RATE)
    per_pid: dict[Any, tuple[float, float]] = {}
    errors = []
    for span, want in zip(run.roots, expected, strict=True):
        got = span["attributes"]["cost.compute.usd"]
        have, truth = per_pid.get(span["pid"], (0.0, 0.0))
        per_pid[span["pid"]] = (have + got, truth + want)
        errors.append(abs(got - want) / want if want else 0.0)
    return per_pid, errors


def http_ready(port: int, proc: subprocess.Popen[bytes], path: str = "/health") -> str:
    url = f"http://127.0.0.1:{port}"
    wait_http(url + path, proc, timeout=60)
    return url


@contextlib.contextmanager
def redis_server(tmp_path: Path) -> Iterator[str]:
    """A private redis-server on a free loopback port (Debian's package; ``scripts/ensure_redis.sh``)."""
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure_redis.sh")], check=True)
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def gunicorn(port: int, *args: str, app: tuple[Path, str] = (EXAMPLES / "flask_app", "app:app")) -> list[str]:
    """``app``: the directory gunicorn changes to, and the app there (the example's by default)."""
    return [str(BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "--chdir", str(app[0]), *args, app[1]]


def uvicorn(port: int, workers: int = 2, app: tuple[Path, str] = (EXAMPLES / "fastapi_app", "app:app")) -> list[str]:
    """``workers``: 0 for uvicorn's single process (no supervisor)."""
    cmd = [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--app-dir", str(app[0])]
    return cmd + (["--workers", str(workers)] if workers else []) + ["--no-access-log", app[1]]


def celery_worker(*args: str) -> list[str]:
    return [
        str(BIN / "celery"),
        "--workdir",
        str(EXAMPLES / "celery_app"),
        "-A",
        "tasks",
        "worker",
        "--pool",
        "prefork",
        "-c",
        "2",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "WARNING",
        *args,
    ]


def send_tasks(broker: str, n: int, ms: float) -> None:
    """From this (uninstrumented) process, through the real broker."""
    sys.path.insert(0, str(EXAMPLES / "celery_app"))
    try:
        from celery import Celery

        producer = Celery("producer", broker=broker)
        for _ in range(n):
            producer.send_task("tasks.work", args=[ms])
        producer.close()
    finally:
        sys.path.remove(str(EXAMPLES / "celery_app"))


def workers_of(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
