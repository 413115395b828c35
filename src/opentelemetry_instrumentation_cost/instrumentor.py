"""``CostInstrumentor``: the entry point ``opentelemetry-instrument`` loads as ``cost``."""

from __future__ import annotations

import atexit
import os
import weakref
from collections.abc import Collection
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.sdk.trace import TracerProvider
from wrapt import wrap_function_wrapper

from ._log import error_once
from .attribution import processor
from .aws.hooks import BotocoreHooks
from .config import Settings
from .package import _instruments
from .runtime import CostRuntime
from .transactions.propagator import TransactionPropagator


class CostInstrumentor(BaseInstrumentor):
    """Puts an estimated USD cost on every local root span, with no change to the app.

    Every SDK ``TracerProvider`` (the global one now, and any the app builds later) reports its local roots, so
    tracers obtained before the package loaded are covered too, whatever order instrumentors load in: the SDK's
    multi-processors are patched (``attribution/processor.py``), and a provider with another active processor
    gets a fallback processor when it is seen.
    """

    runtime: CostRuntime | None = None
    _aws: BotocoreHooks | None = None
    _propagator: TransactionPropagator | None = None
    _atexit = False
    _fork_hook = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        settings = kwargs.get("settings") or Settings.from_env()
        self.runtime = CostRuntime(settings, meter_provider=kwargs.get("meter_provider"))
        if not self._fork_hook and hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._after_fork)
            os.register_at_fork(after_in_child=lambda: (m := ref()) and m())
            self._fork_hook = True
        processor.DETECTOR.use(self.runtime.tracker)
        processor.install()
        provider = kwargs.get("tracer_provider") or trace.get_tracer_provider()
        self._attach(provider)
        wrap_function_wrapper("opentelemetry.sdk.trace", "TracerProvider.__init__", self._provider_created)
        self._aws = BotocoreHooks(self.runtime)
        self._aws.install()
        self._propagator = TransactionPropagator(
            propagate.get_global_textmap(), self.runtime.tracker.transaction_for_trace
        )
        propagate.set_global_textmap(self._propagator)
        wrap_function_wrapper("opentelemetry.sdk.trace", "TracerProvider.shutdown", self._provider_shutdown)
        if not self._atexit:
            atexit.register(self._at_exit)
            import wrapt

            wrapt.register_post_import_hook(self._multiprocessing_imported, "multiprocessing.util")
            self._atexit = True

    def _uninstrument(self, **kwargs: Any) -> None:
        unwrap(TracerProvider, "__init__")
        unwrap(TracerProvider, "shutdown")
        if self._propagator is not None and propagate.get_global_textmap() is self._propagator:
            propagate.set_global_textmap(self._propagator.wrapped)
        self._propagator = None
        if self.runtime is not None:
            self.runtime.shutdown()
        if self._aws is not None:
            self._aws.uninstall()
            self._aws = None
        processor.uninstall()
        processor.DETECTOR.use(None)
        self.runtime = None

    def _provider_created(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        wrapped(*args, **kwargs)
        self._attach(instance)

    def _attach(self, provider: Any) -> None:
        try:
            if isinstance(provider, TracerProvider):
                processor.attach(provider)
        except Exception:
            error_once("attach", "cost: could not attach to a TracerProvider")

    def _provider_shutdown(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """Flush the aggregates before the provider (and its exporters) shut down."""
        if self.runtime is not None:
            self.runtime.flush_bounded()
        return wrapped(*args, **kwargs)

    def _at_exit(self) -> None:
        if self.runtime is not None:
            self.runtime.shutdown()

    def _multiprocessing_imported(self, util: Any) -> None:
        """multiprocessing's forked children leave through ``os._exit``, so ``atexit`` never runs there: flush
        through multiprocessing's own exit hook instead, registered in each child (the fork empties its registry)."""
        util.register_after_fork(self, CostInstrumentor._flush_at_child_exit)

    def _flush_at_child_exit(self) -> None:
        try:
            if self.runtime is not None:
                import multiprocessing.util

                multiprocessing.util.Finalize(None, self._at_exit, exitpriority=10)
        except Exception:  # never hurt the child
            error_once("mp-exit", "cost: could not arrange the last flush of a multiprocessing child")

    def _after_fork(self) -> None:
        try:
            if self.runtime is not None:
                self.runtime.after_fork()
        except Exception:  # never hurt the forked child
            error_once("after-fork", "cost: failed to reset cost tracking in a forked child")
