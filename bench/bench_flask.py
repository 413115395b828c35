"""End-to-end Flask throughput with and without the package, in one run.

The example under ``opentelemetry-instrument`` (``gunicorn -w 4``; SDK spans, no exporter), "without" being the same
install with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=cost``. Driven on loopback by wrk where installed, else by the
project's Python load generator. Rounds alternate (the order flips each round); each round's pair gives one
throughput cost, and the median of those is the figure (one slow moment of this shared VM moves one pair, not the
result); the spread is printed with it.

Where valgrind is installed the same request is also counted in instructions (callgrind, deterministic): the four
gunicorn workers, every thread of each (the package's flusher included; the host-wide ledger shared by the four),
from after a warm-up to their graceful exit,
once after ``k`` requests and once after ``3k``; the difference over ``2k`` is the work one request costs, and a
server that is busy serving spends it per request, so its ratio is the throughput cost the wall clock is too noisy
on a shared VM to show to a percent.
"""

from __future__ import annotations

import concurrent.futures
import glob
import http.client
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.harness import (
    BIN,
    EXAMPLE,
    callgrind,
    callgrind_sum,
    callgrind_total,
    free_port,
    offline_env,
    run_process,
    wait_http,
)
from scripts.load import drive

ROUNDS, SECONDS, PATH = 5, 8, "/health"
COUNTED = 200  # k: requests in the shorter counted run
WORKERS = 4


def _env(enabled: bool, tmp: str, **extra: str) -> dict[str, str]:
    return offline_env(
        enabled,
        OTEL_PYTHON_COST_PRICING_API="false",
        OTEL_PYTHON_COST_CACHE_DIR=f"{tmp}/cache",
        OTEL_PYTHON_COST_STORE_URL=f"sqlite:///{tmp}/costs.db",
        **extra,
    )


def _gunicorn(port: int, workers: int) -> list[str]:
    return [
        str(BIN / "opentelemetry-instrument"),
        str(BIN / "gunicorn"),
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(EXAMPLE.parent),
        "app:app",
    ]


def _get(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", PATH)
    conn.getresponse().read()
    conn.close()


def _counted(enabled: bool, requests: int) -> tuple[int, int, float]:
    """(instructions on the workers' main threads, on their other threads, seconds) from after a warm-up to their
    graceful exit. The main thread serves the requests (sync workers); the others run the package's flusher, whose
    reaper wakes every 0.5 s whatever the load: under callgrind, 50 times slower, it would weigh 50 times as much
    per request as on a real server, so it is counted apart, per second."""
    with tempfile.TemporaryDirectory() as tmp:
        # flush only at exit: under callgrind a 10 s interval would pass every few hundred requests, not every ~10k
        env = _env(enabled, tmp, OTEL_PYTHON_COST_FLUSH_INTERVAL="3600", PYTHONHASHSEED="0")
        port = free_port()
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        cmd = [*callgrind(tmp), "--separate-threads=yes", *_gunicorn(port, WORKERS)]
        proc = subprocess.Popen(cmd, env=env, **quiet)
        try:
            wait_http(f"http://127.0.0.1:{port}{PATH}", proc, timeout=600)
            workers: list[str] = []
            deadline = time.monotonic() + 600
            while len(workers) < WORKERS and time.monotonic() < deadline:
                workers = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
                time.sleep(0.5)
            for _ in range(50 * WORKERS):  # warm up (the workers take turns as they are free)
                _get(port)
            for worker in workers:
                subprocess.run(["callgrind_control", "-z", worker], check=True, capture_output=True)
            t0 = time.monotonic()
            for _ in range(requests):
                _get(port)
            seconds = time.monotonic() - t0
        finally:
            proc.terminate()  # gunicorn's graceful stop: the worker exits through atexit (the package's last flush)
            proc.wait(600)
        main = sum(callgrind_total(f) for w in workers for f in glob.glob(f"{tmp}/cg.{w}-01"))
        every = sum(callgrind_sum(tmp, worker) for worker in workers)
        return main, every - main, seconds


def _instructions_per_request() -> tuple[tuple[float, float], tuple[float, float]]:
    """((without, with) instructions per request on the serving threads, (without, with) per second on the others):
    (count after 3k requests - count after k) / 2k, and the others' difference over the time between, two at a time.
    """
    per, per_s = [], []
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for enabled in (False, True):
            short, long = pool.submit(_counted, enabled, COUNTED), pool.submit(_counted, enabled, 3 * COUNTED)
            (m1, o1, s1), (m3, o3, s3) = short.result(), long.result()
            per.append((m3 - m1) / (2 * COUNTED))
            per_s.append((o3 - o1) / (s3 - s1))
    return (per[0], per[1]), (per_s[0], per_s[1])


def _rate(url: str) -> float:
    if shutil.which("wrk"):
        out = subprocess.run(
            ["wrk", "-t2", "-c16", f"-d{SECONDS}s", url + PATH], capture_output=True, text=True, check=True
        ).stdout
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return drive(url, [PATH], SECONDS, clients=16).rate


def _round(enabled: bool, tmp: str) -> float:
    port = free_port()
    with run_process(_gunicorn(port, WORKERS), _env(enabled, tmp), Path(tmp) / "logs", f"http://127.0.0.1:{port}/health"):
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
        f"Flask end to end ({tool}, gunicorn {WORKERS} workers, GET {PATH}): "
        f"without {statistics.median(a for a, _ in pairs):.0f} req/s, with {statistics.median(b for _, b in pairs):.0f}"
        f" req/s; throughput cost, median of {ROUNDS} alternating pairs {statistics.median(costs):+.1f}% "
        f"(pairs: {', '.join(f'{c:+.1f}%' for c in costs)}) (goal < 2%)"
    )
    if not shutil.which("valgrind"):
        print("(valgrind not installed: no instruction counts)")
        return
    (without, with_pkg), (bg_without, bg_with) = _instructions_per_request()
    rate = statistics.median(b for _, b in pairs)  # a busy server's requests a second (with the package)
    print(
        f"Flask, instructions per request under gunicorn -w {WORKERS} (callgrind, the workers' serving threads, "
        f"({3 * COUNTED} - {COUNTED}) / {2 * COUNTED} requests): without {without:,.0f}, with {with_pkg:,.0f}, "
        f"added {with_pkg - without:,.0f} ({(with_pkg / without - 1) * 100:+.2f}%) (goal < 2%)"
    )
    added = with_pkg - without + (bg_with - bg_without) / rate
    print(
        f"  their other threads, per second whatever the load: without {bg_without:,.0f}, with {bg_with:,.0f} "
        f"(the package's flusher and reaper); at {rate:,.0f} requests a second, {(bg_with - bg_without) / rate:,.0f}"
        f" a request: in all {added:,.0f} added per request ({added / without * 100:+.2f}%)"
    )


if __name__ == "__main__":
    main()
