"""AWS's public bulk price files on loopback: the offer index, each service's region index, and each region's offer
file in CSV form (a five-line preamble, a header, one row per price dimension), as ``pricing.us-east-1.amazonaws.com``
serves them."""

from __future__ import annotations

import csv
import io
import json

from .server import LoopbackServer, RecordingHandler

HEADER = ["SKU", "OfferTermCode", "RateCode", "TermType", "PriceDescription", "EffectiveDate", "StartingRange",
          "EndingRange", "Unit", "PricePerUnit", "Currency", "Product Family", "serviceCode", "Location",
          "Instance Type", "Tenancy", "Operating System", "License Model", "usageType", "CapacityStatus",
          "MarketOption", "Pre Installed S/W", "Region Code"]  # fmt: skip
VERSION = "20261101000000"


def offer_csv(code: str, published: str, rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    preamble = [
        ["FormatVersion", "v1.0"],
        ["Disclaimer", "This pricing list is for informational purposes only."],
        ["Publication Date", f"{published}T00:00:00Z"],
        ["Version", VERSION],
        ["OfferCode", code],
    ]
    writer.writerows(preamble)
    writer.writerow(HEADER)
    for n, row in enumerate(rows):
        full = {"SKU": f"SKU{n:08d}", "OfferTermCode": "JRTCKXETXF", "RateCode": f"SKU{n:08d}.JRTCKXETXF.6YS6EN2CT7",
                "TermType": "OnDemand", "Currency": "USD", "serviceCode": code, "StartingRange": "0",
                "EndingRange": "Inf", **row}  # fmt: skip
        writer.writerow([full.get(column, "") for column in HEADER])
    return out.getvalue().encode()


class _Handler(RecordingHandler):
    def do_GET(self) -> None:
        self.record()
        found = self.owner.files.get(self.path)
        if found is None or self.path in self.owner.broken:
            self.reply(404 if found is None else 500, "")
        else:
            self.reply(200, found, "text/csv" if self.path.endswith(".csv") else "application/json")


class FakeBulkPrices(LoopbackServer):
    """``offers``: {offer code: {region: (publication date, rows)}}."""

    def __init__(self, offers: dict[str, dict[str, tuple[str, list[dict[str, str]]]]]) -> None:
        super().__init__(_Handler)
        self.broken: set[str] = set()  # paths answered with a 500
        self.files: dict[str, bytes] = {}
        base = "/offers/v1.0/aws"
        index = {"formatVersion": "v1.0", "offers": {}}
        for code, regions in offers.items():
            index["offers"][code] = {"offerCode": code, "currentVersionUrl": f"{base}/{code}/current/index.json",
                                     "currentRegionIndexUrl": f"{base}/{code}/current/region_index.json"}  # fmt: skip
            region_index = {"formatVersion": "v1.0", "regions": {}}
            for region, (published, rows) in regions.items():
                path = f"{base}/{code}/{VERSION}/{region}/index"
                region_index["regions"][region] = {"regionCode": region, "currentVersionUrl": path + ".json"}
                self.files[path + ".csv"] = offer_csv(code, published, rows)
            self.files[f"{base}/{code}/current/region_index.json"] = json.dumps(region_index).encode()
        self.files[f"{base}/index.json"] = json.dumps(index).encode()
