"""Athena: data scanned, read from ``GetQueryExecution`` once a query has finished (10 MB minimum per query).

Callers poll ``GetQueryExecution``: each query is charged once per process (bounded memory of recent ids).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

from ..._fork import renew_lock_after_fork
from ..types import Call, Meter, Metering, Usage

MB = 1 << 20
TB = 1 << 40
_MIN_BYTES = 10 * MB
_BILLED_STATES = {"SUCCEEDED", "CANCELLED"}
_REMEMBER = 10_000


class AthenaMeter(Meter):
    def __init__(self) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        renew_lock_after_fork(self)

    def measure(self, call: Call) -> Metering | None:
        if call.operation != "GetQueryExecution" or not call.ok:
            return None
        execution = call.response.get("QueryExecution") or {}
        if (execution.get("Status") or {}).get("State") not in _BILLED_STATES:
            return None
        query_id = str(execution.get("QueryExecutionId", ""))
        with self._lock:
            if query_id in self._seen:
                return None
            self._seen[query_id] = None
            if len(self._seen) > _REMEMBER:
                self._seen.popitem(last=False)
        scanned = int((execution.get("Statistics") or {}).get("DataScannedInBytes") or 0)
        billed = max(_MIN_BYTES, math.ceil(scanned / MB) * MB)
        return Metering([Usage("TB-Scanned", billed / TB)])


METER = AthenaMeter()
