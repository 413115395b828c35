"""The estimates against the bill, per day × AWS service × region × unit, over the days both cover.

What a FinOps reader checks, each apart from the others: how much of the bill's usage the estimates explain
(coverage), whether the package counts what AWS counts (quantity error per service and unit: metering), whether it
prices what AWS lists (drift of its unit prices from the bill's list unit prices: a stale snapshot shows here), what
the company really pays (realised rate: effective ÷ list), what nothing estimates, what is estimated but not billed,
and credits, refunds and tax, kept out of every comparison.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .bills import Group, Sums
from .layouts import category, meter_unit, service_of

Estimate = tuple[str, str, str, str, float, float, int]  # day, service, region, unit, quantity, USD, count
TOP = 10


def compare(bill: dict[Group, Sums], estimates: list[Estimate], tolerance: float) -> dict[str, Any]:
    common = {g[0] for g in bill} & {e[0] for e in estimates}
    days = sorted(common)
    window = {group: sums for group, sums in bill.items() if group[0] in common}
    in_window = totals(window)
    billed: dict[tuple[str, str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # qty, list, eff
    unexplained: dict[tuple[str, str, str], float] = defaultdict(float)
    list_by_service: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (day, service, usage, region, kind), (quantity, list_cost, effective, *_) in window.items():
        if category(kind) != "usage":
            continue
        ours = service_of(service)
        mapped = meter_unit(ours, usage)
        if ours is not None:
            per = list_by_service[ours]
            per[0] += list_cost
            per[1] += effective
        if mapped is None:
            unexplained[(service, usage, region)] += effective
            continue
        acc = billed[(day, *mapped[:1], region, mapped[1])]
        acc[0] += quantity
        acc[1] += list_cost
        acc[2] += effective
    estimated: dict[tuple[str, str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for day, service, region, unit, quantity, usd, _ in estimates:
        if day in common:
            acc = estimated[(day, service, region, unit)]
            acc[0] += quantity
            acc[1] += usd
    matched = set(billed) & set(estimated)
    for key in set(billed) - matched:  # a unit a meter counts, but none of it was estimated
        unexplained[(key[1], key[3], key[2])] += billed[key][2]
    explained = sum(billed[k][2] for k in matched)
    units = _by_unit(billed, estimated, matched, tolerance)
    return {
        "bill_totals": totals(bill),
        "days": days,
        "coverage": explained / in_window["usage_effective_usd"] if in_window["usage_effective_usd"] else None,
        "usage_effective_usd": in_window["usage_effective_usd"],
        "usage_list_usd": in_window["usage_list_usd"],
        "explained_effective_usd": explained,
        "units": units,
        "realised_rate": {s: (e / lc if lc else None) for s, (lc, e) in sorted(list_by_service.items())},
        "unexplained": [
            {"service": s, "usage": u, "region": r, "effective_usd": c}
            for (s, u, r), c in sorted(unexplained.items(), key=lambda kv: -abs(kv[1]))[:TOP]
        ],
        "unbilled_estimates": [
            {"day": d, "service": s, "region": r, "unit": u, "quantity": q, "usd": usd}
            for (d, s, r, u), (q, usd) in sorted(estimated.items())
            if (d, s, r, u) not in billed
        ],
        "apart": dict(sorted(in_window["apart"].items())),
        "within_tolerance": all(u["within_tolerance"] for u in units),
        "tolerance": tolerance,
    }


def _by_unit(billed: dict, estimated: dict, matched: set, tolerance: float) -> list[dict[str, Any]]:
    per: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0.0])
    for key in matched:
        acc = per[(key[1], key[3])]
        acc[0] += billed[key][0]  # billed quantity
        acc[1] += billed[key][1]  # list cost
        acc[2] += billed[key][2]  # effective cost
        acc[3] += estimated[key][0]  # estimated quantity
        acc[4] += estimated[key][1]  # estimated USD
    out = []
    for (service, unit), (qty, list_cost, effective, est_qty, est_usd) in sorted(per.items()):
        error = (est_qty - qty) / qty if qty else None
        list_price = list_cost / qty if qty and list_cost else None
        ours = est_usd / est_qty if est_qty else None
        out.append({
            "service": service, "unit": unit, "billed_quantity": qty, "estimated_quantity": est_qty,
            "quantity_error": error, "bill_list_unit_price": list_price, "estimated_unit_price": ours,
            "price_drift": (ours - list_price) / list_price if ours is not None and list_price else None,
            "effective_unit_price": effective / qty if qty else None, "effective_usd": effective,
            "realised_rate": effective / list_cost if list_cost else None,
            "within_tolerance": error is not None and abs(error) <= tolerance,
        })  # fmt: skip
    return out


def totals(bill: dict[Group, Sums]) -> dict[str, Any]:
    """Bill lines' usage at list and effective cost, and what is kept apart by kind, at its billed amount (what
    the invoice shows: credits and tax are billed amounts)."""
    out: dict[str, Any] = {"usage_list_usd": 0.0, "usage_effective_usd": 0.0, "usage_lines": 0, "apart": {}}
    for (_, _, _, _, kind), (_, list_cost, effective, lines, charged) in bill.items():
        what = category(kind)
        if what == "usage":
            out["usage_list_usd"] += list_cost
            out["usage_effective_usd"] += effective
            out["usage_lines"] += int(lines)
        else:
            out["apart"][what] = out["apart"].get(what, 0.0) + charged
    return out
