"""Price resolution: override → disk cache (TTL) → Price List API (background only) → bundled snapshot.

Lookups never touch the network; ``fetch_*`` methods do, and are only called from the background thread.
The discount applies to list prices (api, cache, snapshot), never to the user's own override prices.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from .._cache import DiskCache
from .._log import warn_once
from ..config import Settings
from .model import Price
from .overrides import Overrides
from .snapshot import Snapshot

_CACHE = "prices"
_UNRESOLVED = object()
_SPOT_MAX_AGE_S = 3600.0


class PriceBook:
    def __init__(
        self,
        settings: Settings,
        cache: DiskCache,
        snapshot: Snapshot | None = None,
        overrides: Overrides | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self._snapshot = snapshot
        self.overrides = overrides or Overrides.load(settings.price_file)
        self._keep = 1.0 - settings.discount
        self._units: dict[tuple[str, str], Price | None] = {}  # unit prices are looked up on every AWS call

    @property
    def snapshot(self) -> Snapshot:
        """The bundled snapshot, read at its first use: a host whose price is cached or overridden never reads it."""
        if self._snapshot is None:
            self._snapshot = Snapshot.bundled()
        return self._snapshot

    # lookups (no network) -------------------------------------------------------------------------------------
    def ec2_hourly(self, instance_type: str, region: str) -> Price | None:
        return self._resolve(
            self.overrides.get("instances", instance_type),
            f"ec2/{region}/{instance_type}",
            lambda: self.snapshot.ec2_hourly(instance_type, region),
        )

    def spot_hourly(self, instance_type: str, region: str, az: str | None) -> Price | None:
        cached = self.cache.get(_CACHE, _spot_key(instance_type, region, az), _SPOT_MAX_AGE_S)
        return self._from_cache(cached)

    def sized(self, kind: str, region: str, arch: str, dimension: str) -> Price | None:
        """Fargate and Lambda size-based prices (override section ``fargate``/``lambda``)."""
        return self._resolve(
            self.overrides.get(kind, dimension),
            f"{kind}/{region}/{arch}/{dimension}",
            lambda: self.snapshot.sized(kind, region, arch, dimension),
        )

    def unit(self, key: str, region: str) -> Price | None:
        """A managed service's price per unit, e.g. ``dynamodb/WriteRequestUnits`` (memoized per process)."""
        memo = (key, region)
        price = self._units.get(memo, _UNRESOLVED)
        if price is _UNRESOLVED:
            if len(self._units) > 10_000:  # keys come from model ids and regions: bound them anyway
                self._units.clear()
            price = self._units[memo] = self._resolve(
                self.overrides.get("units", key), f"unit/{region}/{key}", lambda: self.snapshot.unit(key, region)
            )
        return price  # type: ignore[return-value]  # not the sentinel here

    def _resolve(self, override: Price | None, cache_key: str, snapshot: Callable[[], Price | None]) -> Price | None:
        if override is not None:
            return override
        cached = self._from_cache(self.cache.get(_CACHE, cache_key))
        if cached is not None:
            return cached
        found = snapshot()
        return None if found is None else found.scaled(self._keep)

    def _from_cache(self, entry: object) -> Price | None:
        if not isinstance(entry, dict) or not isinstance(entry.get("usd"), (int, float)):
            return None
        return Price(float(entry["usd"]) * self._keep, "cache", str(entry.get("as_of")))

    # fetches (network; background thread only) ---------------------------------------------------------------
    def fetch_ec2_hourly(self, instance_type: str, region: str) -> Price | None:
        from . import api  # boto3 and the API code load only when a price must be fetched

        return self._fetch(
            f"ec2/{region}/{instance_type}",
            lambda: api.fetch_ec2_on_demand(instance_type, region, self.settings.pricing_api_region),
            f"{instance_type} in {region}",
        )

    def fetch_spot_hourly(self, instance_type: str, region: str, az: str | None) -> Price | None:
        from . import api

        return self._fetch(
            _spot_key(instance_type, region, az),
            lambda: api.fetch_spot(instance_type, region, az),
            f"spot {instance_type} in {az or region}",
        )

    def _fetch(self, cache_key: str, call: Callable[[], float], what: str) -> Price | None:
        try:
            usd = call()
        except Exception as exc:  # throttling, access denied, no credentials, no network, malformed data
            warn_once(
                f"api-{cache_key}",
                "cost: price of %s unavailable from AWS (%s); keeping %s",
                what,
                describe_error(exc),
                "the fallback price",
            )
            return None
        as_of = date.today().isoformat()
        self.cache.put(_CACHE, cache_key, {"usd": usd, "as_of": as_of})
        return Price(usd * self._keep, "api", as_of)


def _spot_key(instance_type: str, region: str, az: str | None) -> str:
    return f"ec2-spot/{region}/{az or '-'}/{instance_type}"


def describe_error(exc: BaseException) -> str:
    """A short, credential-free description: the AWS error code where there is one."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return exc.__class__.__name__
