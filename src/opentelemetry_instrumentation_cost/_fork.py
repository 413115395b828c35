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


def renew_lock_after_fork(owner: Any, attr: str = "_lock") -> None:
    """``owner.<attr>`` becomes a new ``threading.Lock`` in every forked child (``owner`` is held weakly)."""
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.ref(owner)

    def renew() -> None:
        obj = ref()
        if obj is not None:
            setattr(obj, attr, threading.Lock())

    os.register_at_fork(after_in_child=renew)


def hold_lock_across_fork(owner: Any, wait_s: float, attr: str = "_lock") -> None:
    """A fork first waits (at most ``wait_s``) for whoever holds ``owner.<attr>``, so that what it guards is never
    copied in the middle of a change; the parent lets go after. The child's copy stays held: ``owner`` makes its
    own anew in its ``after_fork`` (``owner`` is held weakly)."""
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.ref(owner)
    held: list[Any] = []

    def before() -> None:
        obj = ref()
        lock = None if obj is None else getattr(obj, attr)
        if lock is not None and lock.acquire(timeout=wait_s):
            held.append(lock)

    def in_parent() -> None:
        while held:
            held.pop().release()

    def in_child() -> None:
        held.clear()

    os.register_at_fork(before=before, after_in_parent=in_parent, after_in_child=in_child)
