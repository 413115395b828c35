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
    """pgbouncer (Debian's package; ``scripts/ensure_pgbouncer.sh``) in transaction mode on a free loopback port, in
    front of the test's database, as fleets run PostgreSQL. It refuses to run as root: started as ``postgres``."""
    import shutil
    import subprocess
    import tempfile
    import time

    import psycopg

    subprocess.run(["bash", str(harness.ROOT / "scripts" / "ensure_pgbouncer.sh")], check=True)
    work = Path(tempfile.mkdtemp(prefix="otel-cost-pgbouncer-"))
    work.chmod(0o777)
    port, name = free_port(), pg_url.rsplit("/", 1)[1]
    ini = work / "pgbouncer.ini"
    ini.write_text(
        f"[databases]\n{name} = host=127.0.0.1 port=5432 dbname={name} user=postgres\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = any\npool_mode = transaction\n"
        f"max_client_conn = 1000\ndefault_pool_size = 10\nunix_socket_dir =\n"
        f"logfile = {work}/pgbouncer.log\npidfile = {work}/pgbouncer.pid\n"
    )
    ini.chmod(0o644)
    as_user = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    proc = subprocess.Popen([*as_user, "/usr/sbin/pgbouncer", str(ini)], stderr=subprocess.DEVNULL)
    url = f"postgresql://postgres@127.0.0.1:{port}/{name}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)
