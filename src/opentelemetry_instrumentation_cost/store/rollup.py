"""Per-minute rows become hourly after ``OTEL_PYTHON_COST_ROLLUP_DAYS`` days, so that a year of a fleet fits.

A minute is the grain an incident needs, for a day or two; after that an hour keeps every sum, count and maximum
at a sixtieth of the rows. The roll-up runs once a day in one process of the fleet at a time (the others see the
day done, or busy, and go on); a late batch for a day already rolled up is written hourly too, so a day is always
of one grain.
"""

from __future__ import annotations

import time

from .model import Key, Row, merge_row

DAY_S = 86400
KEY_LENGTH = 8  # ``model.Key``
HOUR_S = 3600


def first_minute_day(rollup_days: int, now: float | None = None) -> int:
    """The first UTC day (an epoch day number) still kept per minute: the days before it are hourly."""
    return int((time.time() if now is None else now) // DAY_S) - rollup_days


def hourly_where_due(rows: dict[Key, Row], rollup_days: int) -> dict[Key, Row]:
    """``rows`` as they are stored: those of rolled-up days moved to their hour, and every key with its customer
    (``""`` where a key made before customers has none), rows of one stored key merged (new rows: a batch is
    never changed, it may be retried)."""
    cutoff = first_minute_day(rollup_days) * DAY_S
    if all(key[0] >= cutoff and len(key) == KEY_LENGTH for key in rows):
        return rows
    out: dict[Key, Row] = {}
    for key, row in rows.items():
        if key[0] < cutoff:
            key = (key[0] // HOUR_S * HOUR_S, *key[1:])
        if len(key) < KEY_LENGTH:
            key = (*key, "")  # type: ignore[assignment]
        copy = Row(row.count, row.sum_usd, row.compute_usd, row.service_usd, row.max_usd, row.budget_exceeded)
        merge_row(out, key, copy)
    return out
