"""Property-based: any interleaving of start/end across threads conserves cost and never goes negative; on real
spans, so do roots ended, dropped without end() or handed on within their trace, in any order."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opentelemetry_instrumentation_cost.attribution.ledger import NS_PER_HOUR, ComputeLedger, Token

pytestmark = pytest.mark.usefixtures("both_ledger_paths")  # the C hot path and the Python path alike

# a schedule: for each step, which worker acts, and how far the clock moves (possibly not at all)
steps = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 10_000)), min_size=1, max_size=300)


@settings(max_examples=200, deadline=None)
@given(schedule=steps, rate_changes=st.lists(st.floats(0.0, 10.0), max_size=3))
def test_any_interleaving_conserves_cost(schedule: list[tuple[int, int]], rate_changes: list[float]) -> None:
    ledger = ComputeLedger(0)
    ledger.set_rate(NS_PER_HOUR / 1e9, 0)  # 1 USD per second of clock
    clock = 0
    open_tokens: dict[int, object] = {}
    costs: list[float] = []
    changes = list(rate_changes)
    for i, (worker, dt) in enumerate(schedule):
        clock += dt
        if changes and i % 50 == 49:
            ledger.set_rate(changes.pop() * 3600, clock)
        token = open_tokens.pop(worker, None)
        if token is None:
            open_tokens[worker] = ledger.open(clock, Token(worker % 3 + 1, i + 1))  # traces shared: nesting
        else:
            cost = ledger.close(token, clock)  # type: ignore[arg-type]
            assert cost is not None and cost >= 0.0
            costs.append(cost)
    for token in open_tokens.values():
        costs.append(ledger.close(token, clock) or 0.0)  # type: ignore[arg-type]
    totals = ledger.totals(clock)
    assert totals.in_flight == 0 and ledger.roots == {}  # roots of one trace end in any order
    assert totals.idle_usd >= 0.0
    assert abs(sum(costs) + totals.idle_usd - totals.host_usd) <= 1e-9 * max(1.0, totals.host_usd)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), threads=st.integers(2, 8))
def test_real_threads_conserve_cost(seed: int, threads: int) -> None:
    import random

    ledger = ComputeLedger(0)
    ledger.set_rate(NS_PER_HOUR / 1e9, 0)
    clock = [0]
    lock = threading.Lock()
    costs: list[float] = []

    def now() -> int:
        with lock:
            clock[0] += 7
            return clock[0]

    def worker(n: int) -> None:
        rnd = random.Random(seed + n)
        for i in range(200):
            token = ledger.open(now(), Token(n * 1000 + i, 1))
            for _ in range(rnd.randint(0, 3)):
                now()
            cost = ledger.close(token, now())
            with lock:
                costs.append(cost or 0.0)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    totals = ledger.totals(clock[0])
    assert min(costs) >= 0.0 and totals.in_flight == 0
    assert abs(sum(costs) + totals.idle_usd - totals.host_usd) <= 1e-9 * totals.host_usd


# operations on real SDK spans: a new local root, a root handed the trace of an open one (remote parent, as an
# in-process consumer gets it), a child of an open root, ending an open span, and dropping one without end()
span_ops = st.lists(
    st.tuples(st.sampled_from(["root", "handoff", "child", "end", "drop"]), st.integers(0, 1_000)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=25, deadline=None)
@given(ops=span_ops)
def test_roots_ended_dropped_or_handed_on_in_any_order_conserve_cost(ops: list[tuple[str, int]]) -> None:
    import gc
    import tempfile
    from time import time_ns

    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

    from opentelemetry_instrumentation_cost.store.sqlite import SQLiteStore
    from tests.inprocess import instrumented, memory_provider, offline_settings

    with tempfile.TemporaryDirectory() as tmp:
        provider, exporter = memory_provider()
        tracer = provider.get_tracer("t")
        settings_ = offline_settings(store_url=f"sqlite:///{tmp}/c.db", flush_interval_s=3600)
        dropped = 0
        with instrumented(settings_, tracer_provider=provider) as inst:
            runtime = inst.runtime
            assert runtime is not None
            roots: list = []
            children: list = []
            for op, n in ops:
                if op == "root" or (op in ("handoff", "child") and not roots):
                    roots.append(tracer.start_span(f"root {len(roots) % 3}"))
                elif op == "handoff":
                    ctx = roots[n % len(roots)].get_span_context()
                    remote = SpanContext(ctx.trace_id, ctx.span_id, is_remote=True, trace_flags=TraceFlags(1))
                    roots.append(tracer.start_span("consumer", context=set_span_in_context(NonRecordingSpan(remote))))
                elif op == "child":
                    children.append(tracer.start_span("child", context=set_span_in_context(roots[n % len(roots)])))
                elif op == "end" and roots:
                    roots.pop(n % len(roots)).end()
                elif op == "drop" and roots:
                    del roots[n % len(roots)]
                    gc.collect()  # a dropped root and its ``end`` refer to each other
                    dropped += 1
            for span in roots + children:
                span.end()
            roots.clear()
            assert runtime.flush()
            totals = runtime.ledger.totals(time_ns())
            assert totals.in_flight == 0 and runtime.ledger.roots == {}
            assert totals.attributed_usd + totals.idle_usd == pytest.approx(totals.host_usd, rel=1e-9)
        store = SQLiteStore(Path(tmp) / "c.db")
        rows = store.rows(0)
        store.close()
    ended = [s for s in exporter.get_finished_spans() if s.name != "child"]
    assert all(s.attributes["cost.compute.usd"] >= 0 for s in ended)
    unended = [r for r in rows if r[2] == "<unended>"]  # columns: bucket, service, transaction, ..., count (5),
    unended_usd = sum(r[7] for r in unended)  # sum_usd (6), compute_usd (7), ...
    assert sum(r[5] for r in unended) == dropped
    assert sum(s.attributes["cost.compute.usd"] for s in ended) + unended_usd == pytest.approx(
        totals.attributed_usd, rel=1e-9, abs=1e-18
    )
