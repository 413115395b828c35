"""Shared test harness: real processes on loopback, and an environment that never leaves this machine.

Every process started here gets IMDS disabled (or a loopback fake), the Price List API pointed at loopback, fake
credentials and a private cache dir, so no test can reach AWS or the real link-local metadata address.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.server import BlackHole, free_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "flask_app" / "app.py"
BIN = Path(sys.executable).parent

SAFE_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "OTEL_PYTHON_COST_PRICING_API": "false",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
}
_UNSET = ("AWS_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_EC2_METADATA_SERVICE_ENDPOINT")


@pytest.fixture(autouse=True)
def safe_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """In-process tests see the same safe environment as the subprocesses, and a fresh log rate limiter."""
    from opentelemetry_instrumentation_cost import _log

    _log._last.clear()
    for name in list(os.environ):
        if name.startswith("OTEL_") or name in _UNSET or name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)
    for name, value in SAFE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OTEL_PYTHON_COST_CACHE_DIR", str(tmp_path / "cache"))
    with BlackHole() as hole:  # any pricing call a test did not arrange goes nowhere, quickly
        monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", hole.url)
        yield


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not (k.startswith("OTEL_") or k in _UNSET)}
    env.update(SAFE_ENV)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["OTEL_PYTHON_COST_CACHE_DIR"] = str(tmp_path / "cache")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def parse_console_spans(text: str) -> list[dict[str, Any]]:
    """Spans printed by the console exporter (pretty JSON objects between other output)."""
    decoder = json.JSONDecoder()
    spans, i = [], 0
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


class Running:
    """A process started for a test; ``stop()`` ends it with SIGINT so exporters flush, then returns its output."""

    def __init__(self, proc: subprocess.Popen[bytes], out: Path, err: Path, url: str) -> None:
        self.proc, self.out, self.err, self.url = proc, out, err, url

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.out.read_text(), self.err.read_text()

    def spans(self) -> list[dict[str, Any]]:
        return parse_console_spans(self.stop()[0])


@contextlib.contextmanager
def run_example(tmp_path: Path, env: dict[str, str], instrument: bool = True) -> Iterator[Running]:
    """The Flask example under ``opentelemetry-instrument`` (console exporter), on a free loopback port."""
    port = free_port()
    env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "shop", **env, "PORT": str(port)}
    cmd = [str(BIN / "opentelemetry-instrument"), sys.executable, str(EXAMPLE)]
    if not instrument:
        cmd = [sys.executable, str(EXAMPLE)]
    tag = f"app-{port}"
    out, err = tmp_path / f"{tag}.out", tmp_path / f"{tag}.err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(cmd, env=env, stdout=o, stderr=e, cwd=ROOT)
    running = Running(proc, out, err, f"http://127.0.0.1:{port}")
    try:
        wait_http(running.url + "/health", proc)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server, started as its own process on a free loopback port."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=f, stderr=f
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/moto-api/", proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def server_spans(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in spans if s["kind"] == "SpanKind.SERVER"]


def ns(timestamp: str) -> int:
    """Console exporter timestamps ('2026-11-28T14:00:00.123456Z') to ns since the epoch, µs precision."""
    from datetime import datetime

    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1_000_000) * 1000
