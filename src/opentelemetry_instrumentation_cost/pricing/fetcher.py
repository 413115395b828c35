"""Asks the Price List API for a service's unit prices in a region the first time a call needs them, on a thread of
its own: the call that asked is priced from the cache or the snapshot (or is unknown), the ones after it from the
API. Each (service, region) is asked once per process; the answer is cached on disk for the next processes."""

from __future__ import annotations

import os
import threading
from collections import deque

from .._log import error_once
from .book import PriceBook


class UnitFetcher:
    def __init__(self, book: PriceBook) -> None:
        self._book = book
        self._asked: set[tuple[str, str]] = set()
        self._queue: deque[tuple[str, str]] = deque()
        self._wake = threading.Event()
        self._pid = 0  # the process whose thread runs: a forked child starts its own
        book.wants = self.want

    def want(self, service: str, region: str) -> None:
        """On the request path: a set look-up, and once per (service, region) a queue append."""
        key = (service, region)
        if key in self._asked and self._pid == os.getpid():
            return
        if self._pid != os.getpid():  # first use, or a forked child: what the parent had not fetched is asked again
            self._pid = os.getpid()
            self._asked = set(self._book.fetched())
            self._queue = deque(k for k in self._queue if k not in self._asked)
            self._wake = threading.Event()
            threading.Thread(
                target=self._run, args=(self._wake, self._queue), name="otel-cost-prices", daemon=True
            ).start()
        if key not in self._asked:
            self._asked.add(key)
            self._queue.append(key)
        self._wake.set()

    def _run(self, wake: threading.Event, queue: deque[tuple[str, str]]) -> None:
        while True:
            wake.wait()
            wake.clear()
            while queue:
                service, region = queue.popleft()
                try:
                    self._book.fetch_units(service, region)
                except Exception:
                    error_once("fetch-units", "cost: fetching unit prices failed")
