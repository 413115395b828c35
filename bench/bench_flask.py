"""End-to-end Flask throughput with and without the package, in one run.

The example under ``opentelemetry-instrument`` (gunicorn, 2 workers; SDK spans, no exporter), "without" being the same
install with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=cost``. Driven on loopback by wrk where installed, else by the
project's Python load generator. Rounds alternate (the order flips each round); each round's pair gives one
throughput cost, and the median of those is the figure (one slow moment of this shared VM moves one pair, not the
result); the spread is printed with it.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.harness import BIN, EXAMPLE, free_port, offline_env, run_process
from scripts.load import drive

ROUNDS, SECONDS, PATH = 5, 8, "/health"


def _env(enabled: bool, tmp: str) -> dict[str, str]:
    return offline_env(
        enabled,
        OTEL_PYTHON_COST_PRICING_API="false",
        OTEL_PYTHON_COST_CACHE_DIR=f"{tmp}/cache",
        OTEL_PYTHON_COST_STORE_URL=f"sqlite:///{tmp}/costs.db",
    )


def _rate(url: str) -> float:
    if shutil.which("wrk"):
        out = subprocess.run(
            ["wrk", "-t2", "-c16", f"-d{SECONDS}s", url + PATH], capture_output=True, text=True, check=True
        ).stdout
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return drive(url, [PATH], SECONDS, clients=16).rate


def _round(enabled: bool, tmp: str) -> float:
    port = free_port()
    cmd = [
        str(BIN / "opentelemetry-instrument"),
        str(BIN / "gunicorn"),
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(EXAMPLE.parent),
        "app:app",
    ]
    with run_process(cmd, _env(enabled, tmp), Path(tmp) / "logs", f"http://127.0.0.1:{port}/health"):
        url = f"http://127.0.0.1:{port}"
        drive(url, [PATH], 2)  # warm up
        return _rate(url)


def main() -> None:
    pairs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(ROUNDS):
            if i % 2:
                with_pkg, without = _round(True, tmp), _round(False, tmp)
            else:
                without, with_pkg = _round(False, tmp), _round(True, tmp)
            pairs.append((without, with_pkg))
    costs = sorted((1 - b / a) * 100 for a, b in pairs)
    tool = "wrk" if shutil.which("wrk") else "scripts/load.py"
    print(
        f"Flask end to end ({tool}, gunicorn 2 workers, GET {PATH}): "
        f"without {statistics.median(a for a, _ in pairs):.0f} req/s, with {statistics.median(b for _, b in pairs):.0f}"
        f" req/s; throughput cost, median of {ROUNDS} alternating pairs {statistics.median(costs):+.1f}% "
        f"(pairs: {', '.join(f'{c:+.1f}%' for c in costs)}) (goal < 3%)"
    )


if __name__ == "__main__":
    main()
