"""Service name → meter, each loaded lazily on first use. Adding a service means adding one module."""

from __future__ import annotations

import importlib
import sys
import threading

from .._fork import renew_lock_after_fork
from .types import Meter, PerRequest

_MODULES = {
    "dynamodb": "dynamodb",
    "s3": "s3",
    "sqs": "sqs",
    "sns": "sns",
    "events": "eventbridge",
    "lambda": "awslambda",
    "bedrock-runtime": "bedrock",
    "monitoring": "cloudwatch",
    "stepfunctions": "stepfunctions",
    "athena": "athena",
}
_PER_REQUEST = {"kms", "secretsmanager"}

_loaded: dict[str, Meter | None] = {}
_lock = threading.Lock()
renew_lock_after_fork(sys.modules[__name__])  # held while a meter module is imported


def metered(service: str) -> bool:
    return service in _MODULES or service in _PER_REQUEST


def meter_for(service: str) -> Meter | None:
    """The meter for a botocore service name, or None for a service this package does not price."""
    meter = _loaded.get(service)
    if meter is not None or service in _loaded:
        return meter
    with _lock:
        if service in _PER_REQUEST:
            meter = PerRequest()
        elif service in _MODULES:
            module = importlib.import_module(f"{__package__}.services.{_MODULES[service]}")
            meter = module.METER
        else:
            meter = None
        _loaded[service] = meter
        return meter
