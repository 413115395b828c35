"""The one compiled part: the ledger's hot path (``attribution/_cells.c``). Optional: where it cannot be built the
package installs without it and the ledger runs in Python (``OTEL_PYTHON_COST_NATIVE``, docs/architecture.md)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "opentelemetry_instrumentation_cost.attribution._cells",
            ["src/opentelemetry_instrumentation_cost/attribution/_cells.c"],
            optional=True,
        )
    ]
)
