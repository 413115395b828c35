"""The running integral on its own: exact values for hand-built interleavings."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from opentelemetry_instrumentation_cost.attribution.ledger import NS_PER_HOUR, ComputeLedger, Token

pytestmark = pytest.mark.usefixtures("both_ledger_paths")  # the C hot path and the Python path alike

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


@pytest.mark.parametrize("idle_taken", [False, True])
def test_a_late_open_gets_its_fair_share_from_the_hosts_idle(idle_taken: bool) -> None:
    """B starts at 2 s but reaches the ledger after A (1 s to 3 s) has closed, as a Flask root does whose start
    time is taken at the WSGI entry. A has been charged the whole of 2-3 s; B's half of it comes out of the host's
    idle: the idle of 0-1 s, or, once that was taken, the next idle time (4-5 s). Conservation holds."""
    led = ComputeLedger(0)
    led.set_rate(RATE, 0)
    taken = 0.0
    a = led.open(1 * S, Token(1, 1))
    if idle_taken:
        taken += led.take(1 * S)[0]
        assert taken == pytest.approx(0.001)
    assert led.close(a, 3 * S) == pytest.approx(0.002)  # alone, as far as the ledger knew
    b = led.open(2 * S, Token(2, 1))
    assert led.close(b, 4 * S) == pytest.approx(0.0015)  # exact: 0.0005 shared + 0.001 alone
    after_b = led.take(4 * S)[0]
    assert after_b == pytest.approx(0.0 if idle_taken else 0.0005)  # 0: what it borrowed is not repaid yet
    taken += after_b + led.take(5 * S)[0]
    assert 0.002 + 0.0015 + taken == pytest.approx(0.005) == pytest.approx(led.totals(5 * S).host_usd)


def test_a_late_open_borrows_at_most_a_second_of_idle() -> None:
    """With no idle ever (A opened at 0, the idle taken), B late by 3 s can borrow one second's worth of the host
    (0.001 USD here) and goes without the rest of its half of A's 3 s: never a negative idle beyond the bound."""
    led = ComputeLedger(0)
    led.set_rate(RATE, 0)
    a = led.open(0, Token(1, 1))
    assert led.close(a, 4 * S) == pytest.approx(0.004)
    b = led.open(1 * S, Token(2, 1))  # the fair half of 1-4 s is 0.0015; 0.001 can be borrowed
    assert led.close(b, 4 * S) == pytest.approx(0.001)
    assert led.totals(4 * S).idle_usd == pytest.approx(-0.001)


def test_a_root_a_little_late_leaves_the_roots_total_exact() -> None:
    """Late by 1 ms (under ``BORROW_AFTER_NS``): B goes without what A, already ended, had too much, so the roots'
    total and the idle stay what they were (A's extra is B's loss)."""
    ms = S // 1000
    led = ComputeLedger(0)
    led.set_rate(RATE, 0)
    a = led.open(1 * ms, Token(1, 1))
    cost_a = led.close(a, 3 * ms)
    b = led.open(2 * ms, Token(2, 1))
    cost_b = led.close(b, 4 * ms)
    assert cost_a == pytest.approx(2e-6) and cost_b == pytest.approx(1e-6)  # fair: 1.5e-6 each
    totals = led.totals(4 * ms)
    assert totals.idle_usd == pytest.approx(1e-6)  # 0-1 ms, untouched
    assert cost_a + cost_b + totals.idle_usd == pytest.approx(totals.host_usd)


@pytest.mark.parametrize("records_its_pid", [True, False])
def test_a_process_killed_holding_the_host_lock_does_not_stall_the_others(
    tmp_path: Path, records_its_pid: bool
) -> None:
    """The host's mutex is a semaphore in shared memory, which the kernel does not give back when its holder dies.
    A process SIGKILLed while holding it (in its few microseconds, or, here, on purpose) is found by the next one
    that waits for it: dead holder, within 0.25 s of waiting; a holder that died before writing its pid, 2 s."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from opentelemetry_instrumentation_cost.attribution.hostfile import open_region
    from opentelemetry_instrumentation_cost.attribution.region import H_HOLDER

    led = ComputeLedger(time.time_ns(), open_region(tmp_path), "survivor")
    led.set_rate(RATE, time.time_ns())
    take = "R.acquire()" if records_its_pid else "R._sem.acquire()"
    script = (
        "import sys; from pathlib import Path; "
        "from opentelemetry_instrumentation_cost.attribution.hostfile import open_region; "
        "from opentelemetry_instrumentation_cost.attribution.ledger import ComputeLedger; "
        f"R = ComputeLedger(0, open_region(Path({str(tmp_path)!r})), 'victim').region; {take}; "
        "print('holding', flush=True); sys.stdin.read()"
    )
    victim = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert victim.stdout is not None and victim.stdout.readline() == "holding\n"
    assert led.region.q[H_HOLDER] == (victim.pid if records_its_pid else 0)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    t0 = time.monotonic()
    token = led.open(time.time_ns(), Token(1, 1))
    waited = time.monotonic() - t0
    assert led.close(token, time.time_ns()) is not None
    assert waited < (1.0 if records_its_pid else 3.0), waited
    assert led.region.q[H_HOLDER] == 0


def test_a_process_whose_roots_were_all_stored_leaves_nothing_to_reap() -> None:
    """Stored roots are subtracted from the slot's unstored compute; when none are left it is exactly zero (a float
    residue was reaped, after a worker's normal exit, as "ended without storing its last aggregates")."""
    from opentelemetry_instrumentation_cost.attribution.region import S_UNFLUSHED, S_UNFLUSHED_N

    led = ComputeLedger(0)
    led.set_rate(RATE, 0)
    costs = []
    for i in range(10):
        token = led.open(i * S // 7, Token(i, 1))
        costs.append(led.close(token, i * S // 7 + S // 3) or 0.0)
    led.flushed(7, sum(costs[:7]))
    led.flushed(3, costs[7] + costs[8] + costs[9])
    slot = led.region.slot
    assert led.region.q[slot + S_UNFLUSHED_N] == 0 and led.region.f[slot + S_UNFLUSHED] == 0.0
