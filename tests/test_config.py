"""Every OTEL_PYTHON_COST_* variable: a bad value gives one warning naming it and the default, never an error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from opentelemetry_instrumentation_cost.config import Settings

BAD = {
    "OTEL_PYTHON_COST_IMDS_V1_FALLBACK": ("maybe", "imds_v1_fallback", False),
    "OTEL_PYTHON_COST_PRICE_FILE": ("/nonexistent/prices.json", "price_file", None),
    "OTEL_PYTHON_COST_DISCOUNT": ("1.5", "discount", 0.0),
    "OTEL_PYTHON_COST_PRICING_API": ("sometimes", "pricing_api", True),
    "OTEL_PYTHON_COST_PRICING_API_REGION": ("eu-west-1", "pricing_api_region", "us-east-1"),
    "OTEL_PYTHON_COST_PRICING_REGION": ("not a region!", "pricing_region", None),
    "OTEL_PYTHON_COST_INSTANCE_TYPE": ("a big box", "instance_type", None),
    "OTEL_PYTHON_COST_CACHE_TTL": ("-5", "cache_ttl_s", 86400.0),
    "OTEL_PYTHON_COST_HOST_SHARE": ("2", "host_share", None),
    "OTEL_PYTHON_COST_HOST_WIDE": ("per-process", "host_wide", True),
    "OTEL_PYTHON_COST_NATIVE": ("c", "native", True),
    "OTEL_PYTHON_COST_DYNAMODB_CONSUMED_CAPACITY": ("sure", "dynamodb_consumed_capacity", True),
    "OTEL_PYTHON_COST_MAX_TRANSACTIONS": ("0", "max_transactions", 500),
    "OTEL_PYTHON_COST_TRUST_BAGGAGE": ("perhaps", "trust_baggage", True),
    "OTEL_PYTHON_COST_STORE_URL": ("mysql://db/costs", "store_url", None),
    "OTEL_PYTHON_COST_FLUSH_INTERVAL": ("-1", "flush_interval_s", 10.0),
    "OTEL_PYTHON_COST_RETENTION_DAYS": ("ninety", "retention_days", 90),
    "OTEL_PYTHON_COST_ROLLUP_DAYS": ("two", "rollup_days", 2),
    "OTEL_PYTHON_COST_CUSTOMER": ("end user id", "customer", None),
    "OTEL_PYTHON_COST_MAX_CUSTOMERS": ("many", "max_customers", 1000),
    "OTEL_PYTHON_COST_BUFFER_MAX_BATCHES": ("1.5", "buffer_max_batches", 360),
    "OTEL_PYTHON_COST_BUDGET_ACTION": ("block", "budget_enforce", False),
    "OTEL_PYTHON_COST_UNSAMPLED_ROOTS": ("keep", "record_unsampled_roots", True),
    "OTEL_PYTHON_COST_THREADS": ("some", "threads", True),
    "OTEL_PYTHON_COST_CACHE_DIR": ("relative/cache", "cache_dir", None),
    "OTEL_PYTHON_COST_LEDGER_DIR": ("ledger", "ledger_dir", None),
}


def test_every_variable_is_covered() -> None:
    import re

    from opentelemetry_instrumentation_cost import config

    source = Path(config.__file__).read_text()
    named = set(re.findall(r'"(OTEL_PYTHON_COST_[A-Z_0-9]+)"', source))
    free_text = {"OTEL_PYTHON_COST_BUDGETS"}  # budgets report their own bad entries, naming the variable
    assert named - free_text == set(BAD)


def test_an_app_started_with_every_variable_wrong_still_serves(tmp_path: Path) -> None:
    """A real process: one warning per variable, defaults used, requests served and priced."""
    from tests.conftest import http, run_example, server_spans, subprocess_env

    good = ("OTEL_PYTHON_COST_PRICE_FILE", "OTEL_PYTHON_COST_INSTANCE_TYPE")  # declared below: a priced host
    bad = {name: value for name, (value, _, _) in BAD.items() if name not in good}
    bad["OTEL_PYTHON_COST_PRICE_FILE"] = str(tmp_path / "missing.json")
    bad["OTEL_PYTHON_COST_BUDGETS"] = "POST /x=lots"
    env = subprocess_env(tmp_path, OTEL_PYTHON_COST_INSTANCE_TYPE="m5.large", **bad)
    with run_example(tmp_path, env) as app:
        assert http("GET", app.url + "/health")[0] == 200
        out, err = app.stop()
    from tests.conftest import parse_console_spans

    (span, *_) = server_spans(parse_console_spans(out))
    assert span["attributes"]["cost.usd"] > 0
    import re

    for name in bad:  # exactly one warning per variable (NAME=... or NAME: ...)
        assert len(re.findall(rf"{name}(?=[=:])", err)) == 1, name


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_value_warns_once_and_uses_the_default(name: str, caplog: pytest.LogCaptureFixture) -> None:
    value, field, default = BAD[name]
    settings = Settings.from_env({name: value})
    assert getattr(settings, field) == default
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert name in record.getMessage() and "default" in record.getMessage()


def test_good_values(tmp_path: Path) -> None:
    prices = tmp_path / "p.json"
    prices.write_text("{}")
    s = Settings.from_env(
        {
            "OTEL_PYTHON_COST_INSTANCE_TYPE": " m5.large ",
            "OTEL_PYTHON_COST_DISCOUNT": "0.18",
            "OTEL_PYTHON_COST_PRICE_FILE": str(prices),
            "OTEL_PYTHON_COST_PRICING_API": "FALSE",
            "OTEL_PYTHON_COST_PRICING_API_REGION": "ap-south-1",
            "OTEL_PYTHON_COST_HOST_SHARE": "0.25",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:1234/",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
    )
    assert (s.instance_type, s.discount, s.price_file, s.pricing_api, s.pricing_api_region, s.host_share) == (
        "m5.large",
        0.18,
        prices,
        False,
        "ap-south-1",
        0.25,
    )
    assert (s.imds_endpoint, s.aws_region) == ("http://127.0.0.1:1234", "eu-west-1")


def test_bad_price_file_content_warns_and_keeps_the_rest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from opentelemetry_instrumentation_cost.pricing.overrides import Overrides

    path = tmp_path / "p.json"
    path.write_text('{"instances": {"m5.large": 0.05, "c5.large": "cheap"}, "units": 3}')
    overrides = Overrides.load(path)
    assert overrides.get("instances", "m5.large").usd == 0.05
    assert overrides.get("instances", "c5.large") is None
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


@pytest.mark.parametrize(
    "region", ["us-east-1", "eu-central-2", "ap-southeast-5", "us-gov-west-1", "cn-northwest-1", "mx-central-1"]
)
def test_region_codes_are_accepted(region: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env({"OTEL_PYTHON_COST_PRICING_REGION": region})
    assert settings.pricing_region == region and not caplog.records


@pytest.mark.parametrize("region", ["Ireland", "eu-west", "us-east-1a", "eu_west_1", "EU-WEST-1"])
def test_what_is_not_a_region_code_is_named_in_a_warning(region: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_env({"OTEL_PYTHON_COST_PRICING_REGION": region})
    (record,) = caplog.records
    assert settings.pricing_region is None
    assert "OTEL_PYTHON_COST_PRICING_REGION" in record.getMessage() and "the host's own region" in record.getMessage()
