"""SQS requests: every 64 KB chunk of payload is one request; FIFO queues have their own price."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..types import Call, Meter, Metering, Usage
from ._payload import attributes_size, chunks, text_size

_ATTRIBUTES = ("MessageAttributes", "MessageSystemAttributes")  # both count toward the payload


def _message_size(msg: Mapping[str, Any]) -> int:
    body = msg.get("MessageBody")
    size = text_size(msg.get("Body") if body is None else body)
    for key in _ATTRIBUTES:
        attributes = msg.get(key)
        if attributes:
            size += attributes_size(attributes)
    return size


class SQSMeter(Meter):
    def measure(self, call: Call) -> Metering | None:
        op, p = call.operation, call.params
        if op == "SendMessage":
            n = chunks(_message_size(p))
        elif op == "SendMessageBatch":
            n = chunks(sum(_message_size(e) for e in p.get("Entries", [])))
        elif op == "ReceiveMessage":
            n = chunks(sum(_message_size(m) for m in call.response.get("Messages", [])))
        else:
            n = 1
        queue = str(p.get("QueueUrl") or p.get("QueueName") or "")
        unit = "Requests-FIFO" if queue.endswith(".fifo") else "Requests"
        return Metering([Usage(unit, float(n * call.attempts))])


METER = SQSMeter()
