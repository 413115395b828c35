"""DynamoDB on-demand: read and write request units.

Units come from ``ConsumedCapacity``, which are exactly the billed units on on-demand tables; the package asks for
it (``ReturnConsumedCapacity=TOTAL``) when the caller did not, and hides it again from the caller's response.
Without it (``OTEL_PYTHON_COST_DYNAMODB_CONSUMED_CAPACITY=false``, or an answer that lacks it) units are estimated
from item sizes with DynamoDB's documented rounding and marked estimated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..resources import table_is_ia
from ..types import Call, Meter, Metering, Usage

_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
_READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
_PARAM = "ReturnConsumedCapacity"
_ASK = b'{"ReturnConsumedCapacity": "TOTAL"'
READ, WRITE = "ReadRequestUnits", "WriteRequestUnits"


class DynamoDBMeter(Meter):
    inject = True  # set from OTEL_PYTHON_COST_DYNAMODB_CONSUMED_CAPACITY when the hooks are installed

    def prepare(
        self, operation: str, params: Mapping[str, Any], request: dict[str, Any], accepts: frozenset[str]
    ) -> bool:
        """Ask for units on the operations metered here only (PartiQL's ExecuteStatement accepts it too, and is
        left alone), in the JSON body botocore serialized: the caller's params stay as the caller wrote them (a
        ``request_hook`` or a ``Stubber`` sees no extra parameter)."""
        if not self.inject or _PARAM not in accepts or _PARAM in params:
            return False
        if operation not in _WRITES and operation not in _READS:
            return False
        body = request.get("body")
        if not isinstance(body, bytes) or not body.startswith(b"{"):
            return False
        rest = body[1:]
        request["body"] = _ASK + (b"}" if rest.strip() == b"}" else b", " + rest)
        return True

    def restore(self, response: dict[str, Any]) -> None:
        response.pop("ConsumedCapacity", None)

    def measure(self, call: Call) -> Metering | None:
        metering = self._measure(call)
        if metering is not None and table_is_ia(call.params.get("TableName")):  # a Standard-IA table's units
            for usage in metering.usages:
                usage.unit = "IA-" + usage.unit
        return metering

    def _measure(self, call: Call) -> Metering | None:
        op = call.operation
        if op not in _WRITES and op not in _READS:
            return None
        if not call.ok:
            if (call.response.get("Error") or {}).get("Code") == "ConditionalCheckFailedException" and op in _WRITES:
                return Metering([Usage(WRITE, 1.0)], estimated=True)  # a failed condition still consumes a write
            return Metering([Usage(WRITE if op in _WRITES else READ, 0.0)])  # validation errors, throttles: nothing
        reported = _reported(call.response.get("ConsumedCapacity"), op)
        if reported is not None:
            return Metering(reported)
        return Metering(_estimate(call), estimated=True)


def _reported(consumed: Any, op: str) -> list[Usage] | None:
    """Units from ``ConsumedCapacity``: one entry (single-item calls) or a list (batch and transact calls)."""
    if isinstance(consumed, dict):  # botocore's parsed responses are plain dicts and lists
        entries: Iterable[Any] = (consumed,)
    elif isinstance(consumed, list) and consumed:
        entries = consumed
    else:
        return None
    read = write = total = 0.0
    for e in entries:
        read += e.get("ReadCapacityUnits") or 0.0
        write += e.get("WriteCapacityUnits") or 0.0
        total += e.get("CapacityUnits") or 0.0
    if not read and not write:  # only the total given: the operation says which kind it is
        return [Usage(WRITE if op in _WRITES else READ, float(total))] if total else []
    usages = [Usage(READ, float(read))] if read else []
    if write:
        usages.append(Usage(WRITE, float(write)))
    return usages


def _estimate(call: Call) -> list[Usage]:
    p, r, op = call.params, call.response, call.operation
    factor = 1.0 if p.get("ConsistentRead") else 0.5
    if op == "PutItem":
        return [Usage(WRITE, _wu(p.get("Item")))]
    if op in ("UpdateItem", "DeleteItem"):
        return [Usage(WRITE, _wu(r.get("Attributes")))]
    if op == "BatchWriteItem":
        requests = [req for reqs in p.get("RequestItems", {}).values() for req in reqs]
        units = sum(_wu(req.get("PutRequest", {}).get("Item")) for req in requests)
        return [Usage(WRITE, float(units))]
    if op == "TransactWriteItems":
        units = sum(_wu(item.get("Put", {}).get("Item")) for item in p.get("TransactItems", []))
        return [Usage(WRITE, 2.0 * units)]
    if op == "GetItem":
        return [Usage(READ, _ru(_size(r.get("Item"))) * factor)]
    if op in ("Query", "Scan"):
        return [Usage(READ, _ru(sum(_size(i) for i in r.get("Items", []))) * factor)]
    if op == "BatchGetItem":
        items = [i for table in r.get("Responses", {}).values() for i in table]
        return [Usage(READ, sum(_ru(_size(i)) for i in items) * 0.5 or 0.5)]
    # TransactGetItems
    return [Usage(READ, 2.0 * sum(_ru(_size(x.get("Item"))) for x in r.get("Responses", [])))]


def _wu(item: Mapping[str, Any] | None) -> float:
    """Write units: 1 per KB, rounded up, at least 1."""
    return float(max(1, math.ceil(_size(item) / 1024)))


def _ru(size: int) -> float:
    """Strongly consistent read units: 1 per 4 KB, rounded up, at least 1."""
    return float(max(1, math.ceil(size / 4096)))


def _size(item: Mapping[str, Any] | None) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(v) for name, v in (item or {}).items())


def _value_size(value: Mapping[str, Any]) -> int:
    size = 0
    for kind, v in value.items():
        if kind == "S":
            size += len(str(v).encode())
        elif kind == "N":
            size += len(str(v).strip("-").replace(".", "")) // 2 + 1
        elif kind == "B":
            size += len(v)
        elif kind in ("BOOL", "NULL"):
            size += 1
        elif kind in ("SS", "NS", "BS"):
            size += sum(_value_size({kind[0]: x}) for x in v)
        elif kind == "L":
            size += 3 + sum(1 + _value_size(x) for x in _seq(v))
        elif kind == "M":
            size += 3 + sum(1 + len(k.encode()) + _value_size(x) for k, x in v.items())
    return size


def _seq(values: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    return (v for v in values if isinstance(v, Mapping))


METER = DynamoDBMeter()
