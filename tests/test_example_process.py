"""The example app under ``opentelemetry-instrument`` as a real process: cost on every server span."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.conftest import http, parse_console_spans, run_example, server_spans, subprocess_env
from tests.conftest import iso_ns as ns
from tests.fair_share import fair_shares

M5_LARGE = 0.096  # USD/h, us-east-1 Linux on-demand (bundled snapshot)
SHARE = 0.5
# The console exporter prints times with µs precision; the package uses the spans' ns times. Allow that rounding.
ROUNDING_S = 3e-6


def _rate_per_s(price_per_hour: float = M5_LARGE, share: float = SHARE) -> float:
    return price_per_hour * share / 3600


def test_sequential_requests_cost_price_times_share_times_duration(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path, OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large", OTEL_PYTHON_COST_HOST_SHARE="0.5")
    with run_example(tmp_path, env) as app:
        for _ in range(5):
            assert http("GET", app.url + "/health?work_ms=20")[0] == 200
        spans = server_spans(app.spans())
    assert len(spans) == 6  # the readiness probe and five requests
    for span in spans:
        attrs = span["attributes"]
        duration_s = (ns(span["end_time"]) - ns(span["start_time"])) / 1e9
        assert isinstance(attrs["cost.usd"], float)
        assert attrs["cost.usd"] == pytest.approx(_rate_per_s() * duration_s, abs=_rate_per_s() * ROUNDING_S)
        assert attrs["cost.compute.usd"] == attrs["cost.usd"]
        assert attrs["cost.transaction.usd"] == attrs["cost.usd"]
        assert attrs["cost.currency"] == "USD"
        assert attrs["cost.pricing.source"] == "snapshot"
        assert attrs["cost.host.instance_type"] == "m5.large"
        assert attrs["cost.host.lifecycle"] == "on-demand"
        assert attrs["cost.host.region"] == "us-east-1"
    assert spans[-1]["attributes"]["cost.usd"] > _rate_per_s() * 0.020  # the 20 ms of work is in it


def test_concurrent_requests_split_the_rate_fairly(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path, OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large", OTEL_PYTHON_COST_HOST_SHARE="0.5")
    with run_example(tmp_path, env) as app:

        def client() -> None:
            for _ in range(5):
                http("GET", app.url + "/health?work_ms=30")

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        spans = [s for s in server_spans(app.spans()) if "work_ms=30" in s["attributes"].get("http.target", "")]
    assert len(spans) == 20
    intervals = [(ns(s["start_time"]), ns(s["end_time"])) for s in spans]
    expected, _ = fair_shares(intervals, M5_LARGE * SHARE)
    overlapped = 0
    for span, (start, end), want in zip(spans, intervals, expected, strict=True):
        duration_s = (end - start) / 1e9
        got = span["attributes"]["cost.usd"]
        # threads reach the ledger in another order than their timestamps (attribution/late.py): within 5%
        assert got == pytest.approx(want, rel=0.05, abs=_rate_per_s() * ROUNDING_S * 8)
        overlapped += got < _rate_per_s() * duration_s * 0.9
    assert overlapped > 0  # the clients really did overlap, so shares were split


def test_disabled_by_the_standard_variable(tmp_path: Path) -> None:
    env = subprocess_env(
        tmp_path, OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="cost"
    )
    with run_example(tmp_path, env) as app:
        http("GET", app.url + "/health")
        spans = server_spans(app.spans())
    assert spans
    assert not any(k.startswith("cost.") for s in spans for k in s["attributes"])


def test_unknown_instance_type_is_never_a_silent_zero(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path, OTEL_PYTHON_COST_INSTANCE_TYPE="zz9.huge")
    with run_example(tmp_path, env) as app:
        http("GET", app.url + "/health")
        out, err = app.stop()
    spans = server_spans(parse_console_spans(out))
    assert spans
    for span in spans:
        attrs = span["attributes"]
        assert "cost.usd" not in attrs and "cost.compute.usd" not in attrs
        assert attrs["cost.pricing.source"] == "unknown"
        assert attrs["cost.host.instance_type"] == "zz9.huge"
    assert err.count("no price for zz9.huge in us-east-1") == 1
