"""A price and where it came from."""

from __future__ import annotations

from typing import NamedTuple


class Price(NamedTuple):
    """USD per unit (discount applied where it applies), its source and the date it stands for."""

    usd: float
    source: str
    as_of: str | None = None
    unverified: bool = False

    def scaled(self, factor: float) -> Price:
        return Price(self.usd * factor, self.source, self.as_of, self.unverified)


SOURCE_RANK = {"override": 0, "calibrated": 0, "api": 1, "cache": 2, "snapshot": 3}


def weakest(*prices: Price) -> Price:
    """Combine the prices of a composite (Fargate: vCPU + memory): summed, labelled by the least direct source."""
    worst = max(prices, key=lambda p: SOURCE_RANK.get(p.source, 9))
    return Price(sum(p.usd for p in prices), worst.source, worst.as_of, any(p.unverified for p in prices))
