"""SNS requests: Publish and each PublishBatch entry count one request per 64 KB chunk; deliveries are apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..types import Call, Meter, Metering, Usage
from ._payload import attributes_size, chunks, text_size


def _size(entry: Mapping[str, Any]) -> int:
    return (
        text_size(entry.get("Message"))
        + text_size(entry.get("Subject"))
        + attributes_size(entry.get("MessageAttributes"))
    )


class SNSMeter(Meter):
    def measure(self, call: Call) -> Metering | None:
        if call.operation == "Publish":
            n = chunks(_size(call.params))
        elif call.operation == "PublishBatch":
            n = sum(chunks(_size(e)) for e in call.params.get("PublishBatchRequestEntries", []))
        else:
            n = 1
        return Metering([Usage("Requests", float(n * call.attempts))])


METER = SNSMeter()
