"""``otel-cost reconcile``: the estimates against a billing export (FOCUS, CUR 2.0, legacy CUR)."""
