"""The running integral on its own: exact values for hand-built interleavings."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from opentelemetry_instrumentation_cost.attribution.ledger import NS_PER_HOUR, ComputeLedger, Token

S = 1_000_000_000  # one second in ns
RATE = 3.6  # USD per hour = 0.001 USD per second


def test_two_overlapping_roots_share_the_overlap() -> None:
    led = ComputeLedger(0)
    led.set_rate(RATE, 0)
    a = led.open(1 * S, Token(1, 1))
    b = led.open(2 * S, Token(2, 1))
    cost_a, partial_a = led.close(a, 3 * S), a.partial  # alone 1 s, shared 1 s
    cost_b = led.close(b, 5 * S)  # shared 1 s, alone 2 s
    assert cost_a == pytest.approx(0.001 * 1.5) and not partial_a
    assert cost_b == pytest.approx(0.001 * 2.5)
    totals = led.totals(6 * S)
    assert totals.idle_usd == pytest.approx(0.001 * 2)  # 0-1 s and 5-6 s
    assert totals.host_usd == pytest.approx(0.006)
    assert totals.attributed_usd + totals.idle_usd == pytest.approx(totals.host_usd)


def test_rate_change_applies_from_then_on() -> None:
    led = ComputeLedger(0)
    led.set_rate(RATE, 0)
    a = led.open(0, Token(1, 1))
    led.set_rate(RATE * 2, 1 * S)
    cost = led.close(a, 2 * S)
    assert cost == pytest.approx(0.001 + 0.002)
    assert led.totals(2 * S).host_usd == pytest.approx(0.003)


def test_unknown_price_gives_none_and_partial_gives_a_marker() -> None:
    led = ComputeLedger(0)
    a = led.open(0, Token(1, 1))
    assert led.close(a, S) is None and a.partial
    b = led.open(S, Token(2, 1))
    led.set_rate(RATE, 2 * S)
    cost, partial = led.close(b, 3 * S), b.partial
    assert cost == pytest.approx(0.001) and partial


def test_first_price_applies_from_creation() -> None:
    led = ComputeLedger(0)
    led.set_rate(RATE, 5 * S)  # detection took 5 s; no root had opened
    assert led.totals(5 * S).idle_usd == pytest.approx(0.005)


def test_time_going_backwards_never_gives_negative_cost() -> None:
    led = ComputeLedger(10 * S)
    led.set_rate(RATE, 10 * S)
    a = led.open(5 * S, Token(1, 1))  # an explicit start time in the past
    cost = led.close(a, 4 * S)
    assert cost == 0.0


def test_lambda_idle_is_not_billed() -> None:
    led = ComputeLedger(0)
    led.set_rate(RATE, 0, bills_idle=False)
    a = led.open(S, Token(1, 1))
    cost = led.close(a, 2 * S)
    totals = led.totals(10 * S)
    assert cost == pytest.approx(0.001) and totals.idle_usd == 0.0 and totals.host_usd == pytest.approx(0.001)


def test_roots_are_indexed_by_trace_with_nesting() -> None:
    led = ComputeLedger(0)
    outer = led.open(0, Token(7, 1))
    inner = led.open(1, Token(7, 2))  # a loopback call into the same process
    assert led.root_of(7) is inner
    assert led.open(1, Token(7, 2)) is inner  # one span reported twice opens once
    assert led.totals(1).in_flight == 2
    led.close(inner, 2)
    assert led.root_of(7) is outer
    led.close(outer, 3)
    assert led.root_of(7) is None


def test_roots_of_one_trace_may_end_in_any_order() -> None:
    """A request that hands work to an in-process consumer (same trace, remote parent) often ends before it:
    the ended outer root must leave the index, or it stays there for good and later children find it."""
    led = ComputeLedger(0)
    a = led.open(0, Token(7, 1))
    b = led.open(1, Token(7, 2))
    c = led.open(2, Token(7, 3))
    led.close(b, 3)  # the middle one first
    assert led.root_of(7) is c
    led.close(a, 4)  # then the outermost
    assert led.root_of(7) is c
    led.close(c, 5)
    assert led.root_of(7) is None and led.roots == {}


def test_threads_conserve_cost() -> None:
    led = ComputeLedger(0)
    led.set_rate(NS_PER_HOUR / S, 0)  # 1 USD per second of ns clock
    clock = [0]
    lock = threading.Lock()
    costs: list[float] = []

    def tick() -> int:
        with lock:
            clock[0] += random.randint(0, 1000)
            return clock[0]

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        for i in range(500):
            token = led.open(tick(), Token(seed * 10_000 + i, 1))
            if rnd.random() < 0.5:
                tick()
            c = led.close(token, tick())
            costs.append(c or 0.0)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    totals = led.totals(clock[0])
    assert totals.in_flight == 0 and min(costs) >= 0.0
    assert sum(costs) + totals.idle_usd == pytest.approx(totals.host_usd, rel=1e-9)
    assert totals.host_usd == pytest.approx(clock[0] / S, rel=1e-9)


def test_processes_started_after_all_earlier_ones_died_share_one_new_session(tmp_path: Path) -> None:
    """A restart on the same boot: the file still holds the dead processes' slots. The first newcomer starts a
    new session; every later one joins it (before the fix the second wiped it again and found no free slot)."""
    import subprocess
    import sys

    script = (
        "import sys, time; from pathlib import Path; "
        "from opentelemetry_instrumentation_cost.attribution.hostfile import open_region; "
        "from opentelemetry_instrumentation_cost.attribution.ledger import ComputeLedger; "
        f"L = ComputeLedger(time.time_ns(), open_region(Path({str(tmp_path)!r})), 'p'); "
        "print(L.region.slot, flush=True); sys.stdin.read()"
    )

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    for _ in range(2):  # the second round finds the first round's dead slots
        procs = []
        for _ in range(3):
            procs.append(start())
            assert procs[-1].stdout is not None
            procs[-1].stdout.readline()
        from opentelemetry_instrumentation_cost.attribution.hostfile import read_host

        view = read_host(tmp_path)
        assert view is not None and sorted(p.pid for p in view.processes) == sorted(p.pid for p in procs)
        for p in procs:
            p.communicate("")
