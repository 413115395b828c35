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
nothing. Any other sampler gets the wrapper's ``should_sample`` on the instance. Either looks at the parent only when
the sampler drops.
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


class RecordLocalRoots(Sampler):
    """``wrapped``'s decisions, but a local root it drops is recorded. A parentless CLIENT span stays dropped: it is
    never a local root (``processor.py``), so recording it would only cost a span object."""

    def __init__(self, wrapped: Sampler) -> None:
        self._decide = wrapped.should_sample  # bound now: ``wrapped`` may get this wrapper's method in its place
        self._describe = wrapped.get_description

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
        result = self._decide(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if result.decision is _DROP and _local_root(parent_context, kind):
            return SamplingResult(_RECORD_ONLY, result.attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        return self._describe()  # what the app reads of its sampler does not change


def _local_root(parent_context: Context | None, kind: SpanKind | None) -> bool:
    """Whether the span being sampled would be a local root: no parent (and not a CLIENT span), or a remote one."""
    parent = get_current_span(parent_context).get_span_context()
    if parent.is_valid:
        return parent.is_remote
    return kind is not _CLIENT


def record_local_roots(sampler: Any) -> None:
    """Make ``sampler`` (a provider's, shared by its tracers) record the local roots it drops (idempotent)."""
    if sampler is ALWAYS_ON or not isinstance(sampler, Sampler) or any(s is sampler for s, _ in _patched):
        return
    delegates = local_root_delegates(sampler)
    if delegates is not None:  # a delegate that never drops (the default root and sampled-parent ones) is left alone
        saved = {name: getattr(sampler, name) for name in delegates if getattr(sampler, name) is not ALWAYS_ON}
        for name, delegate in saved.items():
            setattr(sampler, name, RecordLocalRoots(delegate))
        _patched.append((sampler, lambda: sampler.__dict__.update(saved)))
        return
    sampler.should_sample = RecordLocalRoots(sampler).should_sample  # type: ignore[method-assign]
    _patched.append((sampler, lambda: vars(sampler).pop("should_sample", None)))


def restore_samplers() -> None:
    """Give every changed sampler back its own decisions (uninstrument)."""
    while _patched:
        _, undo = _patched.pop()
        undo()
