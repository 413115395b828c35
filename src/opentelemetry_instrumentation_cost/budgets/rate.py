"""Spend per transaction over a rolling hour in this process: 60 one-minute slots per transaction, O(1) to add."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .._fork import renew_lock_after_fork

SLOTS = 60
SLOT_S = 60


class RollingSpend:
    def __init__(self, clock: Callable[[], float] = time.time, max_transactions: int = 1000) -> None:
        self._clock = clock
        self._max = max_transactions
        self._lock = threading.Lock()
        renew_lock_after_fork(self)
        self._slots: dict[str, tuple[list[float], list[int]]] = {}  # name → (usd per slot, minute of each slot)

    def add(self, transaction: str, usd: float) -> None:
        minute = int(self._clock() // SLOT_S)
        with self._lock:
            slots = self._slots.get(transaction)
            if slots is None:
                if len(self._slots) >= self._max:
                    return  # names are already capped upstream; this is a second bound
                slots = self._slots[transaction] = ([0.0] * SLOTS, [-1] * SLOTS)
            usd_by_slot, minutes = slots
            i = minute % SLOTS
            if minutes[i] != minute:
                usd_by_slot[i], minutes[i] = 0.0, minute
            usd_by_slot[i] += usd

    def last_hour(self, transaction: str) -> float:
        minute = int(self._clock() // SLOT_S)
        with self._lock:
            slots = self._slots.get(transaction)
            if slots is None:
                return 0.0
            usd_by_slot, minutes = slots
            return sum(u for u, m in zip(usd_by_slot, minutes, strict=True) if minute - SLOTS < m <= minute)
