"""SQS requests: every 64 KB chunk of payload is one request; FIFO queues have their own price."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..types import Call, Meter, Metering, Usage
from ._payload import attributes_size, chunks, text_size


def _message_size(msg: Mapping[str, Any]) -> int:
    return (
        text_size(msg.get("MessageBody", msg.get("Body")))
        + attributes_size(msg.get("MessageAttributes"))
        + attributes_size(msg.get("MessageSystemAttributes"))
    )


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
