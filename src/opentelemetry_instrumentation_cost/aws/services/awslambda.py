"""Lambda Invoke: the request charge, and the duration charge when ``LogType=Tail`` shows the billed duration, at
the function's architecture's rate (arm64 when the price file says so: ``aws/resources.py``)."""

from __future__ import annotations

import base64
import binascii
import re

from ..resources import function_is_arm64
from ..types import Call, Meter, Metering, Usage

_BILLED = re.compile(r"Billed Duration: (\d+(?:\.\d+)?) ms")
_MEMORY = re.compile(r"Memory Size: (\d+) MB")


class LambdaMeter(Meter):
    def measure(self, call: Call) -> Metering | None:
        if call.operation != "Invoke":
            return None
        usages = [Usage("Requests", 1.0)]
        gb_seconds = _billed_gb_seconds(call.response.get("LogResult"))
        if gb_seconds is None:
            return Metering(usages, partial=True)  # the duration charge is invisible to the caller
        arm64 = function_is_arm64(call.params.get("FunctionName"))  # from the price file: the call does not say
        usages.append(Usage("GB-Seconds-ARM" if arm64 else "GB-Seconds", gb_seconds))
        return Metering(usages)


def _billed_gb_seconds(log_result: object) -> float | None:
    if not isinstance(log_result, str):
        return None
    try:
        tail = base64.b64decode(log_result).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    billed, memory = _BILLED.search(tail), _MEMORY.search(tail)
    if not billed or not memory:
        return None
    return float(billed.group(1)) / 1000.0 * int(memory.group(1)) / 1024.0


METER = LambdaMeter()
