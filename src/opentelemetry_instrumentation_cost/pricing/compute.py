"""The hourly price of the compute this process runs on, from what host detection found."""

from __future__ import annotations

from typing import NamedTuple

from ..host.info import HostInfo
from .book import PriceBook
from .model import Price, weakest

HostUnit = tuple[str, str, float, float]  # AWS service, unit, quantity and USD per hour of the whole host


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


def host_units(book: PriceBook, host: HostInfo | None, found: ComputePrice | None, region: str) -> list[HostUnit]:
    """The host's price per hour in the units its bill uses (``BoxUsage:<type>`` hours, Fargate vCPU- and GB-hours,
    Lambda GB-seconds): (AWS service, unit, quantity per hour, USD per hour). None while the price is unknown."""
    if host is None or found is None:
        return []
    if host.platform == "fargate" and host.vcpus and host.memory_gb:
        arm = "ARM-" if host.architecture == "arm64" else ""
        cpu = book.sized("fargate", region, host.architecture, "vcpu_hour")
        mem = book.sized("fargate", region, host.architecture, "gb_hour")
        if cpu is None or mem is None:
            return []
        return [
            ("fargate", f"{arm}vCPU-Hours", host.vcpus, host.vcpus * cpu.usd),
            ("fargate", f"{arm}GB-Hours", host.memory_gb, host.memory_gb * mem.usd),
        ]
    if host.platform == "lambda" and host.memory_gb:
        unit = "GB-Seconds-ARM" if host.architecture == "arm64" else "GB-Seconds"
        return [("lambda", unit, host.memory_gb * 3600.0, found.price.usd)]
    if host.instance_type:
        return [("ec2", f"{'SpotUsage' if found.spot else 'BoxUsage'}:{host.instance_type}", 1.0, found.price.usd)]
    return []
