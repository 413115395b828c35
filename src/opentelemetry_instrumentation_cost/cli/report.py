"""``otel-cost report``: requests, total, per-request mean and max, compute vs service, idle share, violations."""

from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from ..store.schema import COLUMNS
from ..transactions.names import IDLE, UNENDED, UNTRACED
from .common import CliError, open_for_reading, read_grouped, read_series, window_seconds

_I = {c: i for i, c in enumerate(COLUMNS)}
_EACH_ITS_OWN = (UNENDED, UNTRACED)  # a process's own leftovers, never one request seen by several services


@dataclass
class Line:
    group: str
    requests: int = 0
    total_usd: float = 0.0
    mean_usd: float = 0.0
    max_usd: float = 0.0
    compute_usd: float = 0.0
    service_usd: float = 0.0
    budget_violations: int = 0
    idle_usd: float = 0.0  # by host only: the host's idle time, stored once per host whatever its processes


def summarize(rows: list[tuple], by: str) -> tuple[list[Line], float]:
    """Lines sorted by total (idle excluded), and the idle cost, from rows in ``COLUMNS`` order (stored rows, or the
    store's own sums per group and service, which give the same lines).

    By transaction, a request is counted once although every service it crosses has a local root for it: the
    count is taken where the transaction has the most roots (its edge), and costs are summed over all services.
    ``<unended>`` roots and ``<untraced>`` calls are each their own: their counts are summed over services.
    By host, each host's idle is on its line (``idle_usd``) as well as in the total idle.
    """
    lines: dict[str, Line] = {}
    per_service: dict[str, dict[str, int]] = {}
    idle = 0.0
    for r in rows:
        group = _group(r, by)
        if r[_I["transaction_name"]] == IDLE:
            idle += r[_I["sum_usd"]]
            if by == "host":
                lines.setdefault(group, Line(group)).idle_usd += r[_I["sum_usd"]]
                per_service.setdefault(group, {})
            continue
        line = lines.setdefault(group, Line(group))
        service_counts = per_service.setdefault(group, {})
        service_counts[r[_I["service"]]] = service_counts.get(r[_I["service"]], 0) + r[_I["count"]]
        line.total_usd += r[_I["sum_usd"]]
        line.compute_usd += r[_I["compute_usd"]]
        line.service_usd += r[_I["service_usd"]]
        line.max_usd = max(line.max_usd, r[_I["max_usd"]])
        line.budget_violations += r[_I["budget_exceeded"]]
    for group, line in lines.items():
        roots = list(per_service[group].values()) or [0]
        at_edge = by in ("transaction", "customer") and group not in _EACH_ITS_OWN  # a request crosses services
        line.requests = max(roots) if at_edge else sum(roots)
        line.mean_usd = line.total_usd / line.requests if line.requests else 0.0
    return sorted(lines.values(), key=lambda line: line.total_usd + line.idle_usd, reverse=True), idle


def _group(r: tuple, by: str) -> str:
    if by == "transaction":
        return str(r[_I["transaction_name"]])
    if by == "service":
        return str(r[_I["service"]])
    if by == "customer":
        return str(r[_I["customer"]] or "(no customer)")
    host = r[_I["host"]] or "(host not stored)"  # rows written before schema version 2
    return f"{host} {r[_I['instance_type']]} {r[_I['region']]}"


def run_report(args: Any) -> int:
    seconds = window_seconds(args.since)
    store, shown = open_for_reading(args.store)
    since = time.time() - seconds
    rows = read_grouped(store, since, args.by)  # summed in the database: a line per group and service
    if not rows:
        raise CliError(f"no cost data in the last {args.since} in {shown}", code=1)
    lines, idle = summarize(rows, args.by)
    total = sum(line.total_usd for line in lines) + idle
    if args.format == "json":
        json.dump(
            {
                "window": args.since,
                "by": args.by,
                "lines": [asdict(x) for x in lines],
                "idle_usd": idle,
                "total_usd": total,
                "idle_share": idle / total if total else 0.0,
            },
            sys.stdout,
            indent=2,
        )
        print()
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(list(asdict(Line("")).keys()))
        for line in lines:
            writer.writerow(list(asdict(line).values()))
        writer.writerow([IDLE, 0, idle, 0, 0, idle, 0, 0, idle])
    else:
        _table(lines, idle, total, args, shown)
    if args.plot:
        from .plot import plot

        plot(read_series(store, since), args.plot)  # per bucket and transaction, summed in the database
        print(f"plot written to {args.plot}", file=sys.stderr)
    if args.html:
        from .share import write_html

        write_html(store, shown, since, args)
        print(f"page written to {args.html}", file=sys.stderr)
    return 0


def _table(lines: list[Line], idle: float, total: float, args: Any, shown: str) -> None:
    print(f"cost by {args.by}, last {args.since}, from {shown}")
    by_host = args.by == "host"
    width = 48 if by_host else 32
    head = (
        f"{args.by:<{width}}{'requests':>9}{'total $':>14}{'$/request':>13}{'max $':>13}{'compute $':>13}"
        f"{'service $':>13}{'over budget':>12}" + (f"{'idle $':>14}" if by_host else "")
    )
    print(head)
    print("-" * len(head))
    for x in lines:
        print(
            f"{x.group[: width - 1]:<{width}}{x.requests:>9}{x.total_usd:>14.8f}{x.mean_usd:>13.9f}{x.max_usd:>13.9f}"
            f"{x.compute_usd:>13.8f}{x.service_usd:>13.8f}{x.budget_violations:>12}"
            + (f"{x.idle_usd:>14.8f}" if by_host else "")
        )
    print("-" * len(head))
    share = idle / total if total else 0.0
    print(f"{'idle (no request in flight)':<{width}}{'':>9}{idle:>14.8f}   {share:.1%} of the total ${total:.8f}")
