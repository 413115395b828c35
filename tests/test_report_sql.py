"""``otel-cost report`` sums in the database, and gives the figures a SQL query written here gives, over generated
rows in both stores (5 services × 60 transactions × 4 hosts × 50 minutes, with idle and leftovers)."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scripts.harness import BIN

SERVICES, TRANSACTIONS, HOSTS, MINUTES = 5, 60, 4, 50
LEFTOVERS = ("<unended>", "<untraced>")  # each its own per service: counted in every service


def _rows(now: int) -> list[tuple[Any, ...]]:
    rng = random.Random(7)
    names = [f"GET /t{i}" for i in range(TRANSACTIONS)] + ["<idle>", *LEFTOVERS]
    out = []
    for m in range(min(MINUTES, now % 86400 // 60 + 1)):  # today's minutes only (the store made today's partition)
        bucket = (now // 60 - m) * 60
        for s in range(SERVICES):
            for name in names:
                for h in range(HOSTS):
                    if name != "<idle>" and rng.random() < 0.5:
                        continue
                    count = 0 if name == "<idle>" else rng.randint(1, 50)
                    compute = rng.random() * 1e-4
                    service = 0.0 if name == "<idle>" else rng.random() * 1e-4
                    out.append((bucket, f"svc{s}", name, "m5.large", "us-east-1", count, compute + service, compute,
                                service, rng.randint(0, 2), rng.random() * 1e-5, f"host{h}", "boot", ""))  # fmt: skip
    return out


def _fill_sqlite(path: Path, rows: list[tuple[Any, ...]]) -> str:
    from opentelemetry_instrumentation_cost.store.sqlite import SQLiteStore

    url = f"sqlite:///{path}"
    SQLiteStore(path).grouped(0, "transaction")  # the schema, as the package creates it
    with sqlite3.connect(path) as conn:
        conn.executemany(f"INSERT INTO otel_cost_transactions VALUES ({', '.join('?' * 14)})", rows)
    return url


def _fill_postgres(url: str, rows: list[tuple[Any, ...]]) -> str:
    from opentelemetry_instrumentation_cost.store.model import Batch
    from opentelemetry_instrumentation_cost.store.postgres import PostgresStore

    PostgresStore(url).write(Batch({}))  # the schema and today's partitions, as the package creates them
    cols = ("bucket_start, service, transaction_name, instance_type, region, count, sum_usd, compute_usd, "
            "service_usd, budget_exceeded, max_usd, host, boot, customer")  # fmt: skip
    with psycopg.connect(url) as conn, conn.cursor().copy(f"COPY otel_cost_transactions ({cols}) FROM STDIN") as cp:
        for r in rows:
            cp.write_row((time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(r[0])), *r[1:]))
    return url


def _truth(query: Any, by: str) -> tuple[dict[str, dict[str, Any]], float]:
    """The report's lines as this test computes them with SQL of its own."""
    group = {"transaction": "transaction_name", "service": "service",
             "host": "host || ' m5.large us-east-1'"}[by]  # fmt: skip
    per = query(
        f"SELECT {group}, service, sum(count), sum(sum_usd), sum(compute_usd), sum(service_usd), max(max_usd), "
        f"sum(budget_exceeded) FROM otel_cost_transactions WHERE transaction_name <> '<idle>' GROUP BY 1, 2"
    )
    lines: dict[str, dict[str, Any]] = {}
    for g, _, n, total, compute, service, top, over in per:
        line = lines.setdefault(g, {"counts": [], "total_usd": 0.0, "compute_usd": 0.0, "service_usd": 0.0,
                                    "max_usd": 0.0, "budget_violations": 0})  # fmt: skip
        line["counts"].append(int(n))
        line["total_usd"] += total
        line["compute_usd"] += compute
        line["service_usd"] += service
        line["max_usd"] = max(line["max_usd"], top)
        line["budget_violations"] += int(over)
    for g, line in lines.items():
        counts = line.pop("counts")
        line["requests"] = max(counts) if by == "transaction" and g not in LEFTOVERS else sum(counts)
    idle = query("SELECT sum(sum_usd) FROM otel_cost_transactions WHERE transaction_name = '<idle>'")[0][0]
    return lines, idle


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_report_is_the_sql_the_test_writes(tmp_path: Path, pg_url: str, kind: str) -> None:
    rows = _rows(int(time.time()))
    if kind == "sqlite":
        url = _fill_sqlite(tmp_path / "c.db", rows)

        def query(sql: str) -> list[tuple[Any, ...]]:
            with sqlite3.connect(tmp_path / "c.db") as conn:
                return conn.execute(sql).fetchall()
    else:
        url = _fill_postgres(pg_url, rows)

        def query(sql: str) -> list[tuple[Any, ...]]:
            with psycopg.connect(pg_url) as conn:
                return conn.execute(sql).fetchall()

    for by in ("transaction", "service", "host"):
        done = subprocess.run(
            [str(BIN / "otel-cost"), "report", "--store", url, "--since", "2h", "--by", by, "--format", "json"],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        report = json.loads(done.stdout)
        want, idle = _truth(query, by)
        got = {line.pop("group"): line for line in report["lines"]}
        assert set(got) == set(want), by
        for group, line in want.items():
            for field, value in line.items():
                assert got[group][field] == pytest.approx(value, rel=1e-9), (by, group, field)
        assert report["idle_usd"] == pytest.approx(idle, rel=1e-9)
        if by == "transaction":  # --plot's points: per minute and transaction, idle left out
            from opentelemetry_instrumentation_cost.store.open import open_store

            points = {(int(t), n): usd for t, n, usd in open_store(url).series(time.time() - 7200)}
            minute = "extract(epoch from bucket_start)::bigint" if kind == "postgresql" else "bucket_start"
            sql = query(f"SELECT {minute}, transaction_name, sum(sum_usd) FROM otel_cost_transactions "
                        "WHERE transaction_name <> '<idle>' GROUP BY 1, 2")  # fmt: skip
            assert points == pytest.approx({(int(t), n): usd for t, n, usd in sql}, rel=1e-9)
        if by == "host":
            per_host = dict(query("SELECT host || ' m5.large us-east-1', sum(sum_usd) FROM otel_cost_transactions "
                                  "WHERE transaction_name = '<idle>' GROUP BY 1"))  # fmt: skip
            assert {g: line["idle_usd"] for g, line in got.items()} == pytest.approx(per_host, rel=1e-9)


TEN_MILLION = 10_000_000
# the n-th generated row: service n % 1000, transaction n / 1000 % 50, host n / 50000 % 4, minute n / 200000 (50
# minutes from 01:00 of a day 3 days back, so that the upkeep rolls it up)
_GENERATED = (
    "SELECT %s::timestamptz + make_interval(mins => n / 200000), 'svc' || (n %% 1000), 'GET /t' || (n / 1000 %% 50), "
    "'m5.large', 'us-east-1', 1 + n %% 7, (1 + n %% 13) * 1e-6, (1 + n %% 13) * 6e-7, (1 + n %% 13) * 4e-7, "
    "n %% 3 / 2, (1 + n %% 11) * 1e-7, 'host' || (n / 50000 %% 4), 'boot' FROM generate_series(0, %s) AS n"
)


def test_ten_million_rows_report_as_the_sql_says_and_roll_up_keeps_every_sum(pg_url: str) -> None:
    """10 million rows generated in the database on a day 3 days back: the report gives what this test's SQL gives,
    and the daily upkeep's roll-up to hours keeps every sum, count and maximum per service, transaction and host."""
    from opentelemetry_instrumentation_cost.store.model import Batch, Row
    from opentelemetry_instrumentation_cost.store.postgres import PostgresStore

    day = (int(time.time()) // 86400 - 3) * 86400
    start = time.strftime("%Y-%m-%d 01:00:00+00", time.gmtime(day))
    key = (day + 3600, "svc0", "GET /seed", "m5.large", "us-east-1", "host0", "boot")
    PostgresStore(pg_url, rollup_days=30).write(Batch({key: Row(1, 1e-6, 1e-6)}))  # the day's partition, as made

    def query(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(pg_url) as conn:
            conn.execute("SET work_mem = '64MB'")
            return conn.execute(sql).fetchall()

    with psycopg.connect(pg_url) as conn:
        conn.execute(f"INSERT INTO otel_cost_transactions {_GENERATED}", (start, TEN_MILLION - 1))
        conn.execute("ANALYZE otel_cost_transactions")
    assert query("SELECT count(*) FROM otel_cost_transactions") == [(TEN_MILLION + 1,)]

    done = subprocess.run(
        [str(BIN / "otel-cost"), "report", "--store", pg_url, "--since", "4d", "--by", "transaction", "--format",
         "json"], capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    got = {line.pop("group"): line for line in json.loads(done.stdout)["lines"]}
    want, _ = _truth(query, "transaction")
    assert set(got) == set(want) and len(got) == 51
    for group, line in want.items():
        for field, value in line.items():
            assert got[group][field] == pytest.approx(value, rel=1e-9), (group, field)

    per_key = (
        "SELECT service, transaction_name, host, sum(count), sum(sum_usd), sum(compute_usd), sum(service_usd), "
        "sum(budget_exceeded), max(max_usd), count(*) FROM otel_cost_transactions GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    )
    before = query(per_key)
    PostgresStore(pg_url, rollup_days=2).maintain()  # a process's daily upkeep
    after = query(per_key)
    assert [r[:4] + r[7:8] for r in after] == [r[:4] + r[7:8] for r in before]  # counts: exact
    for a, b in zip(after, before, strict=True):
        assert a[4:7] + a[8:9] == pytest.approx(b[4:7] + b[8:9], rel=1e-9)
    # 50 minutes from 01:00 are one hour: one row per service, transaction and host
    assert {r[9] for r in after} == {1} and sum(r[9] for r in before) == TEN_MILLION + 1
