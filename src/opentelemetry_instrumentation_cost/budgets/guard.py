"""Checking a transaction against its budgets: while it runs (at each AWS call) and as it ends.

Crossing a ceiling annotates the local root once (``cost.budget.usd``, ``cost.budget.exceeded``, one span event
``cost.budget.exceeded``), counts ``cost.budget.violations`` and logs a rate-limited warning naming the
transaction. In enforce mode an AWS call that would start while its transaction is over budget is refused with
``BudgetExceededError``: the only exception this package ever raises into the app, and only when asked.
"""

from __future__ import annotations

from time import time_ns
from typing import Any

from opentelemetry import metrics

from .. import semconv as sc
from .._log import warn_once
from ..attribution.ledger import ComputeLedger, Token
from ..version import __version__
from .config import Budget, Budgets
from .errors import BudgetExceededError
from .rate import RollingSpend


class BudgetGuard:
    def __init__(
        self,
        budgets: Budgets,
        enforce: bool,
        ledger: ComputeLedger,
        spend: RollingSpend | None = None,
        meter_provider: Any = None,
    ) -> None:
        self.budgets = budgets
        self.enforce = enforce
        self._ledger = ledger
        self.spend = spend or RollingSpend()
        meter = metrics.get_meter("opentelemetry-instrumentation-cost", __version__, meter_provider)
        self._violations = meter.create_counter("cost.budget.violations", description="Transactions over budget")

    def running_usd(self, token: Token) -> float:
        """Compute so far plus service charges so far, for a local root in flight."""
        return self._ledger.share_so_far(token, time_ns()) + token.services_usd

    def check_call(self, token: Token, transaction: str, call: str) -> None:
        """Before an AWS call (enforce mode): refuse it when its transaction is already over a budget."""
        budget = self.budgets.for_transaction(transaction)
        if budget is None:
            return
        if budget.per_request is not None:
            running = self.running_usd(token)
            if running > budget.per_request:
                self.exceeded(token, transaction, budget.per_request, running, call)
                if self.enforce:
                    raise BudgetExceededError(transaction, budget.per_request, running)
        if budget.per_hour is not None:
            spent = self.spend.last_hour(transaction)
            if spent > budget.per_hour:
                self.rate_exceeded(token, transaction, budget, spent)
                if self.enforce:
                    raise BudgetExceededError(transaction, budget.per_hour, spent, "per hour")

    def observe(self, token: Token, transaction: str, call: str) -> None:
        """After a call was charged: annotate the crossing it caused (never raises)."""
        budget = self.budgets.for_transaction(transaction)
        if budget is None:
            return
        if budget.per_request is not None and not token.budget_exceeded:
            running = self.running_usd(token)
            if running > budget.per_request:
                self.exceeded(token, transaction, budget.per_request, running, call)
        if budget.per_hour is not None and not token.rate_exceeded:
            spent = self.spend.last_hour(transaction)
            if spent > budget.per_hour:
                self.rate_exceeded(token, transaction, budget, spent)

    def check_end(self, token: Token, transaction: str, total: float) -> None:
        """As a local root ends: its final cost against the ceiling, and into the rolling hour."""
        self.spend.add(transaction, total)
        budget = self.budgets.for_transaction(transaction)
        if budget is not None and budget.per_request is not None and total > budget.per_request:
            self.exceeded(token, transaction, budget.per_request, total, None)

    def exceeded(self, token: Token, transaction: str, budget: float, running: float, call: str | None) -> None:
        if token.budget_exceeded:
            return
        token.budget_exceeded = True
        span = token.live_span()
        if span is not None:
            span.set_attributes({sc.COST_BUDGET_USD: budget, sc.COST_BUDGET_EXCEEDED: True})
            event: dict[str, Any] = {sc.COST_BUDGET_USD: budget, "cost.running.usd": running}
            if call:
                event["cost.budget.call"] = call
            span.add_event(sc.COST_BUDGET_EXCEEDED, event)
        self._violations.add(1, {"cost.transaction": transaction, "cost.budget.kind": "per_request"})
        warn_once(
            f"budget-{transaction}",
            "cost: transaction %r is over its budget: $%.8f spent of $%.8f%s",
            transaction,
            running,
            budget,
            f" (at {call})" if call else "",
        )

    def rate_exceeded(self, token: Token, transaction: str, budget: Budget, spent: float) -> None:
        if token.rate_exceeded:
            return
        token.rate_exceeded = True
        span = token.live_span()
        if span is not None:
            span.set_attributes({sc.COST_BUDGET_RATE_EXCEEDED: True, "cost.budget.per_hour.usd": budget.per_hour})
        self._violations.add(1, {"cost.transaction": transaction, "cost.budget.kind": "per_hour"})
        warn_once(
            f"rate-{transaction}",
            "cost: transaction %r spent $%.6f in the last hour, over its $%.6f per hour",
            transaction,
            spent,
            budget.per_hour,
        )
