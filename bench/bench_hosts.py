"""The host-wide ledger under contention: µs added per local root with 1, 4 and 16 processes of one host making
roots at once, and with 1, 8 and 64 threads in one process; each against the same work with the package disabled
(the standard ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=cost``), in one run. Where valgrind is installed, the
instructions one process runs per root with the shared ledger, with the per-process ledger, and without the package.

Every process makes root-only traces (the worst case: every span opens and closes a share) for a fixed time on a
BatchSpanProcessor with a null exporter; the figure is the mean wall time per root over all processes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.harness import callgrind_threads  # noqa: E402

SECONDS = 3.0


def _worker(threads: int, seconds: float, out: str) -> None:
    """In a child: make roots on ``threads`` threads for ``seconds``; write "roots seconds" to ``out``."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Null(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    if os.environ.get("BENCH_COST") == "1":
        from opentelemetry_instrumentation_cost import CostInstrumentor

        CostInstrumentor().instrument()
        CostInstrumentor().runtime.settled.wait(5)  # type: ignore[union-attr]
    tp = TracerProvider(shutdown_on_exit=False)
    tp.add_span_processor(BatchSpanProcessor(Null(), max_queue_size=1 << 16))
    tracer = tp.get_tracer("bench")
    counts = [0] * threads
    start = threading.Barrier(threads + 1)

    def loop(i: int) -> None:
        start.wait()
        stop = time.perf_counter() + seconds
        n = 0
        span = tracer.start_span
        while time.perf_counter() < stop:
            for _ in range(100):
                span("root").end()
            n += 100
        counts[i] = n

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    Path(out).write_text(f"{sum(counts)} {time.perf_counter() - t0}")


def _run(processes: int, threads: int, cost: bool, ledger: str) -> float:
    """µs of wall time per root, per process (each process's elapsed × its threads ÷ its roots, averaged)."""
    env = {
        **os.environ,
        "BENCH_COST": "1" if cost else "0",
        "OTEL_PYTHON_COST_INSTANCE_TYPE": "m5.large",
        "OTEL_PYTHON_COST_PRICING_API": "false",
        "AWS_EC2_METADATA_DISABLED": "true",
        "OTEL_PYTHON_COST_STORE_URL": "none",
        "OTEL_PYTHON_COST_LEDGER_DIR": ledger,
    }
    with tempfile.TemporaryDirectory() as tmp:
        outs = [os.path.join(tmp, f"{i}.txt") for i in range(processes)]
        procs = [
            subprocess.Popen([sys.executable, __file__, "--worker", str(threads), str(SECONDS), out], env=env)
            for out in outs
        ]
        for p in procs:
            p.wait()
        per = []
        for out in outs:
            roots, seconds = Path(out).read_text().split()
            per.append(float(seconds) * threads / int(roots) * 1e6)
    return sum(per) / len(per)


def _instructions(mode: str, n: int, ledger: str) -> int:
    """Instructions on the main thread of one process making ``n`` roots (``mode``: sdk, process or host)."""
    env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        "OTEL_PYTHON_COST_LEDGER_DIR": ledger,
        "BENCH_COST": "0" if mode == "sdk" else "1",
        "OTEL_PYTHON_COST_INSTANCE_TYPE": "m5.large",
        "OTEL_PYTHON_COST_PRICING_API": "false",
        "AWS_EC2_METADATA_DISABLED": "true",
        "OTEL_PYTHON_COST_STORE_URL": "none",
    }
    if mode == "process":
        env["OTEL_PYTHON_COST_HOST_WIDE"] = "false"
    if mode == "python":
        env["OTEL_PYTHON_COST_NATIVE"] = "false"
    return callgrind_threads([sys.executable, __file__, "--count", str(n)], env)[0]


def _count(n: int) -> None:
    """Under callgrind: warm up, then ``n`` roots on the main thread."""
    from opentelemetry.sdk.trace import TracerProvider

    if os.environ.get("BENCH_COST") == "1":
        from opentelemetry_instrumentation_cost import CostInstrumentor

        CostInstrumentor().instrument()
        CostInstrumentor().runtime.settled.wait(5)  # type: ignore[union-attr]
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("bench")
    for _ in range(200):
        tracer.start_span("warm").end()
    for _ in range(n):
        tracer.start_span("root").end()


def main() -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; root-only traces for {SECONDS:g} s each")
    with tempfile.TemporaryDirectory() as ledger:
        print(f"{'setup':<28}{'SDK µs/root':>12}{'+cost µs/root':>15}{'added µs':>10}")
        for processes, threads in ((1, 1), (4, 1), (16, 1), (1, 8), (1, 64)):
            base = _run(processes, threads, False, ledger)
            cost = _run(processes, threads, True, ledger)
            label = f"{processes} process(es) × {threads} thread(s)"
            print(f"{label:<28}{base:>12.2f}{cost:>15.2f}{cost - base:>10.2f}")
        print("(µs per root per thread of wall time: with more threads or processes than the 2 vCPUs, each root's")
        print(" time includes waiting for a CPU, for the SDK alone as much as with the package)")
        if shutil.which("valgrind"):
            _instruction_table(ledger)


def _instruction_table(ledger: str, n: int = 2000) -> None:
    counts = {
        m: (_instructions(m, 3 * n, ledger) - _instructions(m, n, ledger)) / (2 * n)
        for m in ("sdk", "process", "host", "python")
    }
    print(f"\ninstructions per local root, one process (callgrind, ({3 * n} - {n}) / {2 * n}):")
    print(
        f"  SDK alone {counts['sdk']:.0f}; per-process ledger +{counts['process'] - counts['sdk']:.0f}; "
        f"host-wide ledger +{counts['host'] - counts['sdk']:.0f} (goal: ≤ 20,000 added); "
        f"host-wide, OTEL_PYTHON_COST_NATIVE=false +{counts['python'] - counts['sdk']:.0f}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
    elif sys.argv[1:2] == ["--count"]:
        _count(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--instructions"]:  # the callgrind table alone
        with tempfile.TemporaryDirectory() as tmp:
            _instruction_table(tmp)
    else:
        main()
