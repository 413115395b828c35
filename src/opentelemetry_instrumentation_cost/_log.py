"""Logging that cannot flood: each distinct problem is reported once, then at most once a minute."""

from __future__ import annotations

import logging
import sys
import threading
import time

from ._fork import renew_lock_after_fork

logger = logging.getLogger("opentelemetry_instrumentation_cost")

_INTERVAL_S = 60.0
_last: dict[str, float] = {}
_lock = threading.Lock()
renew_lock_after_fork(sys.modules[__name__])  # the flusher holds it to warn, every flush while the store is down


def _due(key: str) -> bool:
    now = time.monotonic()
    with _lock:
        last = _last.get(key)
        if last is not None and now - last < _INTERVAL_S:
            return False
        if len(_last) > 1000:  # keys come from our own call sites; bound anyway
            _last.clear()
        _last[key] = now
        return True


def warn_once(key: str, msg: str, *args: object) -> None:
    """Warn about a problem, rate-limited per key."""
    if _due(key):
        logger.warning(msg, *args)


def error_once(key: str, msg: str, *args: object) -> None:
    """Log an unexpected error in one of our hooks with its traceback, rate-limited per key."""
    if _due(key):
        logger.error(msg, *args, exc_info=True)
