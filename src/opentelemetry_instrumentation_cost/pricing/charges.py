"""Pricing one call's metered usage with the price book: the same sources, overrides, discount and dates."""

from __future__ import annotations

from .._log import warn_once
from ..aws.types import Metering
from .book import PriceBook
from .model import SOURCE_RANK, Price

UNKNOWN = "unknown"


def price_metering(book: PriceBook, service: str, region: str, metering: Metering) -> tuple[float | None, str, bool]:
    """A call's cost as ``(usd, source, partial)``: ``usd`` is None when no part of it could be priced (never a
    silent 0); ``partial`` when part of it had no price, or the meter said so. A plain tuple: this runs on every
    AWS call, and the units and quantities are the metering's own."""
    usages = metering.usages
    if len(usages) == 1:  # the common case, on every AWS call: no intermediate lists
        u = usages[0]
        price = book.unit(u.price_key or f"{service}/{u.unit}", region)
        if price is not None:
            return price.usd * u.quantity, price.source, metering.partial
    total = 0.0
    priced: list[Price] = []
    missing: list[str] = []
    for usage in usages:
        key = usage.price_key or f"{service}/{usage.unit}"
        price = book.unit(key, region)
        if price is None:
            if usage.quantity:
                missing.append(key)
            continue
        total += price.usd * usage.quantity
        priced.append(price)
    if missing:
        warn_once(
            f"unit-{missing[0]}-{region}",
            "cost: no price for %s in %s; the call carries cost.pricing.source=unknown%s. "
            'Add it to OTEL_PYTHON_COST_PRICE_FILE under "units"',
            ", ".join(missing),
            region,
            "" if not priced else " for that part (cost.partial=true)",
        )
    if not priced:
        return (None, UNKNOWN, metering.partial) if missing else (total, UNKNOWN, metering.partial)
    source = max(priced, key=lambda p: SOURCE_RANK.get(p.source, 9)).source
    return total, source, metering.partial or bool(missing)
