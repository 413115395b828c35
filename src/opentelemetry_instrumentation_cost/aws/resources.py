"""What the price file says about the caller's resources, where the call does not: a DynamoDB table's class
(Standard-IA units cost more) and a Lambda function's architecture (arm64 GB-seconds cost 20% less).

Price file sections: ``"dynamodb_tables": {"orders-archive": "STANDARD_INFREQUENT_ACCESS"}`` and
``"lambda_functions": {"resize": "arm64"}`` (names, or ARNs: the name is what counts). Set by the running package
from ``OTEL_PYTHON_COST_PRICE_FILE``; empty otherwise, and then every table is Standard and every function x86.
"""

from __future__ import annotations

from collections.abc import Mapping

_TABLES: dict[str, str] = {}
_FUNCTIONS: dict[str, str] = {}
IA = "STANDARD_INFREQUENT_ACCESS"


def configure(resources: Mapping[str, Mapping[str, str]]) -> None:
    _TABLES.clear()
    _TABLES.update({_name(k): v.upper() for k, v in resources.get("dynamodb_tables", {}).items()})
    _FUNCTIONS.clear()
    _FUNCTIONS.update({_name(k): v.lower() for k, v in resources.get("lambda_functions", {}).items()})


def table_is_ia(table: object) -> bool:
    return bool(_TABLES) and isinstance(table, str) and _TABLES.get(_name(table)) == IA


def function_is_arm64(function: object) -> bool:
    return bool(_FUNCTIONS) and isinstance(function, str) and _FUNCTIONS.get(_name(function)) == "arm64"


def _name(resource: str) -> str:
    """``arn:aws:dynamodb:r:a:table/orders`` → ``orders``; ``arn:aws:lambda:r:a:function:resize:live`` →
    ``resize``; ``123456789012:function:resize`` → ``resize``; a name stays itself."""
    if ":function:" in resource:
        return resource.split(":function:", 1)[1].split(":", 1)[0]
    if resource.startswith("arn:") and "/" in resource:
        return resource.split("/", 1)[1].split("/", 1)[0]
    return resource.split(":", 1)[0]
