"""The last flush, on every way the servers Python services run on end a process.

* A normal exit (gunicorn's graceful stop and ``--max-requests`` recycling, Celery's main process): ``atexit``.
* ``multiprocessing`` and billiard children leave through ``os._exit``, which skips ``atexit``: their own exit
  hooks (``Finalize``, registered in each child after the fork, which empties that registry). billiard's pool
  workers (Celery prefork, ``--max-tasks-per-child``) skip even those: ``Worker._do_exit`` is wrapped instead.
* SIGTERM left to the default action (a bare ``python app.py``, uvicorn re-raising it after its graceful shutdown,
  ``multiprocessing.Pool.terminate``): ``signals.TermChain``.

Hooks on modules the app may never import are wrapt post-import hooks, so importing the package imports nothing
more. SIGKILL loses what was not flushed yet (at most one flush interval); the host's other processes close the
dead one's shares within a second (``attribution/ledger.py``).
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from typing import Any

import wrapt

from .._log import error_once
from .signals import TermChain


class ExitHooks:
    """Registers ``final_flush`` once per process, whatever ends it; inert once ``active`` is False."""

    def __init__(self, final_flush: Callable[[], None]) -> None:
        self._final_flush = final_flush
        self.active = True
        self._term = TermChain(self.flush)
        self._installed = False
        self._flushing = threading.Lock()  # held while a last flush runs (a SIGTERM may arrive in its middle)

    def install(self) -> None:
        """The process-wide hooks once (they stay, inert, after ``uninstall``); the SIGTERM chain each time."""
        self.active = True
        if not self._installed:
            self._installed = True
            atexit.register(self.flush)
            wrapt.register_post_import_hook(self._util_imported, "multiprocessing.util")
            wrapt.register_post_import_hook(self._util_imported, "billiard.util")  # the same API, forked
            wrapt.register_post_import_hook(self._billiard_pool_imported, "billiard.pool")
        try:
            self._term.install()
        except Exception:
            error_once("sigterm-install", "cost: could not chain a SIGTERM handler; a SIGTERM loses the last flush")

    def uninstall(self) -> None:
        self.active = False
        try:
            self._term.uninstall()
        except Exception:
            error_once("sigterm-uninstall", "cost: could not restore the SIGTERM handler")

    def flush(self) -> None:
        """The last flush; one at a time. A SIGTERM handled in the middle of one (on the same thread: Python runs
        handlers between bytecodes) does not flush again: the process ends by that signal once this one is done."""
        if not self.active:
            return
        if not self._flushing.acquire(blocking=False):
            if self._term.handling:
                self._term.defer()
                return
            self._flushing.acquire()
        try:
            self._final_flush()
        finally:
            self._flushing.release()
            self._term.end_if_deferred()

    def _util_imported(self, util: Any) -> None:
        """``multiprocessing.util`` or ``billiard.util``: flush through its ``Finalize`` in each forked child."""
        util.register_after_fork(self, ExitHooks._at_child_exit_of(util))

    @staticmethod
    def _at_child_exit_of(util: Any) -> Callable[[ExitHooks], None]:
        def register(self: ExitHooks) -> None:
            try:
                util.Finalize(None, self.flush, exitpriority=10)
            except Exception:  # never hurt the child
                error_once("mp-exit", "cost: could not arrange the last flush of a child process")

        return register

    def _billiard_pool_imported(self, pool: Any) -> None:
        wrapt.wrap_function_wrapper(pool, "Worker._do_exit", self._worker_exit)

    def _worker_exit(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """A billiard pool worker ends with ``os._exit`` inside ``_do_exit``: flush before it."""
        try:
            self.flush()
        except Exception:
            error_once("billiard-exit", "cost: failed to store the last aggregates of a pool worker")
        return wrapped(*args, **kwargs)
