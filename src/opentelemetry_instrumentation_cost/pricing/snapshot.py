"""The bundled, dated price snapshot: the last resort, exact where it has a price and honest about what it lacks.

``snapshot/index.json`` holds the sources (each with its date), Fargate, Lambda and the per-unit service prices;
``snapshot/ec2/<region>.json`` one exact price per instance type, grouped by source (no size factors). Each file
is read at its first use, and only the host's region's EC2 file is ever read by a running process. Built by
``scripts/snapshot_from_reference.py`` (the public data) or ``scripts/build_snapshot.py`` (AWS's bulk files).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from .model import Price

SOURCE = "snapshot"


class Snapshot:
    """Lookups into the snapshot; a region, type or unit it lacks gives None, never another region's price."""

    def __init__(self, index: dict[str, Any]) -> None:
        self.data = index
        self.published: str = str(index.get("published", "unknown"))
        self._ec2: dict[str, dict[str, Any]] = {}  # region → its file, once read

    @staticmethod
    @cache
    def bundled() -> Snapshot:
        return Snapshot(json.loads(_files().joinpath("index.json").read_text()))

    def source(self, name: str) -> dict[str, str]:
        return dict(self.data.get("sources", {}).get(name, {}))

    def _price(self, usd: float, source: str, unverified: bool = False) -> Price:
        return Price(float(usd), SOURCE, self.source(source).get("as_of", "undated"), unverified)

    def _region_ec2(self, region: str) -> dict[str, Any]:
        table = self._ec2.get(region)
        if table is None:
            table = {}
            if region in self.data.get("ec2_regions", {}):
                table = json.loads(_files().joinpath("ec2", f"{region}.json").read_text())
            self._ec2[region] = table
        return table

    def ec2_hourly(self, instance_type: str, region: str) -> Price | None:
        table = self._region_ec2(region)
        for source, prices in table.get("by_source", {}).items():
            usd = prices.get(instance_type)
            if usd is not None:
                return self._price(usd, source, instance_type in table.get("unverified", ()))
        return None

    def sized(self, kind: str, region: str, arch: str, dimension: str) -> Price | None:
        """Fargate (``vcpu_hour``, ``gb_hour``) and Lambda (``gb_second``, ``request``) prices."""
        table = self.data.get(kind, {}).get(region, {})
        usd = table.get(arch, {}).get(dimension)
        return None if usd is None else self._price(usd, table.get("source", ""))

    def unit(self, key: str, region: str) -> Price | None:
        entry = self.data.get("units", {}).get(region, {}).get(key)
        if entry is None:
            return None
        usd, source = entry
        return self._price(usd, source, key in self.data.get("unverified_units", ()))

    def unit_keys(self, region: str) -> list[str]:
        return sorted(self.data.get("units", {}).get(region, {}))

    def regions(self) -> list[str]:
        return sorted(self.data.get("ec2_regions", {}))


def _files() -> Any:
    return resources.files(__package__).joinpath("snapshot")
