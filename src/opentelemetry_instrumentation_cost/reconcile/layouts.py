"""The billing exports ``otel-cost reconcile`` reads, told apart by their columns: FOCUS 1.0, 1.1 and 1.2 (with or
without AWS's ``x_`` columns), CUR 2.0 and the legacy CUR; and what a line is in the package's terms.

Every layout is read into the same fields: the day, the AWS service, the usage (a usage type, or a FOCUS line's
description where the export has no usage type), the region, the category, the quantity, and the list and effective
costs. A line then maps to a meter's ``(service, unit)`` by its usage type, with the same table the Price List's
products use (``pricing/services.py``: a bill line and a product of one usage type price the same thing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..pricing.services import SERVICE_CODES, unit_of, without_region

FIELDS = ("day", "service", "usage", "region", "category", "quantity", "list", "effective")


@dataclass(frozen=True)
class Layout:
    name: str
    columns: dict[str, tuple[str, ...]]  # field → the columns that may hold it, the first present wins
    required: tuple[str, ...]  # fields without which nothing can be compared
    provider: str | None = None  # a column naming the cloud (FOCUS: several providers in one export)


_CUR = Layout(
    "cur",
    {
        "day": ("lineItem/UsageStartDate",),
        "service": ("lineItem/ProductCode",),
        "usage": ("lineItem/UsageType",),
        "region": ("product/regionCode", "product/region"),
        "category": ("lineItem/LineItemType",),
        "quantity": ("lineItem/UsageAmount",),
        "list": ("pricing/publicOnDemandCost",),
        "effective": ("lineItem/UnblendedCost",),
        "billed": ("lineItem/UnblendedCost",),
        "sp_effective": ("savingsPlan/SavingsPlanEffectiveCost",),
        "ri_effective": ("reservation/EffectiveCost",),
    },
    ("day", "service", "usage", "category", "quantity", "effective"),
)
_CUR2 = Layout(
    "cur2",
    {
        "day": ("line_item_usage_start_date",),
        "service": ("line_item_product_code",),
        "usage": ("line_item_usage_type",),
        "region": ("product_region_code", "product_region"),
        "category": ("line_item_line_item_type",),
        "quantity": ("line_item_usage_amount",),
        "list": ("pricing_public_on_demand_cost",),
        "effective": ("line_item_unblended_cost",),
        "billed": ("line_item_unblended_cost",),
        "sp_effective": ("savings_plan_savings_plan_effective_cost",),
        "ri_effective": ("reservation_effective_cost",),
    },
    ("day", "service", "usage", "category", "quantity", "effective"),
)


def _focus(version: str) -> Layout:
    return Layout(
        f"focus-{version}",
        {
            "day": ("ChargePeriodStart",),
            "service": ("x_ServiceCode", "ServiceName"),
            "usage": ("x_UsageType", "SkuMeter", "ChargeDescription"),
            "region": ("RegionId",),
            "category": ("ChargeCategory",),
            "quantity": ("ConsumedQuantity", "UsageQuantity"),
            "list": ("ListCost",),
            "effective": ("EffectiveCost",),
            "billed": ("BilledCost",),
        },
        ("day", "service", "usage", "category", "quantity", "effective"),
        provider="ProviderName",
    )


def detect(columns: list[str], given: str | None = None) -> Layout:
    """The layout of an export with these columns (``given``: ``focus``, ``cur2``, ``cur`` to force one)."""
    have = set(columns)
    if given in ("cur", "cur2"):
        return _CUR if given == "cur" else _CUR2
    if given == "focus" or "ChargePeriodStart" in have:
        version = "1.2" if "SkuMeter" in have else "1.1" if "ServiceSubcategory" in have else "1.0"
        return _focus(version)
    if "lineItem/UsageType" in have:
        return _CUR
    if "line_item_usage_type" in have:
        return _CUR2
    raise ValueError("not a FOCUS, CUR 2.0 or legacy CUR export (no ChargePeriodStart, lineItem/UsageType or "
                     "line_item_usage_type column); give --format")  # fmt: skip


def resolve(layout: Layout, columns: list[str]) -> tuple[dict[str, str], list[str]]:
    """field → the column that holds it, and the required fields no column holds."""
    have = set(columns)
    found = {f: next((c for c in options if c in have), "") for f, options in layout.columns.items()}
    found = {f: c for f, c in found.items() if c}
    return found, [f"{f} ({' or '.join(layout.columns[f])})" for f in layout.required if f not in found]


CATEGORIES = {  # a bill's charge kinds → usage, or kept apart
    "Usage": "usage", "DiscountedUsage": "usage", "SavingsPlanCoveredUsage": "usage",
    "Credit": "credit", "Refund": "refund", "Tax": "tax",
}  # fmt: skip
FOCUS_SERVICES = {
    "Amazon Simple Queue Service": "AWSQueueService", "Amazon Simple Storage Service": "AmazonS3",
    "Amazon DynamoDB": "AmazonDynamoDB", "Amazon Elastic Compute Cloud": "AmazonEC2",
    "Amazon Elastic Container Service": "AmazonECS", "AWS Key Management Service": "awskms",
    "Amazon Simple Notification Service": "AmazonSNS", "AmazonCloudWatch": "AmazonCloudWatch",
    "AWS Lambda": "AWSLambda", "Amazon EventBridge": "AWSEvents", "CloudWatch Events": "AWSEvents",
    "AWS Secrets Manager": "AWSSecretsManager", "AWS Step Functions": "AmazonStates", "Amazon Athena": "AmazonAthena",
}  # fmt: skip
_SERVICES = {code: name for name, code in SERVICE_CODES.items()} | {"AmazonEC2": "ec2"}
_DESCRIPTIONS = (  # FOCUS exports without usage types: what the line's description says it charges
    (re.compile(r"Amazon SQS standard requests"), "sqs", "Requests"),
    (re.compile(r"Amazon SQS FIFO requests"), "sqs", "Requests-FIFO"),
    (re.compile(r"PUT, COPY, POST,? (or|and) LIST requests"), "s3", "Requests-Tier1"),
    (re.compile(r"GET and all other requests"), "s3", "Requests-Tier2"),
    (re.compile(r"On Demand Linux (\S+) Instance Hour"), "ec2", "BoxUsage:{0}"),
    (re.compile(r"AWS Fargate - vCPU"), "fargate", "vCPU-Hours"),
    (re.compile(r"AWS Fargate - Memory"), "fargate", "GB-Hours"),
    (re.compile(r"write request units?", re.I), "dynamodb", "WriteRequestUnits"),
    (re.compile(r"read request units?", re.I), "dynamodb", "ReadRequestUnits"),
)


def category(value: str) -> str:
    return CATEGORIES.get(value, "other")


def service_of(value: str) -> str | None:
    """The package's name for a bill's service (a product code, or a FOCUS service name)."""
    return _SERVICES.get(FOCUS_SERVICES.get(value, value))


def meter_unit(service: str | None, usage: str) -> tuple[str, str] | None:
    """A bill line's ``(service, unit)`` in the meters' terms, or None when no meter counts it."""
    if service is None:
        return None
    if service == "ec2":
        bare = without_region(usage)
        return ("ec2", bare) if bare.startswith(("BoxUsage:", "SpotUsage:")) else None
    unit = unit_of(service, usage)
    if unit is not None:
        return service, unit
    for pattern, named, template in _DESCRIPTIONS:
        found = pattern.search(usage)
        if found and named == service:
            return named, template.format(*found.groups())
    return None
