"""Importing and instrumenting the package imports neither boto3 nor botocore unless pricing or metering needs it,
nor the metadata clients when the host is declared: every process pays for what it imports at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import subprocess_env

SCRIPT = """
import sys
from opentelemetry_instrumentation_cost import CostInstrumentor
CostInstrumentor().instrument()
CostInstrumentor().runtime.settled.wait(5)
print(sorted(m for m in ("boto3", "botocore") if m in sys.modules))
print(sorted(m.rpartition(".")[2] for m in sys.modules if m.startswith("opentelemetry_instrumentation_cost.host.")))
import botocore.session  # the app imports botocore later: the hook is installed then
print(sorted(m for m in ("boto3", "botocore") if m in sys.modules))
"""


def test_no_boto3_import_with_a_declared_host(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path, OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "['info', 'local']", "['botocore']"]
