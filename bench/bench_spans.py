"""Span overhead: the SDK alone vs the SDK with this package, in one run (µs per span, µs added).

Two worker processes, each with a TracerProvider, a BatchSpanProcessor and a null exporter; the package is loaded
only in the second (it patches the SDK's span processor class, so a baseline in the same process would pay for it
too). Rounds alternate between them so machine noise hits both alike; the fastest round of each is kept (the least
disturbed estimate of the work itself).

On a small shared VM wall-clock noise (about ±1 µs per span between runs) is larger than what a child span adds,
so where valgrind is installed the added cost is also counted in instructions (callgrind: deterministic), for
N and 3N spans of each shape, and converted to µs at the SDK's own measured µs per instruction.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OTEL_PYTHON_COST_INSTANCE_TYPE", "m5.large")
os.environ.setdefault("OTEL_PYTHON_COST_PRICING_API", "false")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("OTEL_PYTHON_COST_STORE_URL", "none")  # never the user's data dir

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler
from opentelemetry.trace import set_span_in_context

from opentelemetry_instrumentation_cost import CostInstrumentor
from scripts.harness import callgrind_threads


class NullExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def provider(sampler: Sampler | None = None) -> TracerProvider:
    tp = TracerProvider(sampler=sampler, shutdown_on_exit=False)
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


class Worker:
    """A process that times rounds of traces when asked (``--serve base|cost``): one line in, seconds out."""

    def __init__(self, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def round(self, children: int, n: int, dropped: bool = False) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{children} {n} {int(dropped)}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


def _serve(mode: str) -> None:
    if mode == "cost":
        CostInstrumentor().instrument()
        CostInstrumentor().runtime.settled.wait(5)
    tracers = provider().get_tracer("bench"), provider(ALWAYS_OFF).get_tracer("bench")
    for line in sys.stdin:
        children, n, dropped = map(int, line.split())
        print(run(tracers[dropped], children, n), flush=True)


def measure(
    base: Worker, cost: Worker, children: int, rounds: int = 25, n: int = 2000, dropped: bool = False
) -> tuple[float, float]:
    base_t, cost_t = [], []
    for _ in range(rounds):
        base_t.append(base.round(children, n, dropped))
        cost_t.append(cost.round(children, n, dropped))
    return min(base_t), min(cost_t)


def _instructions(mode: str, shape: str, n: int) -> tuple[int, int]:
    """Instructions run by (the thread that made the spans, every other thread) in one counted process."""
    cmd = [sys.executable, __file__, "--count", mode, shape, str(n)]
    return callgrind_threads(cmd, {**os.environ, "PYTHONHASHSEED": "0"})


def _count_worker(mode: str, shape: str, n: int) -> None:
    """Run under callgrind: ``n`` spans of one shape (root-only traces, or children of one open root).

    The package's flush (folding ended roots into rows, metrics) runs on a thread of its own, as the flusher does
    in an app, so that it is counted as background work, not as the spans' own.
    """
    runtime = None
    if mode == "cost":
        CostInstrumentor().instrument()
        runtime = CostInstrumentor().runtime
        runtime.settled.wait(5)
    tp = provider(ALWAYS_OFF if shape == "dropped" else None)  # dropped: every root dropped by the sampler
    tracer = tp.get_tracer("bench")
    ctx = set_span_in_context(tracer.start_span("root"))
    for _ in range(200):  # warm up both paths
        tracer.start_span("warm", context=ctx).end()
        tracer.start_span("warm").end()
    gc.collect()  # both runs start with the same collector state (else one full collection more or less shows)
    name = "root"
    if shape == "rejected" and runtime is not None:  # every root named past the transaction cap
        for i in range(runtime.settings.max_transactions):
            runtime.names.admit(f"route {i}")
        name = "past the cap"
    for _ in range(n):
        if shape == "child":
            tracer.start_span("child", context=ctx).end()
        else:
            tracer.start_span(name).end()
    flush = threading.Thread(target=tp.force_flush if runtime is None else lambda: (runtime.flush(), tp.force_flush()))
    flush.start()
    flush.join()


def _instruction_table(sdk_us_per_span: float, n: int = 1000) -> None:
    print(f"\ninstructions per span (callgrind, ({3 * n} spans - {n} spans) / {2 * n}):")
    print(f"{'span':<8}{'SDK':>9}{'+cost':>9}{'added':>8}{'added µs':>10}  {'goal':<10}{'background':>11}{'bg µs':>7}")
    goals = {"child": "≤ 0.3 µs", "root": "≤ 4 µs", "rejected": "≤ root", "dropped": "≤ 20 µs"}
    sdk: list[float] = []  # the SDK's own instructions for a child and a root: the measured µs per span is their mean
    for shape in ("child", "root", "rejected", "dropped"):
        per: dict[str, tuple[float, float]] = {}
        for mode in ("base", "cost"):
            (m1, b1), (m3, b3) = _instructions(mode, shape, n), _instructions(mode, shape, 3 * n)
            per[mode] = ((m3 - m1) / (2 * n), (b3 - b1) / (2 * n))
        added = per["cost"][0] - per["base"][0]
        background = per["cost"][1] - per["base"][1]
        if len(sdk) < 2:
            sdk.append(per["base"][0])
        to_us = sdk_us_per_span / (sum(sdk) / len(sdk))  # one rate for every row (a dropped root runs far fewer)
        print(
            f"{shape:<8}{per['base'][0]:>9.0f}{per['cost'][0]:>9.0f}{added:>8.0f}{added * to_us:>10.2f}  "
            f"{goals[shape]:<10}{background:>11.0f}{background * to_us:>7.2f}"
        )
    print(
        "added: on the thread that makes the spans; background: every other thread (the package's flusher: "
        "folding ended roots into rows and metrics; the SDK's batch exporter in both runs); rejected: a root whose "
        "name is past OTEL_PYTHON_COST_MAX_TRANSACTIONS (counted as <other>); dropped: a root the sampler drops "
        "(always_off), which the package records (RECORD_ONLY) against the SDK's NonRecordingSpan"
    )


def main() -> None:
    base, cost = Worker("base"), Worker("cost")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"{'trace shape':<28}{'SDK µs/span':>12}{'+cost µs/span':>15}{'ratio':>8}")
    results = {}
    for children in (1, 10):
        b, c = measure(base, cost, children)
        spans = children + 1
        results[children] = (b, c)
        print(
            f"{'root + ' + str(children) + ' child(ren)':<28}{b / spans * 1e6:>12.2f}{c / spans * 1e6:>15.2f}"
            f"{c / b:>8.3f}"
        )
    b, c = measure(base, cost, 0, dropped=True)
    added = f"(+{(c - b) * 1e6:.2f} µs per root; goal ≤ 20 µs)"
    print(f"{'root dropped by the sampler':<28}{b * 1e6:>12.2f}{c * 1e6:>15.2f}{c / b:>8.3f}  {added}")
    base.close()
    cost.close()
    b1 = results[1][0]
    print("(wall clock on a small shared VM moves by about ±1 µs per span between runs: the instruction counts below")
    print(" are the figures to trust)")
    if shutil.which("valgrind"):
        _instruction_table(b1 / 2 * 1e6)
    else:
        print("(valgrind not installed: no instruction counts)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--count"]:
        _count_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1:2] == ["--serve"]:
        _serve(sys.argv[2])
    else:
        main()
