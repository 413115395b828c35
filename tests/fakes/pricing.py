"""AWS Price List Query API (``AWSPriceListService``, JSON 1.1) serving real-shaped EC2 products."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

from .server import LoopbackServer, RecordingHandler


def ec2_product(instance_type: str, region: str, usd: float) -> str:
    """One ``PriceList`` element as the real API sends it: a JSON *string*."""
    sku = "FAKESKU" + instance_type.replace(".", "").upper()
    product = {
        "product": {
            "productFamily": "Compute Instance",
            "sku": sku,
            "attributes": {
                "instanceType": instance_type,
                "regionCode": region,
                "operatingSystem": "Linux",
                "tenancy": "Shared",
                "capacitystatus": "Used",
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


@dataclass
class PricingConfig:
    prices: dict[tuple[str, str], float] = field(default_factory=dict)  # (instance type, region) -> USD/h
    error: str | None = None  # e.g. "ThrottlingException", "AccessDeniedException"
    status: int = 400
    malformed: bool = False
    hold: threading.Event | None = None  # when given, every answer waits until it is set


class _Handler(RecordingHandler):
    def do_POST(self) -> None:
        body = self.body()
        self.record(body)
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
        key = (terms.get("instanceType", ""), terms.get("regionCode", ""))
        items = [ec2_product(key[0], key[1], cfg.prices[key])] if key in cfg.prices else []
        if cfg.malformed:
            items = ['{"product": {"sku": "X"}, "terms": {"OnDemand": ']
        self.reply(200, json.dumps({"FormatVersion": "aws_v1", "PriceList": items}), "application/x-amz-json-1.1")

    def _error(self, status: int, code: str, message: str) -> None:
        self.reply(status, json.dumps({"__type": code, "Message": message}), "application/x-amz-json-1.1")


class FakePriceList(LoopbackServer):
    def __init__(self, config: PricingConfig | None = None) -> None:
        super().__init__(_Handler)
        self.config = config or PricingConfig()

    def get_products_calls(self) -> int:
        return sum(1 for r in self.requests if r[0] == "POST")
