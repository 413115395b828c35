"""A pytest plugin for running an upstream instrumentation's own test suite with and without the cost package.

``OTEL_COST_PEER_MODE=on`` instruments the package for the whole session (before the suite imports anything);
``off`` leaves it out. Either way every span the suite's in-memory exporters receive is recorded whole, per test,
with the test's outcome, into ``OTEL_COST_PEER_OUT`` (JSON), for ``scripts/peer_suites.py`` to compare. The suite
itself is handed each span without its ``cost.*`` attributes: its assertions compare whole attribute dicts, and
``cost.*`` is the one difference the comparison allows; everything else it sees is what the package left.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import pytest

_spans: dict[str, list[dict[str, Any]]] = {}
_outcomes: dict[str, str] = {}
_current: list[str] = [""]


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _record(span: Any) -> dict[str, Any]:
    return {
        "name": span.name,
        "kind": str(span.kind),
        "status": str(span.status.status_code),
        "parented": span.parent is not None,
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
        "events": [[e.name, {k: _plain(v) for k, v in (e.attributes or {}).items()}] for e in span.events],
        "links": len(span.links),
    }


def _without_cost(span: Any) -> Any:
    """A copy of an ended span whose attributes leave out ``cost.*`` (the span the app's exporter got is unchanged)."""
    from opentelemetry.attributes import BoundedAttributes

    attributes = span.attributes or {}
    if not any(k.startswith("cost.") for k in attributes):
        return span
    kept = BoundedAttributes(None, {k: v for k, v in attributes.items() if not k.startswith("cost.")}, immutable=True)
    kept.dropped = span.dropped_attributes
    clone = copy.copy(span)
    clone._attributes = kept
    return clone


def pytest_configure(config: pytest.Config) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    export = InMemorySpanExporter.export

    def recording_export(self: Any, spans: Any) -> Any:
        _spans.setdefault(_current[0], []).extend(_record(s) for s in spans)
        return export(self, [_without_cost(s) for s in spans])

    InMemorySpanExporter.export = recording_export  # type: ignore[method-assign]
    if os.environ.get("OTEL_COST_PEER_MODE") == "on":
        from opentelemetry_instrumentation_cost import CostInstrumentor

        CostInstrumentor().instrument()


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    _current[0] = nodeid


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.outcome != "passed":
        _outcomes[report.nodeid] = report.outcome if report.when == "call" else f"{report.when}-{report.outcome}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = os.environ.get("OTEL_COST_PEER_OUT")
    if out:
        with open(out, "w") as f:
            json.dump({"outcomes": _outcomes, "spans": _spans}, f)
