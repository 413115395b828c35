"""The test suites of the upstream instrumentations the package sits beside (``opentelemetry-instrumentation-botocore``,
``-flask``, ``-boto3sqs``, from their source distributions at the installed versions) give the same outcome with
the package instrumented, and export the same spans but for ``cost.*`` attributes (``scripts/peer_suites.py``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scripts.harness import ROOT


@pytest.mark.parametrize("suite", ["botocore", "flask", "boto3sqs"])
def test_an_upstream_suite_passes_with_the_package(suite: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "peer_suites.py"), suite],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    summary = [line for line in done.stdout.splitlines() if line.startswith(f"{suite}: ")]
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-3000:]
    (line,) = summary
    tests, same = int(line.split()[1]), int(line.split(", ")[1].split()[0])
    assert tests > 10 and same == tests, line
