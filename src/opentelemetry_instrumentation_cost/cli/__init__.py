"""``otel-cost``: report, prices, doctor, budgets, reconcile. Clear messages and non-zero exits; never a traceback."""

from __future__ import annotations

import argparse
import logging
import sys

from .common import CliError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="otel-cost", description="Cloud cost as telemetry: what it cost, and why.")
    sub = parser.add_subparsers(dest="command", required=True)

    report = sub.add_parser("report", help="cost per transaction, service or host, from the store")
    report.add_argument("--store", help="store URL (default: OTEL_PYTHON_COST_STORE_URL, else the SQLite default)")
    report.add_argument("--since", default="1h", help="window, e.g. 30m, 1h, 7d (default 1h)")
    report.add_argument("--by", choices=("transaction", "service", "host", "customer"), default="transaction")
    report.add_argument("--format", choices=("table", "json", "csv"), default="table")
    report.add_argument("--plot", metavar="FILE.png", help="also draw cost per transaction over time")
    report.add_argument("--html", metavar="FILE.html", help="also write a self-contained page to share")
    report.add_argument("--bill", help="with --html: a billing export to show the estimates against")
    report.add_argument("--budgets", help="with --html: budgets to show (default: OTEL_PYTHON_COST_BUDGETS)")

    prices = sub.add_parser("prices", help="the prices in force, with their sources and dates")
    prices.add_argument("--region", help="whose prices (default: OTEL_PYTHON_COST_PRICING_REGION, else detected)")
    prices.add_argument("--instance-type", help="an instance type to price (default: the detected one)")
    prices.add_argument(
        "--coverage", action="store_true", help="per region: the instance types and services priced offline, and dates"
    )

    doctor = sub.add_parser("doctor", help="what was detected, which price sources and store answer, and fixes")
    doctor.add_argument("--store", help="store URL to check (default: OTEL_PYTHON_COST_STORE_URL)")

    budgets = sub.add_parser("budgets", help="fleet budgets from the stored aggregates")
    budgets_sub = budgets.add_subparsers(dest="budgets_command", required=True)
    check = budgets_sub.add_parser("check", help="exit 1 when any transaction is over its budget (for cron or CI)")
    check.add_argument("--store", help="store URL (default: OTEL_PYTHON_COST_STORE_URL, else the SQLite default)")
    check.add_argument("--window", default="1h", help="window, e.g. 1h (default)")
    check.add_argument("--budgets", help="budgets, as OTEL_PYTHON_COST_BUDGETS (default: that variable)")
    check.add_argument("--by", choices=("transaction", "customer"), default="transaction", help="whose budgets")

    rec = sub.add_parser("reconcile", help="the stored estimates against a billing export (FOCUS, CUR 2.0, CUR)")
    rec.add_argument(
        "--bill", required=True, help="a billing export: a file, a folder or a glob (CSV, CSV.GZ, Parquet)"
    )
    rec.add_argument("--format", choices=("auto", "focus", "cur2", "cur"), default="auto", help="the bill's layout")
    rec.add_argument("--store", help="store URL (default: OTEL_PYTHON_COST_STORE_URL, else the SQLite default)")
    rec.add_argument("--tolerance", type=float, default=0.05, help="quantity error allowed (default 0.05)")
    rec.add_argument("--output", choices=("table", "json", "csv"), default="table")
    rec.add_argument("--reader", choices=("auto", "duckdb", "csv"), default="auto",
                     help="DuckDB when installed (the [reconcile] extra), else the standard library's csv")  # fmt: skip
    rec.add_argument("--calibrate", metavar="PRICES.json", help="write the bill's effective prices as a price file")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        if args.command == "report":
            from .report import run_report

            return run_report(args)
        if args.command == "prices":
            from .prices import run_prices

            return run_prices(args)
        if args.command == "reconcile":
            from .reconcile import run_reconcile

            return run_reconcile(args)
        if args.command == "doctor":
            from .doctor import run_doctor

            return run_doctor(args)
        from .budgets import run_budgets_check

        return run_budgets_check(args)
    except CliError as exc:
        print(f"otel-cost: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into head, say
        sys.stderr.close()
        return 0
