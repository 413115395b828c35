"""An independent, offline computation of fair shares from exported span intervals (the test oracle)."""

from __future__ import annotations


def fair_shares(intervals: list[tuple[int, int]], usd_per_hour: float) -> tuple[list[float], float]:
    """Each interval's share of ``usd_per_hour`` split equally among overlapping intervals, and the idle cost
    between the first start and the last end. A plain sweep over sorted events: O(n log n), unlike the engine."""
    rate = usd_per_hour / 3.6e12
    events = sorted(
        [(s, 1, i) for i, (s, _) in enumerate(intervals)] + [(e, -1, i) for i, (_, e) in enumerate(intervals)]
    )
    shares = [0.0] * len(intervals)
    active: set[int] = set()
    idle = 0.0
    last = events[0][0]
    for t, kind, i in events:
        dt = t - last
        if dt > 0:
            if active:
                for j in active:
                    shares[j] += rate * dt / len(active)
            else:
                idle += rate * dt
        last = t
        if kind == 1:
            active.add(i)
        else:
            active.discard(i)
    return shares, idle
