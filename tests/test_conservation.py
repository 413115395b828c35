"""Conservation: compute cost on local roots + idle == price × share × elapsed, under concurrent load."""

from __future__ import annotations

import threading
import time
import urllib.request
from time import time_ns

import pytest
from flask import Flask
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from werkzeug.serving import make_server

from tests.inprocess import instrumented, memory_provider, offline_settings

pytestmark = pytest.mark.usefixtures("both_ledger_paths")  # the C hot path and the Python path alike

PRICE = 0.096
SHARE = 0.5
CLIENTS = 8
SECONDS = 5.0


def test_eight_concurrent_clients_for_five_seconds_conserve_cost() -> None:
    app = Flask("conservation")

    @app.get("/work")
    def work() -> str:
        time.sleep(0.002)
        sum(range(2000))
        return "ok"

    provider, exporter = memory_provider()
    settings = offline_settings(host_share=SHARE)
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}/work"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sent = [0] * CLIENTS
    try:
        with instrumented(settings, tracer_provider=provider) as inst:
            ledger = inst.runtime.ledger  # type: ignore[union-attr]
            created = ledger.created_ns  # the session's clock origin (first price applies from there)
            stop = time.monotonic() + SECONDS

            def client(i: int) -> None:
                while time.monotonic() < stop:
                    with urllib.request.urlopen(url, timeout=10) as resp:
                        resp.read()
                    sent[i] += 1

            threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            deadline = time.monotonic() + 5
            while len(exporter.get_finished_spans()) < sum(sent) and time.monotonic() < deadline:
                time.sleep(0.01)
            now = time_ns()
            totals = ledger.totals(now)
    finally:
        server.shutdown()
        FlaskInstrumentor().uninstrument_app(app)

    spans = exporter.get_finished_spans()
    assert len(spans) == sum(sent) > CLIENTS * 10
    attributed = sum(s.attributes["cost.compute.usd"] for s in spans)
    expected_host = PRICE * SHARE * (now - created) / 3.6e12
    assert totals.in_flight == 0
    assert attributed == pytest.approx(totals.attributed_usd, rel=1e-9)
    assert attributed + totals.idle_usd == pytest.approx(expected_host, rel=1e-3)
    assert totals.host_usd == pytest.approx(expected_host, rel=1e-9)
    assert totals.idle_usd < 0.5 * expected_host  # eight clients kept it busy most of the time
    assert all(s.attributes["cost.compute.usd"] >= 0 for s in spans)
