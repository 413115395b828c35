"""The package's own AWS calls (the Price List API, spot prices): invisible.

They run under OpenTelemetry's suppress-instrumentation context, so the botocore instrumentation makes no span of
them (a span would be a local root of its own, taking a compute share from real requests and stored as a
transaction), and under a key of the package's, so its own hooks neither meter nor budget them. An app's own
suppressed calls (an exporter's, say) are still metered: they are spent all the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import context

_OWN_CALL = context.create_key("opentelemetry-instrumentation-cost.own-call")


@contextlib.contextmanager
def own_calls() -> Iterator[None]:
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    token = context.attach(context.set_value(_OWN_CALL, True))
    try:
        with suppress_instrumentation():
            yield
    finally:
        context.detach(token)


def is_own_call() -> bool:
    return bool(context.get_value(_OWN_CALL))
