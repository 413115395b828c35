"""``otel-cost reconcile`` over a one-million-line bill: wall time and the CLI process's peak memory, with DuckDB
(the ``[reconcile]`` extra) and with the standard library's ``csv``. Goal: at most 5 s with DuckDB.

The bill is a legacy CUR in CSV, generated with DuckDB: 30 days × 24 hours of lines for DynamoDB, S3, SQS and EC2
usage types over 4 regions and 350 resources (1,000,000 lines, about 200 MB), reconciled against an empty store.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.harness import BIN

LINES = 1_000_000
_RUN = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); " \
       "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"  # fmt: skip


def _bill(path: Path) -> None:
    duckdb.execute(f"""
        COPY (SELECT
            strftime(TIMESTAMP '2026-11-01' + INTERVAL (n % 720) HOUR, '%Y-%m-%dT%H:%M:%SZ')
                AS "lineItem/UsageStartDate",
            ['AmazonDynamoDB', 'AmazonS3', 'AWSQueueService', 'AmazonEC2'][n % 4 + 1] AS "lineItem/ProductCode",
            ['USE1-WriteRequestUnits', 'Requests-Tier1', 'EUW1-Requests-Tier1', 'BoxUsage:m5.large'][n % 4 + 1]
                AS "lineItem/UsageType",
            ['us-east-1', 'eu-west-1', 'us-west-2', 'ap-southeast-2'][n // 7 % 4 + 1] AS "product/regionCode",
            CASE WHEN n % 1000 = 0 THEN 'Credit' ELSE 'Usage' END AS "lineItem/LineItemType",
            (n % 97 + 1)::DOUBLE AS "lineItem/UsageAmount",
            ((n % 97 + 1) * 1e-6)::DOUBLE AS "pricing/publicOnDemandCost",
            ((n % 97 + 1) * 8e-7)::DOUBLE AS "lineItem/UnblendedCost",
            'arn:aws:dynamodb:us-east-1:123456789012:table/t' || (n % 350) AS "lineItem/ResourceId"
        FROM range({LINES}) AS t(n)) TO '{path}' (HEADER, DELIMITER ',')""")


def _run(bill: Path, store: str, reader: str) -> tuple[float, float]:
    times, peaks = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        command = [str(BIN / "otel-cost"), "reconcile", "--bill", str(bill), "--store", store, "--reader", reader]
        out = subprocess.run([sys.executable, "-c", _RUN, *command], capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t0)
        peaks.append(int(out.stdout.strip()) / 1024)
    return statistics.median(times), max(peaks)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bill = Path(tmp) / "bill.csv"
        _bill(bill)
        store = f"sqlite:///{Path(tmp) / 'c.db'}"
        print(f"bill: {LINES:,} lines, {bill.stat().st_size / 1e6:.0f} MB (legacy CUR, CSV)")
        for reader in ("duckdb", "csv"):
            seconds, mb = _run(bill, store, reader)
            print(f"reconcile --reader {reader:<7} {seconds:6.2f} s  peak {mb:5.0f} MB"
                  f"{'   goal: ≤ 5 s' if reader == 'duckdb' else ''}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
