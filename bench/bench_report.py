"""``otel-cost report`` over 1 and 10 million stored rows: wall time and the CLI process's peak memory.

Rows are generated in the database itself (PostgreSQL: ``generate_series`` into a fresh database on the local
server; SQLite: ``WITH RECURSIVE`` into a fresh file): 1,000 services × 50 transactions × 4 hosts, one row per
minute, as a fleet writes them. The report sums them in the database (``store.schema.grouped_query``); the figure
is the median of 3 runs of the real command, and the peak resident memory of its process (its own ``ru_maxrss``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from opentelemetry_instrumentation_cost.store.model import Batch
from opentelemetry_instrumentation_cost.store.postgres import PostgresStore
from opentelemetry_instrumentation_cost.store.sqlite import SQLiteStore
from scripts.harness import BIN

ADMIN = os.environ.get("OTEL_COST_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SIZES = (1_000_000, 10_000_000)
_RUN = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); " \
       "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"  # fmt: skip
# the n-th generated row: service n % 1000, transaction n / 1000 % 50, host n / 50000 % 4, minute n / 200000
_VALUES = (
    "'svc' || (n % 1000), 'GET /t' || (n / 1000 % 50), 'm5.large', 'us-east-1', 1 + n % 7, 0.00001, 0.000008, "
    "0.000002, 0, 0.000003, 'host' || (n / 50000 % 4), 'boot'"
)


def _postgres(n: int) -> tuple[str, str]:
    name = f"otel_cost_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    PostgresStore(url).write(Batch({}))  # the schema and today's partitions, as the package creates them
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO otel_cost_transactions SELECT date_trunc('day', now()) + make_interval(mins => n / 200000), "
            f"{_VALUES.replace('%', '%%')} FROM generate_series(0, %s) AS n",
            (n - 1,),
        )
        conn.execute("ANALYZE otel_cost_transactions")
    return url, name


def _sqlite(n: int, directory: str) -> str:
    path = Path(directory) / f"bench-{n}.db"
    SQLiteStore(path).grouped(0, "transaction")  # the schema, as the package creates it
    import sqlite3

    day = int(time.time()) // 86400 * 86400
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO otel_cost_transactions WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s "
            f"WHERE n < ?) SELECT {day} + (n / 200000) * 60, {_VALUES} FROM s",
            (n - 1,),
        )
        conn.execute("ANALYZE")
    return f"sqlite:///{path}"


def _report(url: str) -> tuple[float, float]:
    """Median seconds of 3 runs, and the largest peak RSS (MB) of the report's process."""
    times, peaks = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", _RUN, str(BIN / "otel-cost"), "report", "--store", url, "--since", "2d"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        times.append(time.perf_counter() - t0)
        peaks.append(int(out.stdout.strip()) / 1024)
    return statistics.median(times), max(peaks)


def main(sizes: tuple[int, ...] = SIZES) -> None:
    print(f"{'store':<12}{'rows':>12}{'report s':>10}{'peak MB':>9}  goal: ≤ 5 s and ≤ 200 MB at 10 million")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            url, name = _postgres(n)
            try:
                seconds, mb = _report(url)
                print(f"{'postgresql':<12}{n:>12,}{seconds:>10.2f}{mb:>9.0f}", flush=True)
            finally:
                with psycopg.connect(ADMIN, autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            seconds, mb = _report(_sqlite(n, tmp))
            print(f"{'sqlite':<12}{n:>12,}{seconds:>10.2f}{mb:>9.0f}", flush=True)


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
