"""The bundled, dated price snapshot: the last resort, and honest about what it lacks."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from .model import Price

SOURCE = "snapshot"


class Snapshot:
    """Lookups into ``snapshot.json``; a region or type it lacks gives None, never another region's price."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.published: str = str(data.get("published", "unknown"))

    @staticmethod
    @cache
    def bundled() -> Snapshot:
        text = resources.files(__package__).joinpath("snapshot.json").read_text()
        return Snapshot(json.loads(text))

    def _price(self, usd: float, unverified: bool = False) -> Price:
        return Price(float(usd), SOURCE, self.published, unverified)

    def ec2_hourly(self, instance_type: str, region: str) -> Price | None:
        table = self.data.get("ec2", {}).get(region)
        if not table:
            return None
        unverified = set(table.get("unverified", ()))
        explicit = table.get("instances", {}).get(instance_type)
        if explicit is not None:
            return self._price(explicit, instance_type in unverified)
        family, _, size = instance_type.partition(".")
        base = table.get("large", {}).get(family)
        factor = self.data.get("size_factors", {}).get(size)
        if base is None or factor is None:
            return None
        return self._price(base * factor, family in unverified)

    def sized(self, kind: str, region: str, arch: str, dimension: str) -> Price | None:
        """Fargate (``vcpu_hour``, ``gb_hour``) and Lambda (``gb_second``, ``request``) prices."""
        usd = self.data.get(kind, {}).get(region, {}).get(arch, {}).get(dimension)
        return None if usd is None else self._price(usd)

    def unit(self, key: str, region: str) -> Price | None:
        units = self.data.get("units", {})
        usd = units.get(region, {}).get(key)
        return None if usd is None else self._price(usd, key in units.get("unverified", ()))

    def regions(self) -> list[str]:
        return sorted(self.data.get("ec2", {}))
