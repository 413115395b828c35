"""The public API for code that wants to look at its own transaction's cost while it runs."""

from __future__ import annotations

from opentelemetry import trace


def _root():  # type: ignore[no-untyped-def]
    from .instrumentor import CostInstrumentor

    runtime = CostInstrumentor().runtime
    ctx = trace.get_current_span().get_span_context()
    if runtime is None or not ctx.is_valid:
        return None, None
    return runtime, runtime.ledger.root_of(ctx.trace_id)


def current_transaction_cost() -> float | None:
    """The running cost in USD of the current transaction in this process (compute so far + AWS calls so far),
    or None outside a transaction or when the package is not instrumented."""
    from time import time_ns

    runtime, root = _root()
    if root is None:
        return None
    return runtime.ledger.share_so_far(root, time_ns()) + root.services_usd


def current_transaction_budget() -> float | None:
    """The per-request budget in USD of the current transaction, or None when it has none."""
    runtime, root = _root()
    if root is None or runtime.guard is None:
        return None
    budget = runtime.guard.budgets.for_transaction(runtime.tracker.transaction_of(root))
    return None if budget is None else budget.per_request
