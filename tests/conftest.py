"""Shared test harness: real processes on loopback, and an environment that never leaves this machine.

Every process started here gets IMDS disabled (or a loopback fake), the Price List API pointed at loopback, fake
credentials and a private cache dir, so no test can reach AWS or the real link-local metadata address.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts import harness
from scripts.harness import BIN, Running, free_port, http, iso_ns, parse_console_spans  # noqa: F401

SAFE_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "OTEL_PYTHON_COST_PRICING_API": "false",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    # any AWS call a test did not arrange is refused on loopback at once, never sent to AWS
    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
}
_UNSET = ("AWS_REGION", "AWS_PROFILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_CONFIG_FILE")


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
    monkeypatch.setenv("OTEL_PYTHON_COST_LEDGER_DIR", str(tmp_path / "ledger"))  # each test is a host of its own
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the default SQLite store goes there
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # and the default cache, for Settings(...)
    yield


def subprocess_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not (k.startswith("OTEL_") or k in _UNSET)}
    env.update(SAFE_ENV)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["OTEL_PYTHON_COST_CACHE_DIR"] = str(tmp_path / "cache")
    env["OTEL_PYTHON_COST_LEDGER_DIR"] = str(tmp_path / "ledger")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@contextlib.contextmanager
def run_example(tmp_path: Path, env: dict[str, str], instrument: bool = True) -> Iterator[Running]:
    with harness.run_example(tmp_path / "logs", env, instrument) as running:
        yield running


@pytest.fixture(scope="session")
def logged_moto(moto_url: str) -> Iterator[Any]:
    """moto behind a loopback proxy that logs every request it forwards (``tests/moto_log.py``)."""
    from tests.moto_log import MotoLog

    proxy = MotoLog(moto_url)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with harness.run_moto(tmp_path_factory.mktemp("moto")) as url:
        yield url


def server_spans(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in spans if s["kind"] == "SpanKind.SERVER"]


PG_ADMIN = os.environ.get("OTEL_COST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the real PostgreSQL server (127.0.0.1:5432; `make test` starts one where needed)."""
    import uuid

    import psycopg

    name = f"otel_cost_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pgbouncer_url(pg_url: str) -> Iterator[str]:
    """pgbouncer in transaction mode in front of the test's database, as fleets run PostgreSQL."""
    from scripts.pgbouncer import pgbouncer

    with pgbouncer(pg_url) as url:
        yield url


@pytest.fixture(scope="module", params=["c", "python"])
def both_ledger_paths(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a module's tests once with the ledger's C hot path (``_cells.c``) and once without it (every event on the
    Python path), as a process with ``OTEL_PYTHON_COST_NATIVE=false`` or without the built extension runs it."""
    from opentelemetry_instrumentation_cost.attribution import region

    built = region._cells
    if request.param == "c":
        assert built is not None, "the C hot path was not built (setup.py, a compiler and Python.h are needed)"
    else:
        region._cells = None
    try:
        yield request.param
    finally:
        region._cells = built
