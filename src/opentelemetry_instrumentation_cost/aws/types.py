"""The one interface every service meter implements, documented once.

A meter turns one API call (request params + parsed response + HTTP metadata) into billable usage: a list of
(unit, quantity). It never prices anything (the price book does) and never touches spans (the hooks do).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Call:
    """One API call as botocore saw it (failed calls included: AWS bills some of them).

    Made in ``after-call`` from what ``before-parameter-build`` kept (the params) and the answer. The HTTP details
    are read only when a meter asks for them, because this runs on every AWS call.
    """

    __slots__ = ("context", "http_response", "operation", "params", "region", "response", "service")

    def __init__(
        self,
        service: str,
        operation: str,
        params: Mapping[str, Any],
        response: Mapping[str, Any] | None,
        http_response: Any,
        context: Mapping[str, Any],
    ) -> None:
        self.service = service  # botocore service name, e.g. "dynamodb", "bedrock-runtime"
        self.operation = operation  # e.g. "PutItem"
        self.params = params  # the API parameters as sent (botocore's copy)
        # the parsed response (an error response for 4xx/5xx); None where a test mocks Endpoint.make_request
        self.response: Mapping[str, Any] = response if response is not None else {}
        self.http_response = http_response
        self.context = context  # botocore's request context
        self.region: str = context.get("client_region") or "us-east-1"

    @property
    def _metadata(self) -> Mapping[str, Any]:
        return self.response.get("ResponseMetadata") or {}

    @property
    def status(self) -> int:
        return int(getattr(self.http_response, "status_code", 0) or self._metadata.get("HTTPStatusCode") or 0)

    @property
    def headers(self) -> Mapping[str, str]:
        return getattr(self.http_response, "headers", None) or self._metadata.get("HTTPHeaders") or {}

    @property
    def attempts(self) -> int:
        """1 + botocore's retries: each attempt reached AWS."""
        return 1 + int(self._metadata.get("RetryAttempts") or 0)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(slots=True)
class Usage:
    """``quantity`` of ``unit``; priced at ``<service>/<unit>`` unless ``price_key`` names another entry."""

    unit: str
    quantity: float
    price_key: str | None = None


@dataclass(slots=True)
class Metering:
    usages: list[Usage] = field(default_factory=list)
    estimated: bool = False  # units computed from sizes, not reported by AWS
    partial: bool = False  # part of the charge is invisible to the caller (e.g. Step Functions transitions)


class Meter:
    """Base meter: override ``measure``; override ``prepare`` to adjust a request before it is built."""

    def prepare(
        self, operation: str, params: Mapping[str, Any], request: dict[str, Any], accepts: frozenset[str]
    ) -> bool:
        """Adjust the serialized ``request`` (botocore's request dict at ``before-call``) so the response says what
        was billed; ``params``, the caller's own, are only read: no dict the app or a hook holds is changed.

        ``accepts`` are the operation's input member names. Returns True when something was added, so that
        ``restore`` can take it out of the response the caller sees.
        """
        return False

    def restore(self, response: dict[str, Any]) -> None:
        """Remove from ``response`` what ``prepare`` made AWS add, so the caller gets what it asked for."""

    def measure(self, call: Call) -> Metering | None:
        """The call's billable usage, or None when this operation is not billed per call."""
        raise NotImplementedError


class PerRequest(Meter):
    """Services billed per API request (KMS, Secrets Manager): one unit per attempt that reached AWS."""

    def __init__(self, unit: str = "Requests") -> None:
        self.unit = unit

    def measure(self, call: Call) -> Metering | None:
        return Metering([Usage(self.unit, float(call.attempts))])
