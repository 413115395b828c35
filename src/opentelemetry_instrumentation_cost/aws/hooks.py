"""botocore's public event system, registered on every client created after instrumentation.

Two handlers per client (``before-parameter-build`` and ``after-call``, in ``metering.py``, which is imported with
the first client). ``ClientCreator.create_client`` is patched once botocore is imported, and aiobotocore's
``AioClientCreator.create_client`` once aiobotocore is (``wrapt``'s post-import hooks), so importing this package
imports neither; this works whether, and in whichever order, the OpenTelemetry botocore instrumentation loads.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from .._fork import renew_lock_after_fork
from .._log import error_once

_UNIQUE = "otel-cost-"


class BotocoreHooks:
    """Installs and removes the per-client event handlers."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        renew_lock_after_fork(self)
        self._meter: Any = None  # metering.CallMeter, built with the first client
        self.enabled = False

    def install(self) -> None:
        self.enabled = True
        _patch_when_imported(self)

    def uninstall(self) -> None:
        self.enabled = False
        if self._meter is not None:
            self._meter.enabled = False
        _unpatch()
        with self._lock:
            clients = list(self._clients)
            self._clients = weakref.WeakSet()
        for client in clients:
            for event in _events(client):
                client.meta.events.unregister(event, unique_id=_UNIQUE + event)

    def client_created(self, client: Any) -> None:
        try:
            from . import registry

            metered = registry.metered(client.meta.service_model.service_name)
            guarded = self.runtime.guard is not None and self.runtime.guard.enforce
            if not self.enabled or not (metered or guarded):
                return
            meter = self._call_meter()
            before_parameter_build, before_call, after_call = _events(client)
            if metered:
                client.meta.events.register(
                    before_parameter_build, meter.before_parameter_build, unique_id=_UNIQUE + before_parameter_build
                )
                client.meta.events.register(after_call, meter.after_call, unique_id=_UNIQUE + after_call)
            if metered or guarded:  # the billed units asked for; enforce mode guards every call, priced or not
                client.meta.events.register(before_call, meter.before_call, unique_id=_UNIQUE + before_call)
            with self._lock:
                self._clients.add(client)
        except Exception:
            error_once("aws-register", "cost: could not hook a boto3 client")

    def _call_meter(self) -> Any:
        if self._meter is None:
            from .metering import CallMeter
            from .services.dynamodb import METER as dynamodb

            dynamodb.inject = self.runtime.settings.dynamodb_consumed_capacity
            self._meter = CallMeter(self.runtime)
        return self._meter


def _events(client: Any) -> tuple[str, str, str]:
    service_id = client.meta.service_model.service_id.hyphenize()
    return f"before-parameter-build.{service_id}", f"before-call.{service_id}", f"after-call.{service_id}"


# patching client creation, once botocore (and aiobotocore, if the app uses it) is imported --------------------------
_active: list[BotocoreHooks] = []
_hooks_registered = False
_patched: set[str] = set()  # the modules whose client creator is patched


def _created(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    client = wrapped(*args, **kwargs)
    if _active:
        _active[0].client_created(client)
    return client


async def _created_async(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """aiobotocore's ``create_client`` is a coroutine of its own that never calls botocore's: its clients emit the
    same events (awaiting only the handlers that return awaitables), so the same sync handlers meter them."""
    client = await wrapped(*args, **kwargs)
    if _active:
        _active[0].client_created(client)
    return client


_CREATORS = {
    "botocore.client": ("ClientCreator", _created),
    "aiobotocore.client": ("AioClientCreator", _created_async),
}


def _patch_when_imported(hooks: BotocoreHooks) -> None:
    global _hooks_registered
    _active[:] = [hooks]
    if not _hooks_registered:
        import wrapt

        for name in _CREATORS:
            wrapt.register_post_import_hook(_patch, name)
        _hooks_registered = True
    else:
        import sys

        for name in _CREATORS:
            if name in sys.modules:
                _patch(sys.modules[name])


def _patch(module: Any) -> None:
    from wrapt import wrap_function_wrapper

    cls, wrapper = _CREATORS[module.__name__]
    if _active and module.__name__ not in _patched:
        wrap_function_wrapper(module, f"{cls}.create_client", wrapper)
        _patched.add(module.__name__)


def _unpatch() -> None:
    import sys

    from opentelemetry.instrumentation.utils import unwrap

    _active.clear()
    for name in list(_patched):
        module = sys.modules.get(name)
        if module is not None:
            unwrap(getattr(module, _CREATORS[name][0]), "create_client")
        _patched.discard(name)
