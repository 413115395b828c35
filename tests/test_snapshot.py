"""The bundled snapshot prices offline, exactly, what the public data holds (copied under ``tests/data/prices/``
from ``shared/reference/prices``, whose README gives sources and licences), and nothing it does not.

The expected figures are the data files' own, read here; the package is asked through its price book (no
override, no cache, no API) and through ``otel-cost prices``.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path

import boto3
import pytest

from opentelemetry_instrumentation_cost._cache import DiskCache
from opentelemetry_instrumentation_cost.config import Settings
from opentelemetry_instrumentation_cost.pricing.book import PriceBook
from scripts.harness import BIN
from tests.fakes.bedrock import FakeBedrockRuntime
from tests.test_aws_meters import session

DATA = Path(__file__).parent / "data" / "prices"
STALE_GPU = re.compile(r"^(p4d|p4de|p5|p5en)\.")


def _book(tmp_path: Path) -> PriceBook:
    settings = Settings(pricing_api=False, cache_dir=tmp_path)
    return PriceBook(settings, DiskCache(tmp_path, 0))


def test_every_us_east_1_and_govcloud_type_in_the_data_is_priced_exactly(tmp_path: Path) -> None:
    karpenter = json.loads((DATA / "ec2_ondemand_karpenter.json").read_text())
    book = _book(tmp_path)
    walked = 0
    for region in ("us-east-1", "us-gov-east-1", "us-gov-west-1"):
        for itype, usd in karpenter[region].items():
            price = book.ec2_hourly(itype, region)
            assert price is not None, (region, itype)
            assert (price.usd, price.source, price.as_of) == (usd, "snapshot", "2026-07-20"), (region, itype)
            assert price.unverified == (".metal" in itype), itype  # the sources disagree on bare metal
            walked += 1
    assert walked == 1367 + 549 + 770
    assert book.ec2_hourly("c5.large", "cn-north-1") is None  # priced in CNY in the data: left out, never as USD


def test_the_other_regions_are_priced_from_the_catalog_without_its_stale_gpu_prices(tmp_path: Path) -> None:
    book = _book(tmp_path)
    walked = left_out = 0
    with (DATA / "ec2_ondemand_linux_skypilot.csv").open() as f:
        for row in csv.DictReader(f):
            if row["region"] == "us-east-1":
                continue
            price = book.ec2_hourly(row["instance_type"], row["region"])
            if STALE_GPU.match(row["instance_type"]):
                assert price is None, row  # about 45% above AWS's price since mid-2025: unknown, not wrong
                left_out += 1
                continue
            assert price is not None and price.usd == float(row["usd_per_hour"]), row
            assert price.as_of == "undated"
            walked += 1
    assert walked > 10_000 and left_out > 0
    assert book.ec2_hourly("m5.large", "il-central-1") is None  # a region with no data: unknown


@pytest.mark.parametrize(
    ("region", "itype", "line"),
    [
        ("us-east-1", "m7i.metal-24xl", "$5.32224  snapshot as of 2026-07-20 [unverified]"),
        ("us-east-1", "p5.48xlarge", "$55.04  snapshot as of 2026-07-20"),  # after the mid-2025 GPU price cut
        ("us-east-1", "g6f.2xlarge", None),  # a GPU type: its own price, no size factor
        ("eu-west-1", "m5.large", "$0.107  snapshot (undated source)"),
        ("eu-west-1", "p5.48xlarge", "unknown"),
        ("il-central-1", "m5.large", "unknown"),
    ],
)
def test_otel_cost_prices_shows_metal_gpu_and_unknown_hosts(region: str, itype: str, line: str | None) -> None:
    karpenter = json.loads((DATA / "ec2_ondemand_karpenter.json").read_text())
    if line is None:
        line = f"${karpenter[region][itype]:.10g}  snapshot as of 2026-07-20"
    out = subprocess.run(
        [str(BIN / "otel-cost"), "prices", "--region", region, "--instance-type", itype],
        capture_output=True, text=True, check=True, env={"OTEL_PYTHON_COST_PRICING_API": "false", "PATH": "/usr/bin"},
    ).stdout  # fmt: skip
    (row,) = [r for r in out.splitlines() if r.strip().startswith(itype)]
    assert row.split("per hour", 1)[1].strip().startswith(line), row


def test_coverage_lists_every_region_with_its_types_services_and_dates() -> None:
    out = subprocess.run(
        [str(BIN / "otel-cost"), "prices", "--coverage"], capture_output=True, text=True, check=True
    ).stdout
    rows = {r.split()[0]: r for r in out.splitlines() if re.match(r"^[a-z]{2}(-gov)?-[a-z]+-\d ", r)}
    karpenter = json.loads((DATA / "ec2_ondemand_karpenter.json").read_text())
    assert rows["us-east-1"].split()[1] == str(len(karpenter["us-east-1"]))
    for service in ("dynamodb", "s3", "sqs", "sns", "fargate", "lambda", "bedrock"):
        assert service in rows["us-east-1"]
    assert len([r for r in rows if r in {"eu-west-1", "ap-southeast-2", "us-west-2", "sa-east-1"}]) == 4
    assert "karpenter  as of 2026-07-20" in out and "skypilot   as of undated" in out


BEDROCK_USAGE = {"inputTokens": 1000, "outputTokens": 500}


def test_bedrock_geographic_and_global_profiles_are_charged_apart(
    monkeypatch: pytest.MonkeyPatch, moto_url: str
) -> None:
    """Claude Sonnet 4.5: ``us.`` $3.30 / $16.50 per million tokens in / out, ``global.`` $3 / $15 (AWS's
    Bedrock pricing page, as the reference data's README quotes it)."""
    with FakeBedrockRuntime(BEDROCK_USAGE) as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.url)
        with session(monkeypatch, moto_url, "before") as (tracer, exporter):
            br = boto3.client("bedrock-runtime", region_name="us-east-1")
            msg = [{"role": "user", "content": [{"text": "hi"}]}]
            for profile in ("us", "global"):
                with tracer.start_as_current_span(profile):
                    br.converse(modelId=f"{profile}.anthropic.claude-sonnet-4-5-20250929-v1:0", messages=msg)
    roots = {s.name: s.attributes for s in exporter.get_finished_spans() if s.name in {"us", "global"}}
    calls = [s.attributes for s in exporter.get_finished_spans() if s.attributes.get("rpc.method") == "Converse"]
    assert [c["cost.usd"] for c in calls] == [
        pytest.approx(1000 * 3.30e-6 + 500 * 16.50e-6, rel=1e-12),
        pytest.approx(1000 * 3e-6 + 500 * 15e-6, rel=1e-12),
    ]
    for name, call in (("us", calls[0]), ("global", calls[1])):
        root = roots[name]
        assert root["cost.transaction.usd"] - root["cost.compute.usd"] == pytest.approx(call["cost.usd"], rel=1e-9)


def test_usage_types_map_as_a_real_bill_names_them() -> None:
    """The Price List's products and a bill's lines share usage types: the legacy CUR sample's (tests/data/billing)
    map to the meters' units, region prefixes of every form removed, and what no meter counts maps to nothing."""
    from opentelemetry_instrumentation_cost.pricing.services import SERVICE_CODES, unit_of

    services = {code: name for name, code in SERVICE_CODES.items()}
    with (Path(__file__).parent / "data" / "billing" / "aws-cur-legacy-sample.csv").open() as f:
        seen = {(services.get(r["lineItem/ProductCode"]), r["lineItem/UsageType"]) for r in csv.DictReader(f)}
    mapped = {(s, usage): unit_of(s, usage) for s, usage in seen if s is not None}
    assert mapped[("sqs", "USW2-Requests-Tier1")] == "Requests"
    assert mapped[("s3", "CAN1-Requests-Tier2")] == "Requests-Tier2"
    assert mapped[("s3", "Requests-Tier1")] == "Requests-Tier1"
    assert mapped[("kms", "ca-central-1-KMS-Requests")] == "Requests"
    assert mapped[("secretsmanager", "CAN1-AWSSecretsManagerAPIRequest")] == "Requests"
    assert mapped[("sns", "CAN1-Requests-Tier1")] == "Requests"
    assert mapped[("monitoring", "CW:Requests")] == "Requests"
    assert mapped[("s3", "USW2-TimedStorage-ByteHrs")] is None and mapped[("s3", "USE1-CAN1-AWS-Out-Bytes")] is None
