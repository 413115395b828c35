"""Events that reach the ledger after later ones: a root's start or end time older than the integral's clock.

Across processes (and threads) an event is stamped when its span starts or ends, but it reaches the ledger when its
process next holds the lock: under load on a small machine a process is often preempted in between, and another
has already advanced the integral past that time. Taken at the lock's time, a sub-millisecond request can be
charged half or twice its share.

The ledger keeps the last ``RING`` events as checkpoints (time, roots in flight after the event) in its region.
A late open or close walks them back to its own time and computes exactly what the split over that window would
have been with it (``window``); the ledger then moves that amount between the late root and the others in flight
(or idle time), so conservation stays exact. Events older than the ring are counted from its oldest checkpoint.

What cannot be undone is the share of a root that closed inside the window: it is written on its span. A late open
takes that part from the host's idle not yet taken (so the late root is exact, the closed one keeps a little too
much, and idle is a little low), else goes without it. The usual late open is not preemption but an explicit start
time: Flask's instrumentation stamps the span at the WSGI entry, about 0.8 ms before it starts it (median measured
under ``gunicorn -w 4`` on 2 vCPUs), and a quarter of such roots reach the ledger after another process's event.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .region import H_ACC, H_IDLE, H_IDLE_TAKEN, H_LAST, H_RATE, H_RING_POS, RING, RING_BASE

# A checkpoint is one cell: ((the event's time - the session's start) mod 2**51 ns << N_BITS) | the roots in flight
# after it (more than N_MASK kept as N_MASK). The ledger writes it on its hot path (``_cells.c`` too); ``window``
# reads it, taking the time back from the integral's clock: the ring spans far less than 2**51 ns (26 days), a host
# session may last longer.
N_BITS = 12
N_MASK = (1 << N_BITS) - 1
T_MASK = (1 << (63 - N_BITS)) - 1


def checkpoint(since_start_ns: int, roots: int) -> int:
    return ((since_start_ns & T_MASK) << N_BITS) | (roots if roots < N_MASK else N_MASK)


class Window(NamedTuple):
    """What the split over [t, the integral's clock] was, and what it would have been with one more root."""

    idle: float  # the cost of the time with no root in flight
    overpaid: float  # what each root in flight had too much, had one more been in flight: Σ rate·dt / (n(n+1))
    member: float  # one root's share, for a root that was in flight throughout: Σ rate·dt / n
    alone: float  # the cost of the time with a single root in flight (idle, had that root not been there)
    fair: float  # one more root's share of the busy time: Σ rate·dt / (n + 1)
    opened: bool  # whether a root opened inside (then not every root in flight now was in flight throughout)


def window(q: Any, f: Any, t: int, t0: int) -> Window:
    """The split over [t, the integral's clock], from the checkpoints."""
    rate = f[H_RATE]
    pos = q[H_RING_POS]
    points = []  # (time, roots in flight after), newest first, back to the first at or before t
    clock = q[H_LAST]
    since = clock - t0
    for back in range(1, min(pos, RING) + 1):
        cell = q[RING_BASE + (pos - back) % RING]
        start = clock - ((since - (cell >> N_BITS)) & T_MASK)
        points.append((start, cell & N_MASK))
        if start <= t:
            break
    idle = overpaid = member = alone = fair = 0.0
    opened = False
    end = clock
    for i, (start, n) in enumerate(points):
        if end > start:
            length = end - max(start, t)
            if n:
                overpaid += rate * length / (n * (n + 1))
                member += rate * length / n
                fair += rate * length / (n + 1)
                if n == 1:
                    alone += rate * length
            else:
                idle += rate * length
        if start > t and i + 1 < len(points) and n > points[i + 1][1]:
            opened = True
        end = start
    return Window(idle, overpaid, member, alone, fair, opened)


BORROW_AFTER_NS = 20_000_000  # a root this late takes its fair share whole (``backdate``)
IDLE_DEBT_NS = 1_000_000_000  # how much of the host's time such roots may borrow from the next idle time


def backdate(q: Any, f: Any, t0: int, t: int, others: int, acc: float) -> float:
    """A root opened at ``t``, before the integral's clock (under the region's lock). Returns the ``acc`` it opened at.

    The idle time in the window was its alone. The ``others`` in flight now, if every one of them was in flight
    throughout, each give back exactly what they had too much. What roots that closed inside the window had too
    much is already written on their spans: a root a little late (the usual case) goes without it, which keeps the
    roots' total exact. A root later than ``BORROW_AFTER_NS`` (its process stalled between its start time and its
    open) would lose most of its share: it takes its fair share whole, the rest borrowed from the host's idle, which
    may owe up to ``IDLE_DEBT_NS`` of the host's time to the next idle time (``ComputeLedger.take`` reports no idle
    until it is repaid). No root in flight is charged for it: no share may turn negative."""
    w = window(q, f, t, t0)
    given = 0.0
    if others and not w.opened:
        f[H_ACC] = acc = acc - w.overpaid
        given = w.overpaid * others
    borrowed = 0.0
    if q[H_LAST] - t > BORROW_AFTER_NS:
        spare = f[H_IDLE] - w.idle - f[H_IDLE_TAKEN] + f[H_RATE] * IDLE_DEBT_NS
        borrowed = min(max(0.0, w.fair - given), max(0.0, spare))
    f[H_IDLE] -= w.idle + borrowed
    return acc - w.idle - given - borrowed


def overstay(q: Any, f: Any, t0: int, t: int, others: int, cost: float) -> float:
    """A root closed at ``t``, before the integral's clock: what it was charged after ``t`` goes back, to idle time
    where it was the only root in flight, else to the ``others`` still in flight. Returns what went back."""
    w = window(q, f, t, t0)
    over = max(0.0, min(cost, w.member))
    idle = min(over, w.alone)  # where it was alone the time was idle; the rest was the others'
    f[H_IDLE] += idle
    if others > 0:
        f[H_ACC] += (over - idle) / others
    else:
        f[H_IDLE] += over - idle
    return over
