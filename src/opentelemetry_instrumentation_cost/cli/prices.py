"""``otel-cost prices``: the prices in force for a region, each with its source and date. No network."""

from __future__ import annotations

import os
from typing import Any

from .._cache import DiskCache
from ..config import Settings
from ..host import HostInfo, pricing_region
from ..pricing.book import PriceBook
from ..pricing.compute import compute_price
from ..pricing.model import Price


def _describe(price: Price | None) -> str:
    if price is None:
        return "unknown (no override, cache or snapshot price)"
    date = f" as of {price.as_of}" if price.as_of and price.as_of != "undated" else " (undated source)"
    mark = " [unverified]" if price.unverified else ""
    return f"${price.usd:.10g}  {price.source}{date}{mark}"


def run_prices(args: Any) -> int:
    settings = Settings.from_env()
    if args.coverage:
        return _coverage(PriceBook(settings, DiskCache(settings.resolved_cache_dir(), settings.cache_ttl_s)))
    region = args.region or pricing_region(settings, None)
    book = PriceBook(settings, DiskCache(settings.resolved_cache_dir(), settings.cache_ttl_s))
    instance_type = args.instance_type or settings.instance_type
    print(
        f"prices in force for {region} (snapshot published {book.snapshot.published}"
        f"{', discount ' + str(settings.discount) if settings.discount else ''})"
    )
    if instance_type:
        host = HostInfo("override", instance_type, "on-demand", region)
        found = compute_price(book, host, region)
        print(f"  {instance_type:<44} per hour  {_describe(found.price if found else None)}")
    for kind, dims in (("fargate", ("vcpu_hour", "gb_hour")), ("lambda", ("gb_second", "request"))):
        for arch in ("x86_64", "arm64"):
            for dim in dims:
                print(
                    f"  {kind + ' ' + arch + ' ' + dim:<44}           {_describe(book.sized(kind, region, arch, dim))}"
                )
    units = book.snapshot.unit_keys(region)
    for key in units:
        print(f"  {key:<44} per unit  {_describe(book.unit(key, region))}")
    if not units:
        print(
            f'  (the snapshot has no service prices for {region}; add them under "units" in '
            "OTEL_PYTHON_COST_PRICE_FILE)"
        )
    if os.environ.get("OTEL_PYTHON_COST_PRICING_API", "true").lower() != "false":
        print("at run time the Price List API refreshes EC2 prices in the background (source 'api', then 'cache')")
    return 0


def _coverage(book: PriceBook) -> int:
    """What the bundled snapshot prices offline, per region: a user without Price List API access gets this."""
    snap = book.snapshot
    print(f"snapshot published {snap.published}; sources:")
    for name, source in sorted(snap.data.get("sources", {}).items()):
        print(f"  {name:<10} as of {source.get('as_of', 'undated'):<11} {source.get('what', '')}")
    ec2 = snap.data.get("ec2_regions", {})
    units = snap.data.get("units", {})
    regions = sorted(set(ec2) | set(units) | set(snap.data.get("fargate", {})) | set(snap.data.get("lambda", {})))
    print(f"{'region':<16}{'EC2 types':>10}  {'EC2 from':<20}services priced offline")
    for region in regions:
        services: dict[str, set[str]] = {}
        for key in units.get(region, {}):  # service/unit, or bedrock/<profile.>model/kind
            services.setdefault(key.split("/", 1)[0], set()).add(key.rsplit("/", 1)[0])
        named = [f"{s} ({len(m)} models)" if s == "bedrock" else s for s, m in sorted(services.items())]
        named = [k for k in ("fargate", "lambda") if region in snap.data.get(k, {})] + named
        found = ec2.get(region, {})
        print(f"{region:<16}{found.get('types', 0):>10}  {','.join(found.get('sources', [])) or '-':<20}"
              f"{', '.join(named) or '-'}")  # fmt: skip
    print(
        "a region or type not listed is unknown offline: set OTEL_PYTHON_COST_PRICE_FILE, or allow pricing:GetProducts"
    )
    return 0
