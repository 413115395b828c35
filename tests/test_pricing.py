"""The price book against a loopback Price List API: API wins, cache within TTL, honest fallbacks."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from opentelemetry_instrumentation_cost.config import Settings
from opentelemetry_instrumentation_cost.pricing.api import ec2_filters
from tests.conftest import http, run_example, server_spans, subprocess_env
from tests.fakes.imds import FakeImds
from tests.fakes.pricing import FakePriceList, PricingConfig
from tests.inprocess import instrumented, memory_provider

M5 = 0.096


def _root_attrs(exporter: InMemorySpanExporter, provider) -> dict:
    with provider.get_tracer("t").start_as_current_span("root"):
        pass
    return dict(exporter.get_finished_spans()[-1].attributes)


def _use_api(monkeypatch: pytest.MonkeyPatch, fake: FakePriceList, **env: str) -> None:
    """A declared m5.large, the whole host, priced through ``fake``; ``env`` adds or overrides variables."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", fake.url)
    defaults = {
        "OTEL_PYTHON_COST_PRICING_API": "true",
        "OTEL_PYTHON_COST_INSTANCE_TYPE": "m5.large",
        "OTEL_PYTHON_COST_HOST_SHARE": "1",
    }
    for k, v in {**defaults, **env}.items():
        monkeypatch.setenv(k, v)


def _price_with(monkeypatch: pytest.MonkeyPatch, fake: FakePriceList, **env: str) -> tuple[dict, float]:
    _use_api(monkeypatch, fake, **env)
    provider, exporter = memory_provider()
    with instrumented(tracer_provider=provider) as inst:
        assert inst.runtime is not None and inst.runtime.compute is not None
        return _root_attrs(exporter, provider), inst.runtime.compute.price.usd


def test_api_price_wins_over_the_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakePriceList(PricingConfig(prices={("m5.large", "us-east-1"): 0.1})) as fake:
        attrs, usd = _price_with(monkeypatch, fake)
    assert (usd, attrs["cost.pricing.source"]) == (0.1, "api")
    body = json.loads(fake.requests[0][3])
    assert body["ServiceCode"] == "AmazonEC2" and body["Filters"] == ec2_filters("m5.large", "us-east-1")
    assert {"Type": "TERM_MATCH", "Field": "capacitystatus", "Value": "Used"} in body["Filters"]


def test_a_bare_metal_host_is_priced_from_the_api_as_the_price_list_files_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake files metal as the real Price List does (its own product family, ``tenancy = Dedicated``) and
    matches every filter: the ``Shared`` query found nothing, and the host stayed unknown in eu-west-1."""
    prices = {("m7i.metal-24xl", "eu-west-1"): 5.9136}
    with FakePriceList(PricingConfig(prices=prices)) as fake:
        attrs, usd = _price_with(
            monkeypatch,
            fake,
            OTEL_PYTHON_COST_INSTANCE_TYPE="m7i.metal-24xl",
            OTEL_PYTHON_COST_PRICING_REGION="eu-west-1",
        )
    assert (usd, attrs["cost.pricing.source"]) == (5.9136, "api")
    filters = {f["Field"]: f["Value"] for f in json.loads(fake.requests[0][3])["Filters"]}
    assert filters["tenancy"] == "Dedicated" and filters["productFamily"] == "Compute Instance (bare metal)"


@pytest.mark.parametrize(
    ("config", "calls"),
    [
        (PricingConfig(error="ThrottlingException"), 3),  # retried by botocore's standard mode, then given up
        (PricingConfig(error="AccessDeniedException"), 1),
        (PricingConfig(error="InternalFailure", status=500), 3),
        (PricingConfig(prices={("m5.large", "us-east-1"): 0.1}, malformed=True), 1),
        (PricingConfig(), 1),  # empty PriceList
    ],
    ids=["throttled", "access-denied", "http-500", "malformed", "empty"],
)
def test_api_failures_fall_back_to_the_snapshot(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, config: PricingConfig, calls: int
) -> None:
    with FakePriceList(config) as fake:
        attrs, usd = _price_with(monkeypatch, fake)
    assert (usd, attrs["cost.pricing.source"]) == (M5, "snapshot")
    assert fake.get_products_calls() == calls
    warnings = [r for r in caplog.records if "unavailable from AWS" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


@contextlib.contextmanager
def _asking(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakePriceList, Any, InMemorySpanExporter, Any, Any]]:
    """Instrumented against a Price List API that holds its answer until ``gate`` is set; entered once the
    background thread is asking it. Yields (fake, provider, exporter, runtime, gate); on the way out the gate
    opens and the package is uninstrumented."""
    from opentelemetry_instrumentation_cost import CostInstrumentor

    gate = threading.Event()
    with FakePriceList(PricingConfig(prices={("m5.large", "us-east-1"): 0.1}, hold=gate)) as fake:
        _use_api(monkeypatch, fake)
        provider, exporter = memory_provider()
        inst = CostInstrumentor()
        inst.instrument(tracer_provider=provider)
        try:
            assert inst.runtime is not None
            deadline = time.monotonic() + 15
            while not fake.get_products_calls() and time.monotonic() < deadline:  # the API is being asked
                time.sleep(0.01)
            yield fake, provider, exporter, inst.runtime, gate
        finally:
            gate.set()
            inst.uninstrument()


def test_requests_never_wait_for_the_price_list_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API holds its answer until the test lets it go: a request meanwhile is priced from the snapshot at
    once (had it waited for the API it would say ``api``, or have waited out the 1 s start-up budget)."""
    with _asking(monkeypatch) as (fake, provider, exporter, runtime, gate):
        before = _root_attrs(exporter, provider)
        first = exporter.get_finished_spans()[-1]
        asked, answered = fake.get_products_calls(), runtime.settled.is_set()
        gate.set()
        assert runtime.settled.wait(15)
        after = _root_attrs(exporter, provider)
    assert (asked, answered) == (1, False)  # the request ran while the API was still being asked
    assert first.end_time - first.start_time < 500_000_000  # and did not sit out the 1 s start-up budget either
    assert (before["cost.pricing.source"], after["cost.pricing.source"]) == ("snapshot", "api")


def test_discount_applies_to_list_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakePriceList(PricingConfig(error="AccessDeniedException")) as fake:
        _attrs, usd = _price_with(monkeypatch, fake, OTEL_PYTHON_COST_DISCOUNT="0.18")
    assert usd == pytest.approx(M5 * 0.82, rel=1e-12)


def test_override_file_wins_and_is_not_discounted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"instances": {"m5.large": 0.05}}))
    with FakePriceList(PricingConfig(prices={("m5.large", "us-east-1"): 0.1})) as fake:
        attrs, usd = _price_with(
            monkeypatch, fake, OTEL_PYTHON_COST_PRICE_FILE=str(prices), OTEL_PYTHON_COST_DISCOUNT="0.5"
        )
    assert (usd, attrs["cost.pricing.source"]) == (0.05, "override")
    assert fake.get_products_calls() == 0


def test_corrupt_cache_file_is_ignored_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(exist_ok=True)
    (cache / "prices.json").write_text("{not json")
    with FakePriceList(PricingConfig(prices={("m5.large", "us-east-1"): 0.1})) as fake:
        attrs, usd = _price_with(monkeypatch, fake)
    assert (usd, attrs["cost.pricing.source"]) == (0.1, "api")
    assert json.loads((cache / "prices.json").read_text())["ec2/us-east-1/m5.large"]["value"]["usd"] == 0.1
    assert sum("corrupt cache file" in r.getMessage() for r in caplog.records) == 1


def test_second_process_within_ttl_makes_no_api_call(tmp_path: Path) -> None:
    """Real processes: IMDS says c6i.xlarge in eu-west-1 (not in the snapshot); the API prices it, then the cache."""
    config = PricingConfig(prices={("c6i.xlarge", "eu-west-1"): 0.192})
    with FakePriceList(config) as fake, FakeImds() as imds:
        env = subprocess_env(
            tmp_path,
            AWS_EC2_METADATA_DISABLED="false",
            AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url,
            AWS_ENDPOINT_URL_PRICING=fake.url,
            OTEL_PYTHON_COST_PRICING_API="true",
            OTEL_PYTHON_COST_HOST_SHARE="1",
        )
        sources = []
        for _ in range(2):
            with run_example(tmp_path, env) as app:
                deadline = time.monotonic() + 10
                while sources == [] and fake.get_products_calls() == 0 and time.monotonic() < deadline:
                    time.sleep(0.02)
                time.sleep(0.3)  # the API answer is applied right after it arrives
                http("GET", app.url + "/health?work_ms=10")
                last = server_spans(app.spans())[-1]["attributes"]
            sources.append(last["cost.pricing.source"])
            assert last["cost.host.instance_type"] == "c6i.xlarge" and last["cost.host.region"] == "eu-west-1"
            assert last["cost.usd"] > 0
        assert fake.get_products_calls() == 1
        assert sum(1 for r in imds.requests if r[0] == "PUT") == 1  # the second start used the cached host
    assert sources == ["api", "cache"]


def test_pricing_region_setting_and_unknown_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_COST_INSTANCE_TYPE", "m5.large")
    monkeypatch.setenv("OTEL_PYTHON_COST_PRICING_REGION", "il-central-1")
    provider, exporter = memory_provider()
    with instrumented(Settings.from_env(), tracer_provider=provider):
        attrs = _root_attrs(exporter, provider)
    assert attrs["cost.pricing.source"] == "unknown" and "cost.usd" not in attrs  # never us-east-1's price
    assert attrs["cost.host.region"] == "il-central-1"  # no data for it offline


def _spot_run(monkeypatch: pytest.MonkeyPatch, ec2_url: str) -> tuple[dict, float, str]:
    from tests.fakes.imds import ImdsConfig

    spot_host = ImdsConfig(instance_type="m5.large", lifecycle="spot", region="us-east-1", az="us-east-1a")
    with FakeImds(spot_host) as imds, FakePriceList(PricingConfig(error="AccessDeniedException")) as fake:
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", ec2_url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_PRICING", fake.url)
        monkeypatch.setenv("OTEL_PYTHON_COST_PRICING_API", "true")
        monkeypatch.setenv("OTEL_PYTHON_COST_HOST_SHARE", "1")
        provider, exporter = memory_provider()
        with instrumented(tracer_provider=provider) as inst:
            compute = inst.runtime.compute  # type: ignore[union-attr]
            return _root_attrs(exporter, provider), compute.price.usd, compute.price.source


def test_spot_instance_priced_from_spot_price_history(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> None:
    attrs, usd, source = _spot_run(monkeypatch, moto_url)  # moto's EC2 answers describe_spot_price_history
    assert (usd, source) == (0.00001, "api")
    assert attrs["cost.host.lifecycle"] == "spot" and "cost.pricing.spot_fallback" not in attrs


def test_spot_falls_back_to_on_demand_with_a_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    from scripts.harness import free_port

    attrs, usd, source = _spot_run(monkeypatch, f"http://127.0.0.1:{free_port()}")
    assert (usd, source) == (M5, "snapshot")
    assert attrs["cost.pricing.spot_fallback"] is True


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_a_worker_forked_while_the_api_is_asked_asks_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gunicorn --preload master may fork while its background thread waits on the Price List API; that thread
    does not exist in the worker, which must ask again rather than keep the snapshot price for its whole life."""
    with _asking(monkeypatch) as (fake, provider, exporter, runtime, gate):  # the master is asking
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                settled = runtime.settled.wait(5)
                source = _root_attrs(exporter, provider)["cost.pricing.source"]
                os.write(write, f"{settled} {source}".encode())
            finally:
                os._exit(0)
        gate.set()
        os.close(write)  # a child that failed before writing gives "", not a read that waits forever
        child = os.read(read, 100).decode()
        os.waitpid(pid, 0)
        assert runtime.settled.wait(15)
        master = _root_attrs(exporter, provider)["cost.pricing.source"]
    assert (master, child) == ("api", "True api")
    assert fake.get_products_calls() == 2  # once by the master, once by the worker


def test_the_price_list_call_is_invisible_with_the_botocore_instrumentation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With the botocore instrumentation loaded, the package's own Price List call used to be traced as a local
    root ``Pricing.GetProducts``: it took a compute share from real requests, reached the user's traces and was
    stored as a transaction. Now: no span of it exported, no row of it stored, and the price found all the same."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    from opentelemetry_instrumentation_cost.store.open import open_store

    url = f"sqlite:///{tmp_path}/c.db"
    with FakePriceList(PricingConfig(prices={("m5.large", "us-east-1"): 0.1})) as fake:
        _use_api(monkeypatch, fake, OTEL_PYTHON_COST_STORE_URL=url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        provider, exporter = memory_provider()
        BotocoreInstrumentor().instrument(tracer_provider=provider)
        try:
            with instrumented(tracer_provider=provider) as inst:
                assert inst.runtime is not None and inst.runtime.settled.wait(15)
                assert inst.runtime.compute is not None and inst.runtime.compute.price.usd == 0.1
                attrs = _root_attrs(exporter, provider)
                assert inst.runtime.flush()
        finally:
            BotocoreInstrumentor().uninstrument()
    assert fake.get_products_calls() == 1 and attrs["cost.pricing.source"] == "api"
    assert [s.name for s in exporter.get_finished_spans()] == ["root"]
    store = open_store(url)
    transactions = {r[2] for r in store.rows(0)}
    store.close()
    assert transactions <= {"root", "<idle>"}, transactions
