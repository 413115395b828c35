"""Property-based: any interleaving of start/end across threads conserves cost and never goes negative."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from opentelemetry_instrumentation_cost.attribution.ledger import NS_PER_HOUR, ComputeLedger, Token

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
