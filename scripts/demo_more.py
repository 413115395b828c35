"""`make demo`'s last sections: prices in every region offline, and a store that keeps a year in bounded size."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from scripts.harness import BIN


def priced_everywhere() -> None:
    print("\n--- priced everywhere: the bundled snapshot, offline (no Price List API) ---")
    print("$ otel-cost prices --coverage   (first lines, and three regions)")
    out = subprocess.run([str(BIN / "otel-cost"), "prices", "--coverage"], capture_output=True, text=True).stdout
    lines = out.splitlines()
    keep = [line for line in lines if line.startswith(("region ", "us-east-1 ", "eu-west-1 ", "ap-southeast-2 "))]
    print("\n".join(lines[:5] + keep + lines[-1:]))
    for region, itype in (("eu-west-1", "m5.large"), ("us-east-1", "m7i.metal-24xl"), ("il-central-1", "m5.large")):
        print(f"\n$ otel-cost prices --region {region} --instance-type {itype}   (its line)")
        out = subprocess.run(
            [str(BIN / "otel-cost"), "prices", "--region", region, "--instance-type", itype],
            capture_output=True, text=True, env={"OTEL_PYTHON_COST_PRICING_API": "false", "PATH": "/usr/bin"},
        ).stdout  # fmt: skip
        print(next(line for line in out.splitlines() if line.strip().startswith(itype)))


def rolled_up(work: Path) -> None:
    """Three days back, 2,000 per-minute rows written through the store; the daily upkeep rolls them up to hours."""
    from opentelemetry_instrumentation_cost.store.model import Batch, Row
    from opentelemetry_instrumentation_cost.store.sqlite import SQLiteStore

    path = work / "rollup.db"
    path.unlink(missing_ok=True)
    day = (int(time.time()) // 86400 - 3) * 86400
    rng = random.Random(3)
    rows = {
        (day + 60 * m, "shop", f"GET /item/{t}", "m5.large", "us-east-1", "host-a", "boot"): Row(
            rng.randint(1, 9), 1e-5, 8e-6, 2e-6, 3e-6
        )
        for m in range(0, 1440, 3)
        for t in range(4)
    }
    SQLiteStore(path, rollup_days=30).write(Batch(rows))
    query = "SELECT count(*), sum(count), round(sum(sum_usd), 9) FROM otel_cost_transactions"
    before = sqlite3.connect(path).execute(query).fetchone()
    SQLiteStore(path, rollup_days=2).maintain()  # what every process does once a day after a periodic flush
    after = sqlite3.connect(path).execute(query).fetchone()
    print("\n--- a bounded store: per-minute rows older than OTEL_PYTHON_COST_ROLLUP_DAYS (2) become hourly ---")
    print(f"a day three days back: {before[0]:,} per-minute rows ({before[1]:,} requests, ${before[2]}) → "
          f"{after[0]:,} hourly rows ({after[1]:,} requests, ${after[2]}): every sum and count kept")  # fmt: skip
    sys.stdout.flush()
