"""Price resolution: override → disk cache (TTL) → Price List API (background only) → bundled snapshot.

Lookups never touch the network; ``fetch_*`` methods do, and are only called from the background thread.
The discount applies to list prices (api, cache, snapshot), never to the user's own override prices.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from .._cache import DiskCache
from .._log import warn_once
from ..config import Settings
from .model import Price
from .overrides import Overrides
from .services import SERVICE_CODES, SIZED_UNITS
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
        # a service's unit prices per region as the API gave them to this process: (as_of, {key: usd}), or None
        # once asked and failed (not asked again by this process)
        self._fetched: dict[tuple[str, str], tuple[str, dict[str, float]] | None] = {}
        self._fetch_lock = threading.Lock()
        self.wants: Callable[[str, str], None] | None = None  # asks the background fetcher for (service, region)

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
        """Fargate and Lambda size-based prices (override section ``fargate``/``lambda``, then the API's units)."""
        override = self.overrides.get(kind, dimension)
        unit = SIZED_UNITS.get((kind, arch, dimension))
        if override is None and unit is not None:
            override = self._from_api(unit, region)
        return self._resolve(
            override, f"{kind}/{region}/{arch}/{dimension}", lambda: self.snapshot.sized(kind, region, arch, dimension)
        )

    def unit(self, key: str, region: str) -> Price | None:
        """A managed service's price per unit, e.g. ``dynamodb/WriteRequestUnits`` (memoized per process)."""
        memo = (key, region)
        price = self._units.get(memo, _UNRESOLVED)
        if price is _UNRESOLVED:
            if len(self._units) > 10_000:  # keys come from model ids and regions: bound them anyway
                self._units.clear()
            override = self.overrides.get("units", key)
            price = self._units[memo] = self._resolve(
                override if override is not None else self._from_api(key, region),
                f"unit/{region}/{key}",
                lambda: self.snapshot.unit(key, region),
            )
        return price  # type: ignore[return-value]  # not the sentinel here

    def _from_api(self, key: str, region: str) -> Price | None:
        """The API's price of ``key`` (``service/unit``): as this process fetched it (``api``), else from the disk
        cache (``cache``), else None; a service never asked in this region is asked for, in the background."""
        service = key.split("/", 1)[0]
        if service not in SERVICE_CODES:
            return None
        if (service, region) not in self._fetched:
            cached = self.cache.get(_CACHE, f"units/{region}/{service}")
            if isinstance(cached, dict) and isinstance(cached.get("units"), dict):
                usd = cached["units"].get(key)
                return None if usd is None else Price(float(usd) * self._keep, "cache", str(cached.get("as_of")))
            if self.settings.pricing_api and self.wants is not None:
                self.wants(service, region)
            return None
        fetched = self._fetched[(service, region)]
        if fetched is None:
            return None
        as_of, units = fetched
        usd = units.get(key)
        return None if usd is None else Price(usd * self._keep, "api", as_of)

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

    def fetched(self) -> list[tuple[str, str]]:
        """The (service, region) pairs this process has asked the API for."""
        return list(self._fetched)

    def fetch_units(self, service: str, region: str) -> None:
        """A service's unit prices in ``region`` from the API, kept in memory and in the disk cache (per region and
        service, with the TTL: a restart within it asks nothing); lookups use them from then on."""
        from . import api

        with self._fetch_lock:  # the init thread (a Fargate or Lambda host) and the fetcher may both ask
            if (service, region) not in self._fetched:
                self._fetch_units(api, service, region)

    def _fetch_units(self, api: Any, service: str, region: str) -> None:
        try:
            units = api.fetch_service_units(service, region, self.settings.pricing_api_region)
        except Exception as exc:
            warn_once(
                f"api-units-{service}-{region}",
                "cost: %s prices in %s unavailable from AWS (%s); keeping the fallback prices",
                service,
                region,
                describe_error(exc),
            )
            self._fetched[(service, region)] = None
            return
        as_of = date.today().isoformat()
        self.cache.put(_CACHE, f"units/{region}/{service}", {"units": units, "as_of": as_of})
        self._fetched[(service, region)] = (as_of, units)
        self._units.clear()  # looked up again, now with the API's prices

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
