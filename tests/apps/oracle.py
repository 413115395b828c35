"""The test's own record of every request a server handled, sampled or not: a span processor the test apps add to
the global provider, writing each local root's trace id, start, end and sampled flag (the SDK's own timestamps) to
``$ORACLE_DIR/<pid>.jsonl``. It reads nothing the package wrote; the tests compute the fair split from it."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor


class IntervalRecorder(SpanProcessor):
    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._lock = threading.Lock()

    def on_end(self, span: Any) -> None:
        parent = span.parent
        if parent is not None and not parent.is_remote:
            return
        line = json.dumps(
            {
                "trace_id": span.context.trace_id,
                "start": span.start_time,
                "end": span.end_time,
                "sampled": span.context.trace_flags.sampled,
                "name": span.name,
            }
        )
        with self._lock, open(os.path.join(self._directory, f"{os.getpid()}.jsonl"), "a") as out:
            out.write(line + "\n")


def install() -> None:
    directory = os.environ.get("ORACLE_DIR")
    provider = trace.get_tracer_provider()
    if directory and hasattr(provider, "add_span_processor"):
        provider.add_span_processor(IntervalRecorder(directory))
