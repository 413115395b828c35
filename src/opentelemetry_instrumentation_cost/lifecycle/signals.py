"""SIGTERM that the app leaves to the default action: store the last aggregates, then end by that same signal.

A bare ``python app.py`` dies of SIGTERM without running ``atexit``; uvicorn stops gracefully on it, restores the
handler it found and raises the signal again, so the process ends the same way. Either way the aggregates since the
last flush would be lost. While the app's SIGTERM handler is the default, the package's handler stands in for it:
it flushes (bounded, as at exit), puts the default back and raises the signal again, so the process still ends by
SIGTERM with the same status. The app never sees it: ``signal.getsignal`` answers what the app set, and a handler
the app sets is installed as it asked (the package's comes back only when the app sets the default again).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from .._log import error_once

_TERM = signal.SIGTERM


class TermChain:
    """Stands in for the default SIGTERM action while the app has set no handler of its own."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._app: Any = None  # what the app believes is installed (None: not installed by us)
        self._signal: Callable[..., Any] = signal.signal
        self.handling = False  # in the handler now
        self._deferred = False  # a flush was in progress when SIGTERM came: end once it is done

    def install(self) -> None:
        """From the main thread only (Python allows handlers nowhere else); elsewhere, nothing changes."""
        if self._app is not None or threading.current_thread() is not threading.main_thread():
            return
        import wrapt

        current = signal.getsignal(_TERM)
        if current == signal.SIG_DFL:
            signal.signal(_TERM, self._on_term)
        self._app = current
        wrapt.wrap_function_wrapper(signal, "signal", self._set)
        wrapt.wrap_function_wrapper(signal, "getsignal", self._get)

    def uninstall(self) -> None:
        from opentelemetry.instrumentation.utils import unwrap

        if self._app is None:
            return
        unwrap(signal, "signal")
        unwrap(signal, "getsignal")
        if signal.getsignal(_TERM) == self._on_term:
            signal.signal(_TERM, self._app)
        self._app = None

    def _set(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        signum, handler = _arguments(*args, **kwargs)
        if signum != _TERM or self._app is None:
            return wrapped(*args, **kwargs)
        wrapped(signum, self._on_term if handler == signal.SIG_DFL else handler)  # raises where the app's would
        previous, self._app = self._app, handler
        return previous

    def _get(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        found = wrapped(*args, **kwargs)
        return self._app if found == self._on_term else found

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        self.handling = True
        try:
            self._flush()
        except Exception:  # never keep the process from ending as asked
            error_once("sigterm-flush", "cost: failed to store the last aggregates on SIGTERM")
        finally:
            self.handling = False
        if not self._deferred:
            self._end()

    def defer(self) -> None:
        """Called from the handler when a flush was already running below it: it ends the process when done."""
        self._deferred = True

    def end_if_deferred(self) -> None:
        if self._deferred and not self.handling:
            self._end()

    def _end(self) -> None:
        """The default action, as if the package had never been there: the process ends by SIGTERM."""
        self._signal(_TERM, signal.SIG_DFL)
        self._app = signal.SIG_DFL
        signal.raise_signal(_TERM)


def _arguments(signalnum: int, handler: Any) -> tuple[int, Any]:
    return signalnum, handler
