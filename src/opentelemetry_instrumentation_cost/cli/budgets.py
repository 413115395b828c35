"""``otel-cost budgets check``: fleet budgets from the stored aggregates, for cron or CI.

Sums the window's rows over all services and hosts per transaction. Per-request budgets compare the fleet-wide cost
of one transaction (all services' sums ÷ its requests, counted where it has the most: the edge) with the budget;
per-hour budgets compare the window's spend with the budget × the window in hours. Exit 1 when any is over.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Any

from ..budgets.config import parse_budgets
from ..store.schema import COLUMNS
from ..transactions.names import IDLE
from .common import CliError, open_for_reading, read_rows, window_seconds

_I = {c: i for i, c in enumerate(COLUMNS)}


def run_budgets_check(args: Any) -> int:
    budgets = parse_budgets(args.budgets or os.environ.get("OTEL_PYTHON_COST_BUDGETS"))
    if not budgets:
        raise CliError("no budgets configured: set OTEL_PYTHON_COST_BUDGETS or pass --budgets")
    seconds = window_seconds(args.window)
    store, shown = open_for_reading(args.store)
    rows = read_rows(store, time.time() - seconds)
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        name = r[_I["transaction_name"]]
        if name != IDLE:
            totals[name] += r[_I["sum_usd"]]
            counts[name][r[_I["service"]]] += r[_I["count"]]
    over = []
    for name, total in sorted(totals.items(), key=lambda kv: -kv[1]):
        budget = budgets.for_transaction(name)
        if budget is None:
            continue
        requests = max(counts[name].values())
        if budget.per_request is not None and requests and total / requests > budget.per_request:
            over.append(
                f"{name}: ${total / requests:.8f} per request over {requests} requests, "
                f"budget ${budget.per_request:.8f}"
            )
        if budget.per_hour is not None and total > budget.per_hour * seconds / 3600:
            over.append(f"{name}: ${total:.6f} in {args.window}, budget ${budget.per_hour:.6f} per hour")
    print(f"budgets over the last {args.window} in {shown}, {len(totals)} transactions, all services and hosts:")
    for line in over:
        print(f"  OVER  {line}")
    if not over:
        print("  all within budget")
    return 1 if over else 0
