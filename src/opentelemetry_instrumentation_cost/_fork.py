"""Locks that a forked child gets anew (a gunicorn ``--preload`` worker, a ``multiprocessing`` child).

A lock held by another thread at the fork stays held in the child, where that thread does not exist: the child's
first use would wait forever. The ledger, the aggregator and the flusher renew theirs in their own ``after_fork``;
every other lock of the package is registered here.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any


def renew_lock_after_fork(owner: Any, attr: str = "_lock", hold_s: float = 0.0) -> None:
    """``owner.<attr>`` becomes a new ``threading.Lock`` in every forked child (``owner`` is held weakly). With
    ``hold_s``, a fork first waits (at most that long) for whoever holds it: what the lock guards is then never
    copied in the middle of a change."""
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.ref(owner)
    held: list[Any] = []

    def before() -> None:
        obj = ref()
        if obj is not None and getattr(obj, attr).acquire(timeout=hold_s):
            held.append(getattr(obj, attr))

    def in_parent() -> None:
        while held:
            held.pop().release()

    def renew() -> None:
        held.clear()
        obj = ref()
        if obj is not None:
            setattr(obj, attr, threading.Lock())

    if hold_s > 0.0:
        os.register_at_fork(before=before, after_in_parent=in_parent, after_in_child=renew)
    else:
        os.register_at_fork(after_in_child=renew)
