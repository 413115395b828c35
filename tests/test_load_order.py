"""Instrumentor load order and exporters: the cost is there whichever loads first, over OTLP too."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from opentelemetry.instrumentation.flask import FlaskInstrumentor

from tests.conftest import http, run_example, subprocess_env
from tests.fakes.otlp import FakeOtlpReceiver
from tests.inprocess import instrumented, memory_provider, offline_settings

SETTINGS = offline_settings()


def _app() -> Flask:
    app = Flask("order")

    @app.get("/hello")
    def hello() -> str:
        return "hi"

    return app


@pytest.mark.parametrize("cost_first", [True, False], ids=["cost-then-flask", "flask-then-cost"])
def test_either_load_order(cost_first: bool) -> None:
    provider, exporter = memory_provider()
    app = _app()
    flask = FlaskInstrumentor()
    try:
        if cost_first:
            with instrumented(SETTINGS, tracer_provider=provider):
                flask.instrument_app(app, tracer_provider=provider)
                app.test_client().get("/hello")
        else:
            flask.instrument_app(app, tracer_provider=provider)
            with instrumented(SETTINGS, tracer_provider=provider):
                app.test_client().get("/hello")
    finally:
        flask.uninstrument_app(app)
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /hello"
    assert span.attributes["cost.usd"] == pytest.approx(0.096 / 3.6e12 * (span.end_time - span.start_time), rel=1e-12)


def test_otlp_exporter_receives_the_cost(tmp_path: Path) -> None:
    with FakeOtlpReceiver() as receiver:
        env = subprocess_env(
            tmp_path,
            OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.url + "/v1/traces",
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        with run_example(tmp_path, env) as app:
            http("GET", app.url + "/health?work_ms=5")
            app.stop()
        spans = [attrs for name, attrs in receiver.spans() if name == "GET /health"]
    assert len(spans) == 2
    for attrs in spans:
        assert isinstance(attrs["cost.usd"], float) and attrs["cost.usd"] > 0
        assert attrs["cost.currency"] == "USD"
        assert attrs["cost.pricing.source"] == "snapshot"
