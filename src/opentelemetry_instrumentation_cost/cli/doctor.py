"""``otel-cost doctor``: what was detected, which price sources answer, which store; a fix for each problem."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from .._cache import DiskCache
from ..config import Settings
from ..host import SHARE_SOURCES, detect_host, host_share, pricing_region
from ..pricing.book import PriceBook, describe_error
from ..pricing.compute import compute_price
from ..store.model import StoreUnavailable
from ..store.open import open_store
from ..store.urls import redact
from .common import store_url


def run_doctor(args: Any) -> int:
    problems: list[tuple[str, str]] = []
    settings = Settings.from_env()
    cache = DiskCache(settings.resolved_cache_dir(), settings.cache_ttl_s)
    host = detect_host(settings, dict(os.environ), cache)
    region = pricing_region(settings, host.region)
    share, source = host_share(settings, host)
    print(f"platform       {host.platform} ({host.detail or 'detected'})")
    print(f"instance type  {host.instance_type or '-'}   lifecycle {host.lifecycle or '-'}   region {region}")
    print(f"host share     {share:g} of the machine ({SHARE_SOURCES[source]})")
    from .hosts import check_host

    check_host(settings, share, problems)
    from .coverage import check_coverage

    check_coverage(settings, problems)
    if host.platform == "unknown":
        problems.append(
            (
                "the host is unknown, so compute cost is unknown",
                "set OTEL_PYTHON_COST_INSTANCE_TYPE (e.g. m5.large), or run where IMDS or ECS metadata answers",
            )
        )

    book = PriceBook(settings, cache)
    found = compute_price(book, host, region)
    if found is not None:
        p = found.price
        print(f"host price     ${p.usd:.6g}/h from {p.source}" + (f" ({p.as_of})" if p.as_of else ""))
    elif host.platform != "unknown":
        problems.append(
            (
                f"no price for {host.instance_type or host.platform} in {region}",
                'enable the Price List API, or add it to OTEL_PYTHON_COST_PRICE_FILE under "instances"',
            )
        )
    print(f"price file     {settings.price_file or 'none'}")
    print(f"snapshot       published {book.snapshot.published}, regions {', '.join(book.snapshot.regions())}")
    _check_api(settings, host, region, problems)
    _check_cache(settings, problems)
    _check_store(args.store, problems)
    if problems:
        print("\nproblems found:")
        for what, fix in problems:
            print(f"  - {what}\n    fix: {fix}")
        return 1
    print("\nno problems found")
    return 0


def _check_api(settings: Settings, host: Any, region: str, problems: list[tuple[str, str]]) -> None:
    if not settings.pricing_api:
        print("price list API disabled (OTEL_PYTHON_COST_PRICING_API=false)")
        return
    if not host.instance_type or host.platform in ("fargate", "lambda", "unknown"):
        print("price list API not needed for this host")
        return
    from ..pricing.api import fetch_ec2_on_demand

    try:
        usd = fetch_ec2_on_demand(host.instance_type, region, settings.pricing_api_region)
        print(f"price list API answers ({settings.pricing_api_region}): {host.instance_type} ${usd:.6g}/h")
    except Exception as exc:
        problems.append(
            (
                f"the Price List API does not answer ({describe_error(exc)})",
                "grant pricing:GetProducts to this role, check network access to the pricing endpoint, or "
                "set OTEL_PYTHON_COST_PRICING_API=false to use the snapshot and your price file only",
            )
        )


def _check_cache(settings: Settings, problems: list[tuple[str, str]]) -> None:
    directory = settings.resolved_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
        print(f"cache dir      {directory} (writable, TTL {settings.cache_ttl_s:g} s)")
    except OSError as exc:
        problems.append(
            (
                f"the cache dir {directory} is not writable ({exc.__class__.__name__})",
                "set OTEL_PYTHON_COST_CACHE_DIR to a writable directory",
            )
        )


def _check_store(arg: str | None, problems: list[tuple[str, str]]) -> None:
    url = store_url(arg)
    try:
        store = open_store(url)
    except ValueError as exc:
        problems.append((f"bad store URL {redact(url)}: {exc}", "use sqlite:///PATH, postgresql://... or none"))
        return
    if store is None:
        print("store          none (aggregates are not stored)")
        return
    try:
        store.rows(time.time())
        print(f"store          {redact(url)} (reachable)")
    except StoreUnavailable as exc:
        problems.append(
            (f"the store is unreachable: {exc}", "check OTEL_PYTHON_COST_STORE_URL and that the server is up")
        )
    finally:
        store.close()
