"""`make demo`: the example shop under opentelemetry-instrument, AWS calls against moto on loopback.

Starts moto's server, runs examples/flask_app/app.py with zero code changes under ``opentelemetry-instrument``
(console exporter) with this package installed, sends a few requests, and prints the cost on each span.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.demo_more import priced_everywhere, reconciled, rolled_up
from scripts.harness import BIN, ROOT, http, run_example, run_moto

WORK = ROOT / ".demo"
STORE = f"sqlite:///{WORK}/costs.db"
BUDGETS = "POST /checkout=0.00002;POST /bulk=0.000005"


def _env(moto_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        AWS_ENDPOINT_URL=moto_url,  # every boto3 client talks to moto, through boto3's standard setting
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",  # not on EC2: say what the host is instead
        OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large",
        OTEL_PYTHON_COST_HOST_SHARE="0.5",
        OTEL_PYTHON_COST_PRICING_API="false",  # no AWS account here: the bundled, dated snapshot prices it
        OTEL_PYTHON_COST_CACHE_DIR=str(WORK / "cache"),
        OTEL_PYTHON_COST_STORE_URL=STORE,  # the embedded default store, in the demo's own folder
        OTEL_PYTHON_COST_FLUSH_INTERVAL="1",
        OTEL_PYTHON_COST_LEDGER_DIR=str(WORK / "ledger"),  # the host's ledger, shared by its processes
        OTEL_PYTHON_COST_BUDGETS=BUDGETS,  # annotate mode (the default): flag, count and warn, never stop
        OTEL_SERVICE_NAME="shop",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    return env


def _traffic(url: str) -> None:
    http("GET", url + "/items/1")
    for n in range(3):
        http("POST", url + "/checkout", {"items": [str(n + 1)]})
    http("POST", url + "/bulk?n=20")  # 20 DynamoDB writes: over its $0.000005 budget
    threads = [threading.Thread(target=http, args=("GET", url + "/health?work_ms=50")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _usd(value: Any) -> str:
    return f"${value:.10f}" if isinstance(value, float) else "-"


def _tree(spans: list[dict[str, Any]], root: dict[str, Any]) -> None:
    """One trace as a tree: each span's own cost.usd, and what it was charged for."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        if span["context"]["trace_id"] == root["context"]["trace_id"]:
            children.setdefault(span["parent_id"], []).append(span)

    def show(span: dict[str, Any], depth: int) -> None:
        a = span["attributes"]
        what = ""
        if "cost.service.units" in a:
            what = f"{a['cost.service.quantity']} {a['cost.service.units']}"
        elif "cost.compute.usd" in a:
            what = f"compute share; transaction {_usd(a.get('cost.transaction.usd'))}"
        print(f"  {'  ' * depth}{span['name']:<{40 - 2 * depth}}{_usd(a.get('cost.usd')):>16}  {what}")
        for child in sorted(children.get(span["context"]["span_id"], []), key=lambda s: s["start_time"]):
            show(child, depth + 1)

    show(root, 0)


def _report(spans: list[dict[str, Any]]) -> None:
    roots = [s for s in spans if s["kind"] == "SpanKind.SERVER"]
    print(f"\n{'span':<24}{'cost.usd':>16}{'cost.transaction.usd':>24}  source    host")
    for span in roots:
        a = span["attributes"]
        host = f"{a.get('cost.host.instance_type')} {a.get('cost.host.lifecycle')} {a.get('cost.host.region')}"
        print(
            f"{span['name']:<24}{_usd(a.get('cost.usd')):>16}{_usd(a.get('cost.transaction.usd')):>24}  "
            f"{a.get('cost.pricing.source'):<9} {host}"
        )
    checkout = next(s for s in reversed(roots) if s["name"] == "POST /checkout")
    print("\nOne checkout, span by span (cost.usd is each span's own cost; they add up to the transaction):")
    _tree(spans, checkout)
    total = sum(s["attributes"].get("cost.usd", 0.0) for s in spans)
    print(f"\n{len(roots)} requests, {len(spans)} spans; sum of cost.usd over all spans: {_usd(total)}")
    print("Each local root carries its fair share of m5.large at $0.096/h x share 0.5, split among the requests")
    print("in flight; each AWS call carries its own charge (DynamoDB units, S3 tier, SQS 64 KB chunks), from")
    print("the bundled price snapshot; summing cost.usd over a trace never double counts.")


def main() -> None:
    WORK.mkdir(exist_ok=True)
    (WORK / "costs.db").unlink(missing_ok=True)
    with run_moto(WORK / "logs") as moto_url:
        print(f"moto server on {moto_url}; starting two services under opentelemetry-instrument:")
        print("  'shop' (checkout) calls 'quote' over HTTP; the transaction name travels in W3C baggage")
        with run_example(WORK / "logs", {**_env(moto_url), "OTEL_SERVICE_NAME": "quote"}) as quote:
            env = {**_env(moto_url), "QUOTE_URL": quote.url}
            with run_example(WORK / "logs", env) as app:
                _traffic(app.url)
                spans = app.spans()
            quote_spans = quote.spans()
        sampled = _sampled(moto_url)
    _report(spans)
    bulk = next(s for s in spans if s["name"] == "POST /bulk")
    a = bulk["attributes"]
    event = next(e for e in bulk["events"] if e["name"] == "cost.budget.exceeded")
    print(
        f"\nPOST /bulk (budget ${a['cost.budget.usd']}): cost.budget.exceeded={a['cost.budget.exceeded']}, "
        f"crossed at {event['attributes']['cost.budget.call']} with ${event['attributes']['cost.running.usd']:.9f} "
        f"spent; the request ran to the end (OTEL_PYTHON_COST_BUDGET_ACTION=enforce would have stopped that call)"
    )
    downstream = [s for s in quote_spans if s["kind"] == "SpanKind.SERVER" and "quote" in s["name"]]
    if downstream:
        print(
            f"\ndownstream 'quote' spans carry cost.transaction = {downstream[0]['attributes']['cost.transaction']!r}"
        )
    print(f"\n$ otel-cost report --store {STORE}")
    sys.stdout.flush()
    subprocess.run([str(BIN / "otel-cost"), "report", "--store", STORE, "--since", "10m"], check=False)
    print(f"\n$ otel-cost report --by service --store {STORE}")
    sys.stdout.flush()
    subprocess.run(
        [str(BIN / "otel-cost"), "report", "--by", "service", "--store", STORE, "--since", "10m"], check=False
    )
    print(f"\n$ otel-cost budgets check --window 10m --budgets '{BUDGETS}'   (for cron or CI: exit 1 when over)")
    sys.stdout.flush()
    check = [str(BIN / "otel-cost"), "budgets", "check", "--store", STORE, "--window", "10m", "--budgets", BUDGETS]
    print(f"(exit {subprocess.run(check, check=False).returncode})")
    sampled()
    _one_host_many_processes()
    priced_everywhere()
    rolled_up(WORK)
    reconciled(WORK, STORE)


def _sampled(moto_url: str) -> Any:
    """The shop with head sampling (traceidratio 0.2): run now (moto is up), reported at the end."""
    import sqlite3

    store = WORK / "sampled.db"
    store.unlink(missing_ok=True)
    env = {
        **_env(moto_url),
        "OTEL_PYTHON_COST_STORE_URL": f"sqlite:///{store}",
        "OTEL_PYTHON_COST_BUDGETS": "",
        "OTEL_TRACES_SAMPLER": "traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.2",
    }
    with run_example(WORK / "logs", env) as app:
        http("GET", app.url + "/items/1")  # creates the tables, bucket and queue
        for _ in range(50):
            http("POST", app.url + "/bulk?n=1")  # one DynamoDB PutItem each
        exported = [s for s in app.spans() if s["name"] == "POST /bulk" and s["kind"] == "SpanKind.SERVER"]

    def show() -> None:
        with sqlite3.connect(store) as conn:
            count, aws = conn.execute(
                "SELECT sum(count), sum(sum_usd - compute_usd) FROM otel_cost_transactions "
                "WHERE transaction_name = 'POST /bulk'"
            ).fetchone()
        print("\n--- head sampling: the same shop with OTEL_TRACES_SAMPLER=traceidratio, 0.2 ---")
        print(f"50 POST /bulk requests sent, one DynamoDB PutItem each; {len(exported)} traces exported (the sampler's")
        print(f"choice); the store counts {count} requests and ${aws:.9f} of DynamoDB writes (50 x $0.000000625):")
        print("the roots the sampler drops are recorded, never exported (OTEL_PYTHON_COST_UNSAMPLED_ROOTS=record)")
        doctor = subprocess.run(
            [str(BIN / "otel-cost"), "doctor", "--store", "none"], env=env, capture_output=True, text=True, check=False
        )
        print("\n$ otel-cost doctor   (its ledger path, sampler, threads and AWS client lines)")
        shown = ("ledger path", "sampler", "threads", "AWS")
        print("\n".join(line for line in doctor.stdout.splitlines() if line.startswith(shown)))

    return show


def _one_host_many_processes() -> None:
    """The shop under gunicorn with 3 workers: the host's cost counted once, split among every worker's requests."""
    import sqlite3
    import time

    from scripts.harness import EXAMPLE, free_port, wait_http, watch_store
    from scripts.load import drive

    store = WORK / "gunicorn.db"
    store.unlink(missing_ok=True)
    port = free_port()
    env = {
        **_env("http://127.0.0.1:1"),
        "OTEL_PYTHON_COST_STORE_URL": f"sqlite:///{store}",
        "OTEL_TRACES_EXPORTER": "none",
    }
    env["OTEL_PYTHON_COST_LEDGER_DIR"] = str(WORK / "ledger-gunicorn")
    cmd = [
        str(BIN / "opentelemetry-instrument"),
        str(BIN / "gunicorn"),
        "-w",
        "3",
        "-b",
        f"127.0.0.1:{port}",
        "--chdir",
        str(EXAMPLE.parent),
        "app:app",
    ]
    print("\n--- one host, many processes: the shop under gunicorn -w 3 (a master and three workers) ---")
    launch = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    last_write = watch_store(store, proc)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc)
        load = drive(f"http://127.0.0.1:{port}", ["/health?work_ms=3", "/health"], 3.0, clients=4, keep_alive=False)
        print(
            f"{load.requests} requests in {load.seconds:.1f} s from 4 clients\n\n$ otel-cost doctor   (while it runs)"
        )
        sys.stdout.flush()
        doctor = subprocess.run(
            [str(BIN / "otel-cost"), "doctor", "--store", "none"], env=env, capture_output=True, text=True, check=False
        )
        print("\n".join(line for line in doctor.stdout.splitlines() if line.startswith(("host", "  pid", "share"))))
    finally:
        proc.terminate()
        proc.wait(30)
    time.sleep(1.1)
    seconds = last_write[0] / 1e9 - launch  # to the last flush's commit, as a reader of the store saw it
    print(f"\n$ otel-cost report --by host --store sqlite:///{store}")
    sys.stdout.flush()
    subprocess.run(
        [str(BIN / "otel-cost"), "report", "--by", "host", "--store", f"sqlite:///{store}", "--since", "10m"],
        check=False,
    )
    (stored,) = sqlite3.connect(store).execute("SELECT sum(compute_usd) FROM otel_cost_transactions").fetchone()
    truth = 0.096 * 0.5 * seconds / 3600
    print(
        f"\nstored compute + idle ${stored:.9f}; m5.large $0.096/h x share 0.5 x {seconds:.2f} s (launch to the last "
        f"flush's commit, as timed here) = ${truth:.9f}: {stored / truth:.2%}"
    )


if __name__ == "__main__":
    main()
