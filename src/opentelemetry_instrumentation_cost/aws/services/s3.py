"""S3 Standard requests, by tier: PUT/COPY/POST/LIST vs GET/HEAD/other; DELETE and abort are free.

Every attempt that reached S3 is billed, throttled and failed ones included, so retries count.
"""

from __future__ import annotations

from ..types import Call, Meter, Metering, Usage

_TIER1 = ("Put", "Copy", "Post", "List", "Create", "Upload", "Complete")
_FREE = ("Delete", "Abort")


class S3Meter(Meter):
    def measure(self, call: Call) -> Metering | None:
        op = call.operation
        if op.startswith(_FREE):
            unit = "Requests-Free"
        elif op.startswith(_TIER1):
            unit = "Requests-Tier1"
        else:
            unit = "Requests-Tier2"
        return Metering([Usage(unit, float(call.attempts))])


METER = S3Meter()
