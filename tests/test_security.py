"""Security: credentials never shown, request payloads never recorded, IMDSv2 only by default."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path
from time import time_ns

import pytest

from opentelemetry_instrumentation_cost.store.model import Batch, Row, bucket
from opentelemetry_instrumentation_cost.store.open import open_store
from tests.conftest import BIN, http, run_example, subprocess_env

# Names that break any SQL built by formatting: quotes of both kinds, a statement after a comment, placeholders
# of both drivers, a backslash. Each is a legal service or transaction name (baggage and span names carry them).
HOSTILE = [
    "shop'); DROP TABLE otel_cost_transactions; --",
    'GET /a"b\\c %s ? $1 :name',
]


@pytest.mark.parametrize(
    ("url", "doctor_shows", "app_says"),
    [
        (
            "postgresql://cost:s3cr3t-pw@127.0.0.1:9/costs",
            "cost:***@127.0.0.1:9/costs",
            "the cost store is unavailable",
        ),
        (  # libpq also takes the password as a query parameter
            "postgresql://cost@127.0.0.1:9/costs?password=s3cr3t-pw&sslmode=disable",
            "costs?password=***&sslmode=disable",
            "the cost store is unavailable",
        ),
        (  # a bad port: refused at once, as a bad value, still redacted
            "postgresql://cost:s3cr3t-pw@127.0.0.1:notaport/costs",
            "bad store URL postgresql://cost:***@127.0.0.1:notaport/costs",
            "OTEL_PYTHON_COST_STORE_URL='postgresql://cost:***@127.0.0.1:notaport/costs' is invalid",
        ),
        (  # a scheme this package does not open
            "mysql://cost:s3cr3t-pw@127.0.0.1/costs",
            "bad store URL mysql://cost:***@127.0.0.1/costs",
            "OTEL_PYTHON_COST_STORE_URL='mysql://cost:***@127.0.0.1/costs' is invalid",
        ),
    ],
    ids=["user-info", "query", "bad-port", "bad-scheme"],
)
def test_doctor_and_logs_never_show_the_store_password(
    tmp_path: Path, url: str, doctor_shows: str, app_says: str
) -> None:
    env = subprocess_env(tmp_path, OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large", OTEL_PYTHON_COST_STORE_URL=url)
    doctor = subprocess.run([str(BIN / "otel-cost"), "doctor"], env=env, capture_output=True, text=True)
    assert doctor.returncode == 1, doctor.stderr
    assert "s3cr3t-pw" not in doctor.stdout + doctor.stderr and doctor_shows in doctor.stdout
    with run_example(tmp_path, {**env, "OTEL_PYTHON_COST_FLUSH_INTERVAL": "0.2"}) as app:
        assert http("GET", app.url + "/health")[0] == 200
        deadline = time.monotonic() + 20  # a periodic flush reports the store (the exit waits 2 s at most)
        while app_says not in app.err.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        out, err = app.stop()
    assert app_says in err and "s3cr3t-pw" not in out + err


def test_request_payloads_never_reach_spans_or_the_store(tmp_path: Path, moto_url: str) -> None:
    secret = "4111-1111-1111-1111"
    store = tmp_path / "costs.db"
    env = subprocess_env(
        tmp_path,
        OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large",
        AWS_ENDPOINT_URL=moto_url,
        OTEL_PYTHON_COST_STORE_URL=f"sqlite:///{store}",
    )
    with run_example(tmp_path, env) as app:
        assert http("POST", app.url + "/checkout", {"items": ["1"], "card": secret})[0] == 201
        out, _ = app.stop()
    assert secret not in out  # no span, attribute or event carries it
    dump = "\n".join(sqlite3.connect(store).iterdump())
    assert secret not in dump and "POST /checkout" in dump


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_names_that_look_like_sql_are_stored_as_written(tmp_path: Path, pg_url: str, kind: str) -> None:
    """Every value reaches the store as a bound parameter: hostile names are stored verbatim, merge with
    themselves on a second write, and the table survives."""
    store = open_store(pg_url if kind == "postgresql" else f"sqlite:///{tmp_path}/c.db")
    minute = bucket(time_ns())
    key = (minute, HOSTILE[0], HOSTILE[1], "m5.large", "us-east-1", "web-1", "b1")
    store.write(Batch({key: Row(1, 0.5, 0.5, 0.0, 0.5, 0)}, id=HOSTILE[0]))
    store.write(Batch({key: Row(2, 1.0, 0.5, 0.5, 0.75, 1)}, id=HOSTILE[1]))
    rows = store.rows(minute)
    store.close()
    assert [tuple(r) for r in rows] == [
        (minute, *HOSTILE, "m5.large", "us-east-1", 3, 1.5, 1.0, 0.5, 1, 0.75, "web-1", "b1", "")
    ]
