"""Starting and reading real processes on loopback: shared by `make demo`, the benchmarks and the tests."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "flask_app" / "app.py"
BIN = Path(sys.executable).parent


def callgrind_total(path: str | Path) -> int:
    """The instructions a callgrind output file counted (its ``summary:`` line)."""
    with open(path) as f:
        return next((int(line.split()[1]) for line in f if line.startswith("summary:")), 0)


def callgrind(out_dir: str) -> list[str]:
    """The prefix that runs a command under callgrind, following every process it starts (one file per pid)."""
    return ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out_dir}/cg.%p"]


def callgrind_sum(out_dir: str, pid: str = "") -> int:
    """The instructions counted in ``out_dir`` by :func:`callgrind` (only process ``pid``'s files, when given)."""
    return sum(callgrind_total(f) for f in glob.glob(f"{out_dir}/cg.{pid}*"))


def callgrind_threads(cmd: list[str], env: dict[str, str]) -> tuple[int, int]:
    """Run ``cmd`` (one process) under callgrind, counting each thread apart: (instructions on its main thread,
    on every other thread together)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}", *cmd],
            check=True,
            capture_output=True,
            env=env,
        )
        totals = {name: callgrind_total(os.path.join(tmp, name)) for name in os.listdir(tmp)}
        main = totals.pop("cg.out-01")  # cg.out-01 is the main thread; cg.out-02, ... the others
        return main, sum(totals.values())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def offline_env(enabled: bool = True, **extra: str) -> dict[str, str]:
    """This environment without OTEL_/AWS_ settings, for a process that must reach nothing but loopback: no
    exporters, a declared host, IMDS off, every AWS endpoint refused at once; ``enabled=False`` disables the package."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_"))}
    env.update(
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
    )
    env.update(extra)
    if not enabled:
        env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "cost"
    return env


def http(method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 10) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


def parse_console_spans(text: str) -> list[dict[str, Any]]:
    """Spans printed by the console exporter (pretty JSON objects between other output)."""
    decoder = json.JSONDecoder()
    spans: list[dict[str, Any]] = []
    i = 0
    while True:
        i = text.find("{", i)
        if i < 0:
            return spans
        try:
            obj, end = decoder.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        if isinstance(obj, dict) and "context" in obj and "attributes" in obj:
            spans.append(obj)
        i = end


def iso_ns(timestamp: str) -> int:
    """Console exporter timestamps ('2026-11-28T14:00:00.123456Z') to ns since the epoch (µs precision)."""
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1_000_000) * 1000


class Running:
    """A started process; ``stop()`` ends it (SIGINT by default, so exporters flush) and returns (stdout, stderr)."""

    def __init__(self, proc: subprocess.Popen[bytes], out: Path, err: Path, url: str) -> None:
        self.proc, self.out, self.err, self.url = proc, out, err, url

    def stop(self, sig: signal.Signals = signal.SIGINT) -> tuple[str, str]:
        """SIGTERM is gunicorn's graceful stop (workers finish the request in hand); SIGINT its immediate one."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.out.read_text(), self.err.read_text()

    def spans(self) -> list[dict[str, Any]]:
        return parse_console_spans(self.stop()[0])


@contextlib.contextmanager
def run_process(cmd: list[str], env: dict[str, str], logs: Path, ready_url: str) -> Iterator[Running]:
    logs.mkdir(parents=True, exist_ok=True)
    tag = f"{Path(cmd[-1]).stem}-{time.monotonic_ns()}"
    out, err = logs / f"{tag}.out", logs / f"{tag}.err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(cmd, env=env, stdout=o, stderr=e, cwd=ROOT)
    parts = urlsplit(ready_url)
    running = Running(proc, out, err, f"{parts.scheme}://{parts.netloc}")
    try:
        wait_http(ready_url, proc)
        yield running
    finally:
        running.stop()


@contextlib.contextmanager
def run_example(logs: Path, env: dict[str, str], instrument: bool = True) -> Iterator[Running]:
    """The Flask example under ``opentelemetry-instrument`` (console exporter), on a free loopback port."""
    port = free_port()
    env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "shop", **env, "PORT": str(port)}
    cmd = [sys.executable, str(EXAMPLE)]
    if instrument:
        cmd.insert(0, str(BIN / "opentelemetry-instrument"))
    with run_process(cmd, env, logs, f"http://127.0.0.1:{port}/health") as running:
        yield running


@contextlib.contextmanager
def run_moto(logs: Path, **extra_env: str) -> Iterator[str]:
    """moto's server as its own process on a free loopback port; yields its URL."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra_env}
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with run_process(cmd, env, logs, f"http://127.0.0.1:{port}/moto-api/"):
        yield f"http://127.0.0.1:{port}"


def watch_store(db: Path, proc: subprocess.Popen[bytes]) -> list[int]:
    """Start a thread that notes when the SQLite store's totals last changed while ``proc`` runs and for 1 s after
    (multiprocessing's resource tracker, instrumented too, may outlive it), reading it as any reader would (WAL: it
    never blocks a writer), every 10 ms; returns a list whose first item is that time (ns), updated as it goes:
    when the host's last flush committed, seen from outside the package."""
    import sqlite3
    import threading

    seen: list[Any] = [None]
    last = [0]

    def watch() -> None:
        quiet_until = None  # after the process exits: other instrumented processes it started may outlive it
        while True:
            if quiet_until is None and proc.poll() is not None:
                quiet_until = time.monotonic() + 1.0
            done = quiet_until is not None and time.monotonic() > quiet_until
            try:
                with contextlib.closing(sqlite3.connect(db, timeout=1)) as conn:
                    now = conn.execute("SELECT count(*), total(compute_usd) FROM otel_cost_transactions").fetchone()
            except sqlite3.Error:
                now = None
            if now is not None and now != seen[0]:
                seen[0], last[0] = now, time.time_ns()
            if done:
                return
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True, name="store-watch").start()
    return last
