"""``CostInstrumentor``: the entry point ``opentelemetry-instrument`` loads as ``cost``."""

from __future__ import annotations

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
from ._sdk_compat import shut_down_at_exit
from .attribution import processor, sampling, threads
from .aws import resources
from .aws.hooks import BotocoreHooks
from .config import Settings
from .lifecycle.exits import ExitHooks
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
    _exits: ExitHooks | None = None
    _fork_hook = False
    _threads: Any = None  # the threading instrumentor, when this package enabled it

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
        if settings.threads:
            self._threads = threads.enable()
        tracker = self.runtime.tracker
        self._propagator = TransactionPropagator(
            propagate.get_global_textmap(),
            tracker.transaction_for_trace,
            tracker.customer_for_trace if tracker.customers is not None else None,
        )
        propagate.set_global_textmap(self._propagator)
        wrap_function_wrapper("opentelemetry.sdk.trace", "TracerProvider.shutdown", self._provider_shutdown)
        if self._exits is None:
            self._exits = ExitHooks(self._at_exit)
        self._exits.install()

    def _uninstrument(self, **kwargs: Any) -> None:
        unwrap(TracerProvider, "__init__")
        unwrap(TracerProvider, "shutdown")
        if self._propagator is not None and propagate.get_global_textmap() is self._propagator:
            propagate.set_global_textmap(self._propagator.wrapped)
        self._propagator = None
        if self._exits is not None:
            self._exits.uninstall()
        if self.runtime is not None:
            self.runtime.shutdown()
            resources.configure({})
        if self._aws is not None:
            self._aws.uninstall()
            self._aws = None
        processor.uninstall()
        processor.DETECTOR.use(None)
        sampling.restore_samplers()
        if self._threads is not None:
            self._threads.uninstrument()
            self._threads = None
        self.runtime = None

    def _provider_created(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        wrapped(*args, **kwargs)
        self._attach(instance)

    def _attach(self, provider: Any) -> None:
        try:
            if isinstance(provider, TracerProvider):
                processor.attach(provider)
                if self.runtime is not None and self.runtime.settings.record_unsampled_roots:
                    sampling.record_local_roots(provider.sampler)
        except Exception:
            error_once("attach", "cost: could not attach to a TracerProvider")

    def _provider_shutdown(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        """Flush the aggregates before the provider (and its exporters) shut down, so the metrics go out with them
        (at exit, ``_at_exit`` flushes once more after the providers' shutdown)."""
        if self.runtime is not None:
            self.runtime.flush_bounded()
        return wrapped(*args, **kwargs)

    def _at_exit(self) -> None:
        """The last flush of the process. The SDK's providers registered their ``atexit`` shutdown before the
        package loaded, so they would end after it: they are shut down here first, between the flush that hands
        them the last metrics and the one that takes the host's time up to the very end."""
        runtime = self.runtime
        if runtime is None:
            return
        runtime.shutdown()
        try:
            from opentelemetry import metrics

            ended = [shut_down_at_exit(p) for p in (metrics.get_meter_provider(), trace.get_tracer_provider())]
        except Exception:
            error_once("exit-providers", "cost: failed to shut the SDK's providers down at exit")
            ended = [True]
        if any(ended):
            runtime.flush_bounded(last=True)

    def _after_fork(self) -> None:
        try:
            if self.runtime is not None:
                self.runtime.after_fork()
        except Exception:  # never hurt the forked child
            error_once("after-fork", "cost: failed to reset cost tracking in a forked child")
