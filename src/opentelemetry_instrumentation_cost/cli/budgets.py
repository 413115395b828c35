"""``otel-cost budgets check``: fleet budgets from the stored aggregates, for cron or CI.

Sums the window's rows over all services and hosts per transaction (or, ``--by customer``, per customer), as
``otel-cost report`` does. Per-request
budgets compare the fleet-wide cost of one transaction (all services' sums ÷ its requests, counted where it has
the most: the edge) with the budget; per-hour budgets compare the window's spend with the budget × the window in
hours. Exit 1 when any is over.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ..budgets.config import parse_budgets
from .common import CliError, open_for_reading, read_grouped, window_seconds
from .report import summarize


def run_budgets_check(args: Any) -> int:
    budgets = parse_budgets(args.budgets or os.environ.get("OTEL_PYTHON_COST_BUDGETS"))
    if not budgets:
        raise CliError("no budgets configured: set OTEL_PYTHON_COST_BUDGETS or pass --budgets")
    seconds = window_seconds(args.window)
    store, shown = open_for_reading(args.store)
    lines, _ = summarize(read_grouped(store, time.time() - seconds, args.by), args.by)  # requests at the edge
    over = []
    for line in lines:
        budget = budgets.for_transaction(line.group)
        if budget is None:
            continue
        if budget.per_request is not None and line.requests and line.mean_usd > budget.per_request:
            over.append(
                f"{line.group}: ${line.mean_usd:.8f} per request over {line.requests} requests, "
                f"budget ${budget.per_request:.8f}"
            )
        if budget.per_hour is not None and line.total_usd > budget.per_hour * seconds / 3600:
            over.append(f"{line.group}: ${line.total_usd:.6f} in {args.window}, budget ${budget.per_hour:.6f} per hour")
        if budget.per_day is not None and line.total_usd > budget.per_day * seconds / 86400:
            over.append(f"{line.group}: ${line.total_usd:.6f} in {args.window}, budget ${budget.per_day:.6f} per day")
    print(f"budgets over the last {args.window} in {shown}, {len(lines)} {args.by}s, all services and hosts:")
    for entry in over:
        print(f"  OVER  {entry}")
    if not over:
        print("  all within budget")
    return 1 if over else 0
