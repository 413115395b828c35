"""EventBridge PutEvents: each entry counts one event per 64 KB chunk; other calls are not billed per call."""

from __future__ import annotations

from ..types import Call, Meter, Metering, Usage
from ._payload import chunks, text_size


def _entry_size(entry: dict) -> int:
    fields = ("Source", "DetailType", "Detail", "EventBusName", "TraceHeader")
    return sum(text_size(entry.get(f)) for f in fields) + sum(text_size(r) for r in entry.get("Resources", []))


class EventBridgeMeter(Meter):
    def measure(self, call: Call) -> Metering | None:
        if call.operation != "PutEvents":
            return None
        n = sum(chunks(_entry_size(e)) for e in call.params.get("Entries", []))
        return Metering([Usage("Events", float(n))])


METER = EventBridgeMeter()
