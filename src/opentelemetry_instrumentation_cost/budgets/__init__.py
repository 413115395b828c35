"""Per-transaction budgets: annotate, alert, and (in enforce mode) stop an AWS call before it spends."""
