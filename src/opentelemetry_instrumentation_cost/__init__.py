"""Cloud cost as a telemetry signal: an estimated USD cost on every trace, with zero code changes.

Importing this package imports neither boto3 nor botocore; they load only when pricing or metering needs them.
"""

from .api import current_transaction_budget, current_transaction_cost
from .budgets.errors import BudgetExceededError
from .instrumentor import CostInstrumentor
from .version import __version__

__all__ = [
    "BudgetExceededError",
    "CostInstrumentor",
    "__version__",
    "current_transaction_budget",
    "current_transaction_cost",
]
