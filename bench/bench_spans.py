"""Span overhead: the SDK alone vs the SDK with this package, in one run (µs per span, µs added).

Two TracerProviders in one process, each with a BatchSpanProcessor and a null exporter; the package is attached
only to the second. Rounds alternate between them so machine noise hits both alike; the fastest round of each is
kept (the least disturbed estimate of the work itself).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

os.environ.setdefault("OTEL_PYTHON_COST_INSTANCE_TYPE", "m5.large")
os.environ.setdefault("OTEL_PYTHON_COST_PRICING_API", "false")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import set_span_in_context

from opentelemetry_instrumentation_cost import CostInstrumentor


class NullExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def provider() -> TracerProvider:
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(BatchSpanProcessor(NullExporter(), max_queue_size=1 << 16))
    return tp


def run(tracer, children: int, n: int) -> float:
    """Seconds per trace (a local root with ``children`` children)."""
    start_span = tracer.start_span
    t0 = time.perf_counter()
    for _ in range(n):
        root = start_span("root")
        ctx = set_span_in_context(root)
        for _ in range(children):
            start_span("child", context=ctx).end()
        root.end()
    return (time.perf_counter() - t0) / n


def measure(children: int, rounds: int = 25, n: int = 2000) -> tuple[float, float]:
    base_t, cost_t = [], []
    for _ in range(rounds):
        base_t.append(run(BASE, children, n))
        cost_t.append(run(COST, children, n))
    return min(base_t), min(cost_t)


BASE = provider().get_tracer("bench")
CostInstrumentor().instrument()
COST = provider().get_tracer("bench")
CostInstrumentor().runtime.settled.wait(5)


def main() -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'trace shape':<28}{'SDK µs/span':>12}{'+cost µs/span':>15}{'ratio':>8}")
    results = {}
    for children in (1, 10):
        base, cost = measure(children)
        spans = children + 1
        results[children] = (base, cost)
        print(
            f"{'root + ' + str(children) + ' child(ren)':<28}{base / spans * 1e6:>12.2f}{cost / spans * 1e6:>15.2f}"
            f"{cost / base:>8.3f}"
        )
    (b1, c1), (b10, c10) = results[1], results[10]
    per_child = ((c10 - b10) - (c1 - b1)) / 9
    per_root = (c1 - b1) - per_child
    print(
        f"added per local root: {per_root * 1e6:.2f} µs (goal ≤ 4)   added per child span: {per_child * 1e6:.2f} µs "
        f"(goal ≤ 0.3)"
    )


if __name__ == "__main__":
    main()
