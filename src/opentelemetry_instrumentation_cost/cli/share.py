"""What ``otel-cost report --html`` shows, read from the store (and a bill), summed in the database."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..budgets.config import parse_budgets
from .common import CliError, read_grouped, read_series
from .html import render
from .report import summarize


def write_html(store: Any, shown: str, since: float, args: Any) -> None:
    lines, idle = summarize(read_grouped(store, since, "transaction"), "transaction")
    total = sum(line.total_usd for line in lines) + idle
    by_service: dict[str, float] = defaultdict(float)
    for _day, service, _region, _unit, _quantity, usd, _count in store.usage(since, time.time() + 60):
        by_service[service] += usd
    hours = (time.time() - since) / 3600
    budgets = parse_budgets(args.budgets or os.environ.get("OTEL_PYTHON_COST_BUDGETS"))
    shown_budgets = []
    for line in lines:
        budget = budgets.for_transaction(line.group) if budgets else None
        if budget is None:
            continue
        if budget.per_request is not None:
            shown_budgets.append({"transaction": line.group, "kind": "per request", "budget_usd": budget.per_request,
                                  "actual_usd": line.mean_usd, "over": line.mean_usd > budget.per_request,
                                  "crossings": line.budget_violations})  # fmt: skip
        if budget.per_hour is not None:
            actual = line.total_usd / hours
            shown_budgets.append({"transaction": line.group, "kind": "per hour", "budget_usd": budget.per_hour,
                                  "actual_usd": actual, "over": actual > budget.per_hour,
                                  "crossings": line.budget_violations})  # fmt: skip
    reconciled = None
    if args.bill:
        from ..reconcile.bills import BillError, read
        from ..reconcile.compare import compare

        try:
            _, bill = read(args.bill)
        except BillError as exc:
            raise CliError(str(exc), code=exc.code) from None
        reconciled = compare(bill, store.usage(0, time.time() + 86400), 0.05)
    page = render({"window": args.since, "store": shown, "made": time.time(), "lines": lines, "idle_usd": idle,
                   "total_usd": total, "series": read_series(store, since), "by_service": dict(by_service),
                   "budgets": shown_budgets, "reconcile": reconciled})  # fmt: skip
    Path(args.html).write_text(page, encoding="utf-8")
