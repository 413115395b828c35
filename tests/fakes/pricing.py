"""AWS Price List Query API (``AWSPriceListService``, JSON 1.1) serving real-shaped EC2 products."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from .server import LoopbackServer, RecordingHandler


def ec2_product(instance_type: str, region: str, usd: float) -> str:
    """One ``PriceList`` element as the real API sends it: a JSON *string*. Bare-metal types are filed as the real
    Price List files them: ``productFamily = "Compute Instance (bare metal)"``, ``tenancy = "Dedicated"``."""
    sku = "FAKESKU" + instance_type.replace(".", "").upper()
    metal = ".metal" in instance_type
    product = {
        "product": {
            "productFamily": "Compute Instance (bare metal)" if metal else "Compute Instance",
            "sku": sku,
            "attributes": {
                "instanceType": instance_type,
                "regionCode": region,
                "operatingSystem": "Linux",
                "tenancy": "Dedicated" if metal else "Shared",
                "capacitystatus": "Used",
                "marketoption": "OnDemand",
                "preInstalledSw": "NA",
                "licenseModel": "No License required",
                "vcpu": "4",
                "memory": "8 GiB",
            },
        },
        "serviceCode": "AmazonEC2",
        "terms": {
            "OnDemand": {
                f"{sku}.JRTCKXETXF": {
                    "offerTermCode": "JRTCKXETXF",
                    "sku": sku,
                    "priceDimensions": {
                        f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                            "unit": "Hrs",
                            "endRange": "Inf",
                            "beginRange": "0",
                            "pricePerUnit": {"USD": f"{usd:.10f}"},
                            "description": f"${usd} per On Demand Linux {instance_type} Instance Hour",
                        }
                    },
                    "effectiveDate": "2026-11-01T00:00:00Z",
                }
            },
            "Reserved": {},
        },
        "version": "20261101000000",
        "publicationDate": "2026-11-01T00:00:00Z",
    }
    return json.dumps(product)


def service_product(service_code: str, region: str, usage_type: str, tiers: list[tuple[float, float]],
                    family: str = "API Request", **attributes: str) -> dict:  # fmt: skip
    """A non-EC2 product as the Price List holds it: ``usagetype`` with the region's prefix, one on-demand term
    whose price dimensions are the tiers ``(beginRange, USD)``."""
    sku = f"SKU{abs(hash((service_code, region, usage_type))) % 10**12:012d}"
    dims = {}
    for n, (begin, usd) in enumerate(tiers):
        end = str(tiers[n + 1][0]) if n + 1 < len(tiers) else "Inf"
        dims[f"{sku}.JRTCKXETXF.{n}"] = {
            "unit": "Requests", "beginRange": str(begin), "endRange": end, "pricePerUnit": {"USD": f"{usd:.10f}"},
            "description": f"${usd} per request {usage_type}",
        }  # fmt: skip
    return {
        "product": {
            "productFamily": family,
            "sku": sku,
            "attributes": {"servicecode": service_code, "regionCode": region, "usagetype": usage_type, **attributes},
        },
        "serviceCode": service_code,
        "terms": {
            "OnDemand": {
                f"{sku}.JRTCKXETXF": {
                    "offerTermCode": "JRTCKXETXF",
                    "sku": sku,
                    "priceDimensions": dims,
                    "effectiveDate": "2026-11-01T00:00:00Z",
                }
            }
        },
        "version": "20261101000000",
        "publicationDate": "2026-11-01T00:00:00Z",
    }


@dataclass
class PricingConfig:
    prices: dict[tuple[str, str], float] = field(default_factory=dict)  # (instance type, region) -> USD/h
    error: str | None = None  # e.g. "ThrottlingException", "AccessDeniedException"
    status: int = 400
    malformed: bool = False
    hold: threading.Event | None = None  # when given, every answer waits until it is set
    products: dict[str, list[dict]] = field(default_factory=dict)  # service code -> products (not EC2's)


class _Handler(RecordingHandler):
    def do_POST(self) -> None:
        body = self.body()
        self.record(body)
        self.owner.times.append(time.monotonic())
        cfg: PricingConfig = self.owner.config
        if cfg.hold is not None:
            cfg.hold.wait(30)
        if self.headers.get("X-Amz-Target") != "AWSPriceListService.GetProducts":
            self._error(400, "UnknownOperationException", "unknown operation")
            return
        if cfg.error:
            self._error(cfg.status, cfg.error, "fake failure")
            return
        req = json.loads(body)
        terms = {f["Field"]: f["Value"] for f in req.get("Filters", [])}
        if req.get("ServiceCode") != "AmazonEC2":
            self._page(
                req, [p for p in cfg.products.get(req.get("ServiceCode", ""), []) if _matches(p["product"], terms)]
            )
            return
        key = (terms.get("instanceType", ""), terms.get("regionCode", ""))
        items = [ec2_product(key[0], key[1], cfg.prices[key])] if key in cfg.prices else []
        items = [i for i in items if _matches(json.loads(i)["product"], terms)]  # every TERM_MATCH, as the API
        if cfg.malformed:
            items = ['{"product": {"sku": "X"}, "terms": {"OnDemand": ']
        self.reply(200, json.dumps({"FormatVersion": "aws_v1", "PriceList": items}), "application/x-amz-json-1.1")

    def _page(self, req: dict, products: list[dict]) -> None:
        """``MaxResults`` products from the offset ``NextToken`` holds (the API's tokens are opaque: so is this)."""
        size = int(req.get("MaxResults", 100))
        start = int(req.get("NextToken", "0").removeprefix("tok-") or 0)
        answer: dict = {"FormatVersion": "aws_v1", "PriceList": [json.dumps(p) for p in products[start : start + size]]}
        if start + size < len(products):
            answer["NextToken"] = f"tok-{start + size}"
        self.reply(200, json.dumps(answer), "application/x-amz-json-1.1")

    def _error(self, status: int, code: str, message: str) -> None:
        self.reply(status, json.dumps({"__type": code, "Message": message}), "application/x-amz-json-1.1")


def _matches(product: dict, terms: dict[str, str]) -> bool:
    attributes = {**product["attributes"], "productFamily": product["productFamily"]}
    return all(attributes.get(field) == value for field, value in terms.items())


class FakePriceList(LoopbackServer):
    def __init__(self, config: PricingConfig | None = None) -> None:
        super().__init__(_Handler)
        self.config = config or PricingConfig()
        self.times: list[float] = []  # when each request arrived (monotonic)

    def get_products_calls(self) -> int:
        return sum(1 for r in self.requests if r[0] == "POST")

    def quota_kept(self, rate: float = 5.0, burst: int = 10) -> bool:
        """The API's quota (a bucket of ``burst`` refilled at ``rate`` a second): no run of requests came faster
        than it allows (a 20 ms allowance for the server's own clock)."""
        t = sorted(self.times)
        return all(j - i + 1 <= burst + rate * (t[j] - t[i] + 0.02) for i in range(len(t)) for j in range(i, len(t)))
