"""S3 requests, by tier (PUT/COPY/POST/LIST vs GET/HEAD/other; DELETE and abort are free) and by the object's
storage class: the class a write asks for (``StorageClass``), the class a read's answer names (S3 sends
``x-amz-storage-class`` for any class but Standard). Standard-IA, One Zone-IA, Glacier Instant Retrieval and
Intelligent-Tiering requests have prices of their own; Glacier Flexible Retrieval and Deep Archive are priced only
from the price file (``s3/Requests-GLACIER-Tier1``, ...).

Every attempt that reached S3 is billed, throttled and failed ones included, so retries count.
"""

from __future__ import annotations

from ..types import Call, Meter, Metering, Usage

_TIER1 = ("Put", "Copy", "Post", "List", "Create", "Upload", "Complete")
_FREE = ("Delete", "Abort")
_CLASSES = {  # storage class → the prefix of its request units (as AWS's usage types name them)
    "STANDARD": "",
    "REDUCED_REDUNDANCY": "",
    "STANDARD_IA": "SIA-",
    "ONEZONE_IA": "ZIA-",
    "GLACIER_IR": "GIR-",
    "INTELLIGENT_TIERING": "INT-",
    "GLACIER": "GLACIER-",
    "DEEP_ARCHIVE": "GDA-",
}


class S3Meter(Meter):
    def measure(self, call: Call) -> Metering | None:
        op = call.operation
        if op.startswith(_FREE):
            unit = "Requests-Free"
        elif op.startswith(_TIER1):
            unit = "Requests-Tier1"
        else:
            unit = "Requests-Tier2"
        if unit != "Requests-Free":
            storage = call.params.get("StorageClass") or call.response.get("StorageClass")
            if storage and storage in _CLASSES:
                unit = unit.replace("Requests-", "Requests-" + _CLASSES[storage])
        return Metering([Usage(unit, float(call.attempts))])


METER = S3Meter()
