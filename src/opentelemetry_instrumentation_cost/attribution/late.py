"""Events that reach the ledger after later ones: a root's start or end time older than the integral's clock.

Across processes (and threads) an event is stamped when its span starts or ends, but it reaches the ledger when its
process next holds the lock: under load on a small machine a process is often preempted in between, and another
has already advanced the integral past that time. Taken at the lock's time, a sub-millisecond request can be
charged half or twice its share.

The ledger keeps the last ``RING`` events as checkpoints (time, roots in flight after the event) in its region.
A late open or close walks them back to its own time and computes exactly what the split over that window would
have been with it (``window``); the ledger then moves that amount between the late root and the others in flight
(or idle time), so conservation stays exact. Events older than the ring are counted from its oldest checkpoint.
"""

from __future__ import annotations

from typing import Any

from .region import H_LAST, H_RATE, H_RING_POS, RING, RING_BASE

# A checkpoint is one cell: ((the event's time - the session's start) << N_BITS) | the roots in flight after it
# (more than N_MASK kept as N_MASK). The ledger writes it on its hot path; ``window`` reads it.
N_BITS = 12
N_MASK = (1 << N_BITS) - 1


def window(q: Any, f: Any, t: int, t0: int) -> tuple[float, float, float, float, bool]:
    """Over [t, the integral's clock], from the checkpoints: the idle cost; what each root in flight there had too
    much had one more root been in flight (Σ rate·dt / (n(n+1))); one such root's share (Σ rate·dt / n); the cost
    of the segments with a single root in flight (idle, had that root not been there); and whether a root opened
    inside the window (then not every root in flight now was in flight throughout)."""
    rate = f[H_RATE]
    pos = q[H_RING_POS]
    points = []  # (time, roots in flight after), newest first, back to the first at or before t
    for back in range(1, min(pos, RING) + 1):
        cell = q[RING_BASE + (pos - back) % RING]
        start = (cell >> N_BITS) + t0
        points.append((start, cell & N_MASK))
        if start <= t:
            break
    idle = overpaid = member = alone = 0.0
    opened = False
    end = q[H_LAST]
    for i, (start, n) in enumerate(points):
        if end > start:
            length = end - max(start, t)
            if n:
                overpaid += rate * length / (n * (n + 1))
                member += rate * length / n
                if n == 1:
                    alone += rate * length
            else:
                idle += rate * length
        if start > t and i + 1 < len(points) and n > points[i + 1][1]:
            opened = True
        end = start
    return idle, overpaid, member, alone, opened
