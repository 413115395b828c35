"""End-to-end Flask throughput with and without the package, in one run.

The example under ``opentelemetry-instrument`` (gunicorn, 2 workers; SDK spans, no exporter), "without" being the same
install with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=cost``. Driven on loopback by wrk where installed, else by the
project's Python load generator; rounds alternate; the best round of each is kept.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.harness import BIN, EXAMPLE, free_port, offline_env, run_process
from scripts.load import drive

ROUNDS, SECONDS, PATH = 3, 8, "/health"


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
    with tempfile.TemporaryDirectory() as tmp:
        without, with_pkg = [], []
        for _ in range(ROUNDS):
            without.append(_round(False, tmp))
            with_pkg.append(_round(True, tmp))
    a, b = max(without), max(with_pkg)
    tool = "wrk" if shutil.which("wrk") else "scripts/load.py"
    print(
        f"Flask end to end ({tool}, gunicorn 2 workers, GET {PATH}): without {a:.0f} req/s, with {b:.0f} req/s, "
        f"throughput cost {(1 - b / a) * 100:+.1f}% (goal < 3%)"
    )


if __name__ == "__main__":
    main()
