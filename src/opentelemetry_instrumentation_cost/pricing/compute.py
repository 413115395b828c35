"""The hourly price of the compute this process runs on, from what host detection found."""

from __future__ import annotations

from typing import NamedTuple

from ..host.info import HostInfo
from .book import PriceBook
from .model import Price, weakest


class ComputePrice(NamedTuple):
    """The whole host's (or task's, or function's) price per hour, and whether idle time is billed."""

    price: Price
    bills_idle: bool = True
    spot: bool = False


def compute_price(book: PriceBook, host: HostInfo, region: str) -> ComputePrice | None:
    """None when the price is unknown: the caller reports that, it never becomes a silent 0."""
    if host.platform == "fargate":
        if host.vcpus is None or host.memory_gb is None:
            return None
        cpu = book.sized("fargate", region, host.architecture, "vcpu_hour")
        mem = book.sized("fargate", region, host.architecture, "gb_hour")
        if cpu is None or mem is None:
            return None
        return ComputePrice(weakest(cpu.scaled(host.vcpus), mem.scaled(host.memory_gb)))
    if host.platform == "lambda":
        gb_s = book.sized("lambda", region, host.architecture, "gb_second")
        if gb_s is None or host.memory_gb is None:
            return None
        return ComputePrice(gb_s.scaled(host.memory_gb * 3600.0), bills_idle=False)
    if host.instance_type:
        found = book.ec2_hourly(host.instance_type, region)
        return None if found is None else ComputePrice(found)
    return None
