"""Bedrock runtime: tokens in and out (and prompt-cache reads and writes), priced per model.

``Converse`` reports ``usage``; ``InvokeModel`` reports token counts in HTTP headers (read without touching the
body). The streaming calls report usage in their last event, after the call returns: the stream is wrapped, and
the charge lands on the local root when that event arrives (the call's own span is marked partial).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import wrapt

from ..types import Call, Meter, Metering, Usage

_PROFILE_PREFIX = re.compile(r"^(us|eu|apac|us-gov|ca|jp|au|global)\.")
_VERSION_SUFFIX = re.compile(r"(-\d{8})?(-v\d+(:\d+)?)?(:\d+)?$")
_STREAMING = {"ConverseStream", "InvokeModelWithResponseStream"}


def model_key(model_id: str) -> str:
    """The model as priced: its inference profile's scope kept, the version dropped.
    ``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` → ``us.anthropic.claude-sonnet-4-5`` (a geographic profile
    costs about 10% more than ``global.`` for Claude 4.5 and later: each is priced as itself); ARNs: the last part."""
    model = model_id.rsplit("/", 1)[-1]
    scope = _PROFILE_PREFIX.match(model)
    model = _PROFILE_PREFIX.sub("", model)
    return (scope.group(0) if scope else "") + _VERSION_SUFFIX.sub("", model)


def token_usages(model: str, tokens: Mapping[str, float]) -> list[Usage]:
    """``tokens`` by kind (input, output, cache_read, cache_write) → usages priced per model."""
    return [Usage(f"{kind}_tokens", float(n), f"bedrock/{model}/{kind}") for kind, n in tokens.items() if n]


class BedrockMeter(Meter):
    def measure(self, call: Call) -> Metering | None:
        model = model_key(str(call.params.get("modelId", "")))
        if not call.ok:
            return Metering([])  # failed invocations are not billed
        if call.operation == "Converse":
            usage = call.response.get("usage") or {}
            return Metering(token_usages(model, _converse_tokens(usage)))
        if call.operation == "InvokeModel":
            headers = {k.lower(): v for k, v in call.headers.items()}
            tokens = {
                "input": float(headers.get("x-amzn-bedrock-input-token-count") or 0),
                "output": float(headers.get("x-amzn-bedrock-output-token-count") or 0),
            }
            return Metering(token_usages(model, tokens))
        if call.operation in _STREAMING:
            return Metering([], partial=True)
        return None


def _converse_tokens(usage: Mapping[str, Any]) -> dict[str, float]:
    return {
        "input": float(usage.get("inputTokens") or 0),
        "output": float(usage.get("outputTokens") or 0),
        "cache_read": float(usage.get("cacheReadInputTokens") or 0),
        "cache_write": float(usage.get("cacheWriteInputTokens") or 0),
    }


def stream_tokens(operation: str, event: Mapping[str, Any]) -> dict[str, float] | None:
    """Token counts carried by one stream event, if it is the one that carries them."""
    if operation == "ConverseStream":
        usage = (event.get("metadata") or {}).get("usage")
        return _converse_tokens(usage) if usage else None
    chunk = event.get("chunk") or {}
    raw = chunk.get("bytes")
    if not raw or b"amazon-bedrock-invocationMetrics" not in raw:
        return None
    metrics = json.loads(raw).get("amazon-bedrock-invocationMetrics", {})
    return {"input": float(metrics.get("inputTokenCount") or 0), "output": float(metrics.get("outputTokenCount") or 0)}


class _Metered(wrapt.ObjectProxy):  # type: ignore[misc]
    """The response's event stream, unchanged for the caller; reports token usage when it goes by."""

    def __init__(self, stream: Any, operation: str, on_usage: Callable[[dict[str, float]], None]) -> None:
        super().__init__(stream)
        self._self_operation = operation
        self._self_on_usage = on_usage

    def _self_seen(self, event: Any) -> None:
        try:
            tokens = stream_tokens(self._self_operation, event)
        except (ValueError, AttributeError, TypeError):
            tokens = None
        if tokens is not None:
            self._self_on_usage(tokens)


class MeteredStream(_Metered):
    """botocore's event stream (read with ``for``)."""

    def __iter__(self) -> Any:
        for event in self.__wrapped__:
            self._self_seen(event)
            yield event


class MeteredAsyncStream(_Metered):
    """aiobotocore's event stream (read with ``async for``)."""

    async def __aiter__(self) -> Any:
        async for event in self.__wrapped__:
            self._self_seen(event)
            yield event


def metered_stream(stream: Any, operation: str, on_usage: Callable[[dict[str, float]], None]) -> _Metered:
    """The stream wrapped for what it is: iterated by ``for`` (botocore) or by ``async for`` (aiobotocore)."""
    cls = MeteredAsyncStream if hasattr(stream, "__aiter__") else MeteredStream
    return cls(stream, operation, on_usage)


METER = BedrockMeter()
