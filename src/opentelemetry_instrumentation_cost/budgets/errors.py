"""The one exception the package raises into the app, only in enforce mode (kept light: imported at start-up)."""

from __future__ import annotations


class BudgetExceededError(Exception):
    """An AWS call was refused because its transaction is over budget (``OTEL_PYTHON_COST_BUDGET_ACTION=enforce``)."""

    def __init__(self, transaction: str, budget_usd: float, spent_usd: float, kind: str = "per request") -> None:
        super().__init__(
            f"transaction {transaction!r} is over its {kind} budget: spent ${spent_usd:.8f} of ${budget_usd:.8f}; "
            "the AWS call was not sent"
        )
        self.transaction, self.budget_usd, self.spent_usd, self.kind = transaction, budget_usd, spent_usd, kind
