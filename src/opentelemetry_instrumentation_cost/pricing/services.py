"""Which Price List products give the package's unit prices: per service, its service code and the usage types
(region prefix removed) that price each unit the meters count.

Usage types carry a region prefix outside us-east-1 (``EUW1-``, ``EU-``, ``APS2-``, KMS's ``ca-central-1-``;
us-east-1's are mostly bare or ``USE1-``): a product matches when its usage type, whole or without its first prefix,
is listed here. The names are the ones AWS's bills carry (the legacy CUR sample in ``shared/reference/billing``:
``USW2-Requests-Tier1`` for SQS standard requests, ``CAN1-AWSSecretsManagerAPIRequest``, ...): a bill line and a
Price List product of one usage type price the same thing. A tiered price
(SQS, Lambda, S3 requests in some regions) is taken at its first paid tier, as the snapshot's figures are.
"""

from __future__ import annotations

import json
import re
from typing import Any

SERVICE_CODES = {
    "dynamodb": "AmazonDynamoDB",
    "s3": "AmazonS3",
    "sqs": "AWSQueueService",
    "sns": "AmazonSNS",
    "events": "AWSEvents",
    "kms": "awskms",
    "secretsmanager": "AWSSecretsManager",
    "monitoring": "AmazonCloudWatch",
    "stepfunctions": "AmazonStates",
    "athena": "AmazonAthena",
    "lambda": "AWSLambda",
    "fargate": "AmazonECS",
}
USAGE_TYPES: dict[str, dict[str, str]] = {  # service → usage type → unit (the price key is "<service>/<unit>")
    "dynamodb": {
        "WriteRequestUnits": "WriteRequestUnits",
        "ReadRequestUnits": "ReadRequestUnits",
        "IA-WriteRequestUnits": "IA-WriteRequestUnits",
        "IA-ReadRequestUnits": "IA-ReadRequestUnits",
    },
    "s3": {
        f"Requests-{cls}Tier{n}": f"Requests-{cls}Tier{n}"
        for cls in ("", "SIA-", "ZIA-", "GIR-", "INT-")
        for n in (1, 2)
    },
    "sqs": {"Requests-Tier1": "Requests", "Requests-FIFO-Tier1": "Requests-FIFO"},  # "Requests-RBP": the free tier
    "sns": {"Requests-Tier1": "Requests"},
    "events": {"Event-64K-Chunks": "Events"},
    "kms": {"KMS-Requests": "Requests"},
    "secretsmanager": {"AWSSecretsManagerAPIRequest": "Requests"},
    "monitoring": {"CW:GMD-Metrics": "GetMetricData-Metrics", "CW:Requests": "Requests"},
    "stepfunctions": {"StateTransition": "StateTransitions"},
    "athena": {"DataScannedInTB": "TB-Scanned"},
    "lambda": {
        "Request": "Requests",
        "Request-ARM": "Requests-ARM",
        "Lambda-GB-Second": "GB-Seconds",
        "Lambda-GB-Second-ARM": "GB-Seconds-ARM",
    },
    "fargate": {
        "Fargate-vCPU-Hours:perCPU": "vCPU-Hours",
        "Fargate-GB-Hours": "GB-Hours",
        "Fargate-ARM-vCPU-Hours:perCPU": "ARM-vCPU-Hours",
        "Fargate-ARM-GB-Hours": "ARM-GB-Hours",
    },
}
# Fargate and Lambda host prices (``PriceBook.sized``) as units
SIZED_UNITS = {
    ("fargate", "x86_64", "vcpu_hour"): "fargate/vCPU-Hours",
    ("fargate", "x86_64", "gb_hour"): "fargate/GB-Hours",
    ("fargate", "arm64", "vcpu_hour"): "fargate/ARM-vCPU-Hours",
    ("fargate", "arm64", "gb_hour"): "fargate/ARM-GB-Hours",
    ("lambda", "x86_64", "gb_second"): "lambda/GB-Seconds",
    ("lambda", "arm64", "gb_second"): "lambda/GB-Seconds-ARM",
    ("lambda", "x86_64", "request"): "lambda/Requests",
    ("lambda", "arm64", "request"): "lambda/Requests-ARM",
}
_PREFIX = re.compile(r"^(?:[A-Z]{2,4}\d?|[a-z]{2}(?:-gov)?-[a-z]+-\d)-")  # USE1-, EU-, APS2-; KMS: ca-central-1-


def without_region(usage_type: str) -> str:
    """``EUW1-BoxUsage:m5.large`` → ``BoxUsage:m5.large``; ``ca-central-1-KMS-Requests`` → ``KMS-Requests``."""
    return _PREFIX.sub("", usage_type, count=1)


def unit_of(service: str, usage_type: str) -> str | None:
    """The unit a product's usage type prices, or None."""
    table = USAGE_TYPES.get(service, {})
    if usage_type in table:
        return table[usage_type]
    return table.get(without_region(usage_type))


def unit_prices(service: str, region: str, items: list[Any]) -> dict[str, float]:
    """``PriceList`` elements (JSON strings) → {"<service>/<unit>": USD}. A unit two products price differently is
    left out (unknown), never guessed."""
    found: dict[str, set[float]] = {}
    for item in items:
        product = json.loads(item) if isinstance(item, str) else item
        attributes = product.get("product", {}).get("attributes", {})
        if attributes.get("regionCode", region) != region:
            continue
        unit = unit_of(service, str(attributes.get("usagetype", "")))
        usd = first_paid_tier(product)
        if unit is not None and usd is not None:
            found.setdefault(f"{service}/{unit}", set()).add(usd)
    return {key: prices.pop() for key, prices in found.items() if len(prices) == 1}


def first_paid_tier(product: dict[str, Any]) -> float | None:
    """The lowest tier's non-zero USD price of the on-demand terms (tiers ordered by ``beginRange``)."""
    dimensions = [
        dim
        for term in product.get("terms", {}).get("OnDemand", {}).values()
        for dim in term.get("priceDimensions", {}).values()
    ]
    dimensions.sort(key=lambda d: float(d.get("beginRange") or 0))
    for dim in dimensions:
        usd = float(dim.get("pricePerUnit", {}).get("USD") or 0)
        if usd > 0:
            return usd
    return None
