"""AWS Price List Query API and EC2 spot price history, through boto3 (imported only when called).

The endpoint comes from boto3's own configuration (``AWS_ENDPOINT_URL_PRICING``, ``AWS_ENDPOINT_URL_EC2``,
profiles, credentials); the pricing client is pinned to one of the three regions that serve the API.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ..aws.own import own_calls

_MAX_PAGES = 10
_SERVICE_PAGES = 50  # a service's products in one region: S3 has a few hundred


class _Quota:
    """The Price List API's quota, kept by this process: a bucket of 10 requests refilled at 5 a second (per account
    and region: processes of one account share it, and botocore's standard retries absorb the rest)."""

    def __init__(self, rate: float = 5.0, burst: float = 10.0) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._at = burst, time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> None:
        """Wait (on the background thread) until a request is allowed."""
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
                self._at = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                wait = (1.0 - self._tokens) / self.rate
            time.sleep(wait)


QUOTA = _Quota()


class PriceListError(Exception):
    """The API answered, but not with exactly one usable price."""


def _client(service: str, region: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3})
    return boto3.session.Session().client(service, region_name=region, config=config)


def ec2_filters(instance_type: str, region: str) -> list[dict[str, str]]:
    """The filter set that yields one Linux on-demand SKU per instance type and region. Bare-metal types are filed
    under their own product family with ``tenancy = Dedicated`` (a ``Shared`` query finds none of them)."""
    metal = ".metal" in instance_type
    terms = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Dedicated" if metal else "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
        "licenseModel": "No License required",
        "marketoption": "OnDemand",
    }
    if metal:
        terms["productFamily"] = "Compute Instance (bare metal)"
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in terms.items()]


def hourly_prices(item: str | dict[str, Any]) -> Iterator[float]:
    """Non-zero hourly USD prices in one ``PriceList`` element (a JSON string in the real API)."""
    product = json.loads(item) if isinstance(item, str) else item
    for term in product["terms"]["OnDemand"].values():
        for dim in term["priceDimensions"].values():
            if dim.get("unit") == "Hrs":
                usd = float(dim["pricePerUnit"]["USD"])
                if usd > 0:
                    yield usd


def fetch_ec2_on_demand(instance_type: str, region: str, api_region: str) -> float:
    """The list price per hour of a Linux on-demand instance; raises on any failure."""
    with own_calls():
        return _ec2_on_demand(_client("pricing", api_region), instance_type, region)


def _ec2_on_demand(client: Any, instance_type: str, region: str) -> float:
    prices: set[float] = set()
    kwargs: dict[str, Any] = {
        "ServiceCode": "AmazonEC2",
        "Filters": ec2_filters(instance_type, region),
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    for _ in range(_MAX_PAGES):
        QUOTA.take()
        resp = client.get_products(**kwargs)
        for item in resp.get("PriceList", []):
            prices.update(hourly_prices(item))
        token = resp.get("NextToken")
        if not token:
            break
        kwargs["NextToken"] = token
    if len(prices) != 1:
        raise PriceListError(f"expected one hourly price for {instance_type} in {region}, got {sorted(prices)}")
    return prices.pop()


def fetch_service_units(service: str, region: str, api_region: str) -> dict[str, float]:
    """Every unit price of ``service`` (a key of ``services.SERVICE_CODES``) in ``region``, paged, within the quota;
    raises on any failure. Units the answer does not price are absent: unknown, never another region's."""
    from .services import SERVICE_CODES, unit_prices

    items: list[Any] = []
    kwargs: dict[str, Any] = {
        "ServiceCode": SERVICE_CODES[service],
        "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}],
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    with own_calls():
        client = _client("pricing", api_region)
        for _ in range(_SERVICE_PAGES):
            QUOTA.take()
            resp = client.get_products(**kwargs)
            items.extend(resp.get("PriceList", []))
            token = resp.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    return unit_prices(service, region, items)


def fetch_spot(instance_type: str, region: str, availability_zone: str | None) -> float:
    """The current Linux spot price in the instance's AZ (else the lowest in the region)."""
    now = datetime.now(UTC)
    with own_calls():
        resp = _client("ec2", region).describe_spot_price_history(
            InstanceTypes=[instance_type], ProductDescriptions=["Linux/UNIX"], StartTime=now, EndTime=now
        )
    rows = [r for r in resp.get("SpotPriceHistory", []) if r.get("SpotPrice")]
    in_az = [r for r in rows if r.get("AvailabilityZone") == availability_zone]
    chosen = in_az or rows
    if not chosen:
        raise PriceListError(f"no spot price for {instance_type} in {region}")
    return min(float(r["SpotPrice"]) for r in chosen)
