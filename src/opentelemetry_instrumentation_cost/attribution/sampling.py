"""Sampling never changes the numbers: a local root the sampler drops is recorded instead (``RECORD_ONLY``).

The SDK calls span processors for recording spans only, so a dropped root would open no share in the ledger: the
sampled roots in flight would absorb its compute, its AWS calls would be ``<untraced>``, and its request would never
be stored. A ``RECORD_ONLY`` span reaches span processors but no exporter (the SDK's batch and simple processors
export sampled spans only), and its context keeps the unsampled flag, so what is exported and what is propagated
downstream stay the sampler's decision. Children of such a root are still dropped (``NonRecordingSpan``): the AWS
meter needs only their trace id, which they share with their root.

The sampler object is changed in place, not replaced: every tracer holds the provider's sampler, including those
obtained before the package loaded. A ``ParentBased`` sampler gets wrapped delegates for the three cases that make a
local root (no parent, remote parent sampled or not), so a child of a sampled local parent, the hot path, pays
nothing. Any other sampler gets an instance ``should_sample`` that looks at the parent only when it drops.
``OTEL_PYTHON_COST_UNSAMPLED_ROOTS=drop`` keeps the SDK's cheaper drop (the numbers then cover sampled roots only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, get_current_span
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from .._sdk_compat import local_root_delegates

_DROP = Decision.DROP
_RECORD_ONLY = Decision.RECORD_ONLY
_CLIENT = SpanKind.CLIENT
_patched: list[tuple[Sampler, Callable[[], object]]] = []  # (sampler, undo), to restore at uninstrument


def _recorded(result: SamplingResult) -> SamplingResult:
    return SamplingResult(_RECORD_ONLY, result.attributes, result.trace_state)


class RecordLocalRoots(Sampler):
    """A ``ParentBased`` delegate consulted for local roots only: what it drops is recorded. A parentless CLIENT span
    stays dropped: it is never a local root (``processor.py``), so recording it would only cost a span object."""

    def __init__(self, wrapped: Sampler) -> None:
        self.wrapped = wrapped

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        result = self.wrapped.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if result.decision is _DROP and (kind is not _CLIENT or _remote_parent(parent_context)):
            return _recorded(result)
        return result

    def get_description(self) -> str:
        return self.wrapped.get_description()  # what the app reads of its sampler does not change


def _remote_parent(parent_context: Context | None) -> bool:
    parent = get_current_span(parent_context).get_span_context()
    return parent.is_valid and parent.is_remote


def _would_be_local_root(parent_context: Context | None, kind: SpanKind | None) -> bool:
    parent = get_current_span(parent_context).get_span_context()
    if parent.is_valid:
        return parent.is_remote
    return kind is not _CLIENT


def record_local_roots(sampler: Any) -> None:
    """Make ``sampler`` (a provider's, shared by its tracers) record the local roots it drops (idempotent)."""
    if sampler is ALWAYS_ON or not isinstance(sampler, Sampler) or any(s is sampler for s, _ in _patched):
        return
    delegates = local_root_delegates(sampler)
    if delegates is not None:
        saved = {name: getattr(sampler, name) for name in delegates}
        for name, delegate in saved.items():
            setattr(sampler, name, RecordLocalRoots(delegate))
        _patched.append((sampler, lambda: sampler.__dict__.update(saved)))
        return
    original = sampler.should_sample

    def should_sample(
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        result = original(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if result.decision is _DROP and _would_be_local_root(parent_context, kind):
            return _recorded(result)
        return result

    sampler.should_sample = should_sample  # type: ignore[method-assign]
    _patched.append((sampler, lambda: vars(sampler).pop("should_sample", None)))


def restore_samplers() -> None:
    """Give every changed sampler back its own decisions (uninstrument)."""
    while _patched:
        _, undo = _patched.pop()
        undo()
