"""What must be installed for the instrumentor to load (nothing beyond the SDK it patches), and how it was loaded."""

import sys

_instruments: tuple[str, ...] = ()


def loaded_by_auto_instrumentation() -> bool:
    """Whether ``opentelemetry-instrument``'s ``sitecustomize`` (run before the app's code) is what loaded us."""
    module = sys.modules.get("sitecustomize")
    return "auto_instrumentation" in str(getattr(module, "__file__", "") or "")
