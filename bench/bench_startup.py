"""Start-up time of ``opentelemetry-instrument python -c pass`` with and without this package, in one run.

"Without" is the same install with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=cost`` (the package is never imported).
Off EC2 with a warm cache: the instance type is declared, IMDS is not consulted, and the price cache holds the
API's answer from an earlier run, so no boto3 import and no network call happens. The package's bytecode is
compiled first, as a regular (non-editable) ``pip install`` does: an editable install under
``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile every module from source at each start.

Where valgrind is installed, both start-ups are also counted in instructions (callgrind, every process and
thread, exit included): a small shared VM's wall clock moves by tens of ms between runs of ``python -c pass``,
the count does not (within ±1%: whether the background thread has priced the host before ``pass`` ends decides
whether the exit flush opens the store and writes the idle row, so "with" is counted 3 times, median shown).
The added fraction of instructions times the median wall time gives the delta in ms.
"""

from __future__ import annotations

import compileall
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import opentelemetry_instrumentation_cost
from opentelemetry_instrumentation_cost._cache import DiskCache
from scripts.harness import BIN, callgrind, callgrind_sum, offline_env

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


def _instructions(env: dict[str, str]) -> int:
    with tempfile.TemporaryDirectory() as out:
        cmd = [*callgrind(out), str(BIN / "opentelemetry-instrument"), sys.executable, "-c", "pass"]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        return callgrind_sum(out)


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
        counted = [_instructions(off)] + [_instructions(on) for _ in range(3)] if shutil.which("valgrind") else None
    a, b = statistics.median(without), statistics.median(with_pkg)
    print(
        f"start-up, median of {RUNS}: without {a * 1000:.1f} ms, with {b * 1000:.1f} ms, "
        f"delta {(b - a) * 1000:+.1f} ms (goal ≤ +30 ms), ratio {b / a:.3f}"
    )
    if counted is None:
        print("(valgrind not installed: no instruction counts)")
        return
    i0, ons = counted[0], sorted(counted[1:])
    i1 = ons[1]
    added = (i1 - i0) / i0
    print(
        f"start-up, instructions (callgrind, all processes and threads): without {i0:,}, with {i1:,} "
        f"(median of 3: {ons[0]:,} to {ons[2]:,}), added {i1 - i0:,} ({added:+.2%}) "
        f"= {added * a * 1000:+.1f} ms of the {a * 1000:.0f} ms median (goal ≤ +30 ms)"
    )


if __name__ == "__main__":
    main()
