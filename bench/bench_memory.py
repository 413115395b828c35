"""Memory: resident set size after 100,000 local roots, the SDK alone vs the SDK with this package, in one run.

Each side is a fresh process (the package patches the SDK's classes, so a baseline in the same process would carry
it): a TracerProvider with a BatchSpanProcessor and a null exporter, root-only traces (every span a local root),
the package's flusher running as in an app (its store "none", so nothing is written), and on both sides the
instrumentation framework ``opentelemetry-instrument`` loads for any instrumentation. RSS is read from
``/proc/self/status`` after the roots and a flush, and the growth over the process's own RSS before the roots is
printed with it.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOTS = 100_000


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _worker(mode: str) -> None:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Null(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    # what opentelemetry-instrument loads for any instrumentation (importlib.metadata, packaging, asyncio, ...):
    # both sides have it, so the difference is the package's own
    import opentelemetry.instrumentation.instrumentor  # noqa: F401

    runtime = None
    if mode == "cost":
        from opentelemetry_instrumentation_cost import CostInstrumentor

        CostInstrumentor().instrument()
        runtime = CostInstrumentor().runtime
        runtime.settled.wait(5)  # type: ignore[union-attr]
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(BatchSpanProcessor(Null()))
    tracer = tp.get_tracer("bench")
    for _ in range(1000):  # warm up
        tracer.start_span("root").end()
    tp.force_flush()
    gc.collect()
    before = _rss_kb()
    for i in range(ROOTS):
        tracer.start_span("root").end()
        if i % 2000 == 0:  # a paced app: the exporter keeps up instead of dropping
            tp.force_flush()
    tp.force_flush()
    if runtime is not None:
        runtime.flush()
    gc.collect()
    print(before, _rss_kb())


def main() -> None:
    env = {
        **os.environ,
        "OTEL_PYTHON_COST_INSTANCE_TYPE": "m5.large",
        "OTEL_PYTHON_COST_PRICING_API": "false",
        "AWS_EC2_METADATA_DISABLED": "true",
        "OTEL_PYTHON_COST_STORE_URL": "none",
    }
    got = {}
    for mode in ("sdk", "cost"):
        out = subprocess.run(
            [sys.executable, __file__, "--worker", mode], env=env, capture_output=True, text=True, check=True
        ).stdout
        got[mode] = tuple(int(x) for x in out.split())
    print(f"python {sys.version.split()[0]}; RSS after {ROOTS:,} local roots (kB)")
    print(f"{'':<10}{'before':>10}{'after':>10}{'grown':>10}")
    for mode, (before, after) in got.items():
        print(f"{mode:<10}{before:>10}{after:>10}{after - before:>10}")
    added = got["cost"][1] - got["sdk"][1]
    print(f"the package: +{added / 1024:.1f} MB of RSS after the roots (goal: ≤ 5 MB over the SDK's)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2])
    else:
        main()
