"""Attribute names this package writes, in one place (no adopted semantic convention for cost exists yet)."""

from typing import Final

COST_USD: Final = "cost.usd"
COST_CURRENCY: Final = "cost.currency"
COST_COMPUTE_USD: Final = "cost.compute.usd"
COST_TRANSACTION_USD: Final = "cost.transaction.usd"
COST_TRANSACTION: Final = "cost.transaction"
COST_BUDGET_USD: Final = "cost.budget.usd"
COST_BUDGET_EXCEEDED: Final = "cost.budget.exceeded"
COST_BUDGET_RATE_EXCEEDED: Final = "cost.budget.rate_exceeded"
COST_PRICING_SOURCE: Final = "cost.pricing.source"
COST_PARTIAL: Final = "cost.partial"
COST_ESTIMATED: Final = "cost.estimated"
COST_SERVICE_USD: Final = "cost.service.usd"
COST_SERVICE_UNITS: Final = "cost.service.units"
COST_SERVICE_QUANTITY: Final = "cost.service.quantity"
COST_HOST_INSTANCE_TYPE: Final = "cost.host.instance_type"
COST_HOST_LIFECYCLE: Final = "cost.host.lifecycle"
COST_HOST_REGION: Final = "cost.host.region"
COST_PRICING_SPOT_FALLBACK: Final = "cost.pricing.spot_fallback"

CURRENCY_USD: Final = "USD"

SOURCE_OVERRIDE: Final = "override"
SOURCE_CALIBRATED: Final = "calibrated"  # a price file written by otel-cost reconcile --calibrate
SOURCE_API: Final = "api"
SOURCE_CACHE: Final = "cache"
SOURCE_SNAPSHOT: Final = "snapshot"
SOURCE_UNKNOWN: Final = "unknown"
