"""Pricing one call's metered usage with the price book: the same sources, overrides, discount and dates."""

from __future__ import annotations

from dataclasses import dataclass

from .._log import warn_once
from ..aws.types import Metering
from .book import PriceBook
from .model import SOURCE_RANK, Price

UNKNOWN = "unknown"


@dataclass(slots=True)
class Charge:
    """A call's cost: ``usd`` is None when no part of it could be priced (never a silent 0)."""

    usd: float | None
    source: str
    units: tuple[str, ...]
    quantities: tuple[float, ...]
    estimated: bool = False
    partial: bool = False


def price_metering(book: PriceBook, service: str, region: str, metering: Metering) -> Charge:
    usages = metering.usages
    if len(usages) == 1:  # the common case, on every AWS call: no intermediate lists
        u = usages[0]
        price = book.unit(u.price_key or f"{service}/{u.unit}", region)
        if price is not None:
            return Charge(
                price.usd * u.quantity, price.source, (u.unit,), (u.quantity,), metering.estimated, metering.partial
            )
    total = 0.0
    priced: list[Price] = []
    missing: list[str] = []
    for usage in metering.usages:
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
    source = max(priced, key=lambda p: SOURCE_RANK.get(p.source, 9)).source if priced else UNKNOWN
    usd = None if missing and not priced else total
    return Charge(
        usd=usd,
        source=source if not (missing and not priced) else UNKNOWN,
        units=tuple(u.unit for u in metering.usages),
        quantities=tuple(u.quantity for u in metering.usages),
        estimated=metering.estimated,
        partial=metering.partial or bool(missing and priced),
    )
