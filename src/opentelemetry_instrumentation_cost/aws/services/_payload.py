"""Payload sizes as SQS, SNS and EventBridge bill them: every 64 KB chunk is one request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CHUNK = 64 * 1024


def chunks(size: int) -> int:
    """Billed requests for a payload of ``size`` bytes (at least one)."""
    return (size + CHUNK - 1) // CHUNK or 1


def text_size(value: Any) -> int:
    """UTF-8 bytes (an ASCII string is measured without encoding a copy: this runs on every message)."""
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode("utf-8"))
    if value is None:
        return 0
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    return len(str(value).encode("utf-8"))


def attributes_size(attributes: Mapping[str, Any] | None) -> int:
    """Message attributes count toward the payload: name, data type and value."""
    if not attributes:
        return 0
    total = 0
    for name, attr in attributes.items():
        total += text_size(name)
        if isinstance(attr, Mapping):
            total += text_size(attr.get("DataType"))
            total += text_size(attr.get("StringValue")) + text_size(attr.get("BinaryValue"))
    return total
