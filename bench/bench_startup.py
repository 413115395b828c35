"""Start-up time of ``opentelemetry-instrument python -c pass`` with and without this package, in one run.

"Without" is the same install with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=cost`` (the package is never imported).
Off EC2 with a warm cache: the instance type is declared, IMDS is not consulted, and the price cache holds the
API's answer from an earlier run, so no boto3 import and no network call happens. The package's bytecode is
compiled first, as a regular (non-editable) ``pip install`` does: an editable install under
``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile every module from source at each start.
"""

from __future__ import annotations

import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import opentelemetry_instrumentation_cost
from opentelemetry_instrumentation_cost._cache import DiskCache
from scripts.harness import BIN, offline_env

RUNS = 15


def _env(cache_dir: str, enabled: bool) -> dict[str, str]:
    # a cold cache would fail fast on the refused loopback endpoint, never reach AWS
    return offline_env(
        enabled, OTEL_PYTHON_COST_CACHE_DIR=cache_dir, OTEL_PYTHON_COST_STORE_URL=f"sqlite:///{cache_dir}/c.db"
    )


def _time(env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "opentelemetry-instrument"), sys.executable, "-c", "pass"], env=env, check=True)
    return time.perf_counter() - t0


def main() -> None:
    compileall.compile_dir(Path(opentelemetry_instrumentation_cost.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory() as cache_dir:
        DiskCache(Path(cache_dir), 86400).put("prices", "ec2/us-east-1/m5.large", {"usd": 0.096, "as_of": "warm"})
        on, off = _env(cache_dir, True), _env(cache_dir, False)
        _time(on), _time(off)  # warm the OS page cache and .pyc files
        with_pkg, without = [], []
        for _ in range(RUNS):
            without.append(_time(off))
            with_pkg.append(_time(on))
    a, b = statistics.median(without), statistics.median(with_pkg)
    print(
        f"start-up, median of {RUNS}: without {a * 1000:.1f} ms, with {b * 1000:.1f} ms, "
        f"delta {(b - a) * 1000:+.1f} ms (goal ≤ +30 ms), ratio {b / a:.3f}"
    )


if __name__ == "__main__":
    main()
