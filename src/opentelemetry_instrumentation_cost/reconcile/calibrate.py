"""``--calibrate``: what the bill says the company pays per unit and per instance-hour, as a price file.

The effective cost of the bill's usage lines ÷ their quantity, per meter unit (all regions and days of the bill
together: the price file has one price per unit) and per instance type; loaded through
``OTEL_PYTHON_COST_PRICE_FILE``, every price it holds is reported with ``cost.pricing.source=calibrated`` and the
bill's period as its date.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .bills import Group, Sums
from .layouts import category, meter_unit, service_of

_SIZED = {("fargate", "vCPU-Hours"): ("fargate", "vcpu_hour"), ("fargate", "GB-Hours"): ("fargate", "gb_hour"),
          ("lambda", "GB-Seconds"): ("lambda", "gb_second")}  # fmt: skip


def calibrated_prices(bill: dict[Group, Sums], source: str) -> dict[str, Any]:
    totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    days = sorted({g[0] for g in bill})
    for (_, service, usage, _, kind), (quantity, _, effective, *_) in bill.items():
        mapped = meter_unit(service_of(service), usage) if category(kind) == "usage" else None
        if mapped is not None and quantity > 0:
            totals[mapped][0] += quantity
            totals[mapped][1] += effective
    out: dict[str, Any] = {
        "calibrated": {"period": f"{days[0]}/{days[-1]}" if days else "", "bill": source},
        "units": {},
        "instances": {},
    }
    for (service, unit), (quantity, effective) in sorted(totals.items()):
        price = effective / quantity
        if service == "ec2":
            out["instances"][unit.split(":", 1)[1]] = price
            continue
        out["units"][f"{service}/{unit}"] = price
        if (service, unit) in _SIZED:
            section, dimension = _SIZED[(service, unit)]
            out.setdefault(section, {})[dimension] = price
    return out
