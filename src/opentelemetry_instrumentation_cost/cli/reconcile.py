"""``otel-cost reconcile``: the store's usage against a billing export; ``--calibrate``: the bill's prices."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..reconcile.bills import BillError, read
from ..reconcile.calibrate import calibrated_prices
from ..reconcile.compare import compare
from ..store.model import StoreUnavailable
from .common import CliError, open_for_reading


def run_reconcile(args: Any) -> int:
    if args.tolerance < 0:
        raise CliError("--tolerance must be 0 or more, e.g. 0.05")
    try:
        layout, bill = read(args.bill, None if args.format == "auto" else args.format, args.reader)
    except BillError as exc:
        raise CliError(str(exc), code=exc.code) from None
    days = sorted({g[0] for g in bill if len(g[0]) == 10})
    if args.calibrate:
        prices = calibrated_prices(bill, args.bill)
        Path(args.calibrate).write_text(json.dumps(prices, indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.calibrate}: {len(prices['units'])} unit and {len(prices['instances'])} instance prices, "
              f"the bill's effective rates for {prices['calibrated']['period']} (source 'calibrated')")  # fmt: skip
        return 0
    if not days:
        raise CliError(f"the bill ({layout.name}) has no dated lines")
    store, _ = open_for_reading(args.store)
    since = datetime.fromisoformat(days[0]).replace(tzinfo=UTC)
    until = datetime.fromisoformat(days[-1]).replace(tzinfo=UTC) + timedelta(days=1)
    try:
        estimates = store.usage(since.timestamp(), until.timestamp())
    except StoreUnavailable as exc:
        raise CliError(f"the store is unreachable: {exc}", code=3) from None
    result = {"bill": {"layout": layout.name, "path": args.bill}, **compare(bill, estimates, args.tolerance)}
    if args.output == "json":
        print(json.dumps(result, indent=2))
    elif args.output == "csv":
        _csv(result)
    else:
        _table(result)
    return 0 if result["within_tolerance"] and result["days"] else 1  # no day in common compares nothing


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2%}"


def _table(r: dict[str, Any]) -> None:
    days = r["days"]
    print(f"bill {r['bill']['path']} ({r['bill']['layout']}); days both cover: "
          f"{days[0] + ' to ' + days[-1] if days else 'none'}")  # fmt: skip
    cov = "-" if r["coverage"] is None else f"{r['coverage']:.1%}"
    print(f"coverage: {cov} of the bill's usage cost (${r['explained_effective_usd']:.6f} of "
          f"${r['usage_effective_usd']:.6f} effective, ${r['usage_list_usd']:.6f} list) is on lines the estimates "
          "explain")  # fmt: skip
    print(f"\n{'service':<12}{'unit':<28}{'billed':>14}{'estimated':>14}{'qty error':>11}{'drift':>9}{'realised':>10}")
    for u in r["units"]:
        rate = "-" if u["realised_rate"] is None else f"{u['realised_rate']:.3f}"
        mark = "" if u["within_tolerance"] else "  outside tolerance"
        print(f"{u['service']:<12}{u['unit'][:27]:<28}{u['billed_quantity']:>14.6g}{u['estimated_quantity']:>14.6g}"
              f"{_pct(u['quantity_error']):>11}{_pct(u['price_drift']):>9}{rate:>10}{mark}")  # fmt: skip
    print("\nrealised rate (effective ÷ list) per service: " + ", ".join(
        f"{s} {'-' if v is None else f'{v:.3f}'}" for s, v in r["realised_rate"].items()))  # fmt: skip
    if r["unexplained"]:
        print("\nlargest bill lines nothing estimates:")
        for line in r["unexplained"]:
            print(f"  ${line['effective_usd']:>12.6f}  {line['service']}  {line['usage'][:60]}  {line['region']}")
    if r["unbilled_estimates"]:
        n = len(r["unbilled_estimates"])
        print(f"\nestimates with no bill line ({n}; wrong account or region, or a metering bug):")
        for e in r["unbilled_estimates"][:10]:
            print(f"  {e['day']}  {e['service']}/{e['unit']}  {e['region']}  {e['quantity']:.6g}  ${e['usd']:.6f}")
    if r["apart"]:
        print("\nkept apart: " + ", ".join(f"{k} ${v:.2f}" for k, v in r["apart"].items()))
    if not days:
        print("\nno day of the bill has stored usage: nothing to compare (exit 1)")
    print(f"\nquantity errors within ±{r['tolerance']:.0%}: {'yes' if r['within_tolerance'] else 'no'}")


def _csv(r: dict[str, Any]) -> None:
    fields = ["service", "unit", "billed_quantity", "estimated_quantity", "quantity_error", "bill_list_unit_price",
              "estimated_unit_price", "price_drift", "effective_unit_price", "effective_usd", "realised_rate",
              "within_tolerance"]  # fmt: skip
    writer = csv.DictWriter(sys.stdout, fieldnames=fields)
    writer.writeheader()
    writer.writerows(r["units"])
