"""``scripts/build_snapshot.py`` rebuilds the snapshot from AWS's bulk price files (served here on loopback in their
real shape: offer index, region indexes, CSV offer files), for every commercial region, and fails loudly, writing
nothing, when a fetch fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from scripts.harness import ROOT
from tests.fakes.bulk import FakeBulkPrices

PUBLISHED = "2026-11-01"
EC2_BASE = {"Unit": "Hrs", "Product Family": "Compute Instance", "Tenancy": "Shared", "Operating System": "Linux",
            "License Model": "No License required", "CapacityStatus": "Used", "MarketOption": "OnDemand",
            "Pre Installed S/W": "NA"}  # fmt: skip


def _ec2(itype: str, usd: float, **changes: str) -> dict[str, str]:
    return {**EC2_BASE, "Instance Type": itype, "PricePerUnit": str(usd), **changes}


def _unit(usage: str, usd: float, start: float = 0) -> dict[str, str]:
    return {"usageType": usage, "PricePerUnit": str(usd), "StartingRange": str(start), "Unit": "Requests"}


EU_EC2 = [
    _ec2("m5.large", 0.107),
    _ec2("m5.large", 0.199, **{"Operating System": "Windows"}),
    _ec2("m5.large", 0.061, TermType="Reserved"),
    _ec2("m5.large", 0.107, CapacityStatus="UnusedCapacityReservation"),
    _ec2("m5.large", 0.118, Tenancy="Dedicated"),
    _ec2("m7i.metal-24xl", 5.9136, **{"Product Family": "Compute Instance (bare metal)", "Tenancy": "Dedicated"}),
    _ec2("p5.48xlarge", 55.04),
    _ec2("m5.large", 2.3, **{"Product Family": "Dedicated Host", "Tenancy": "Host"}),
]
EU_UNITS = {
    "AmazonDynamoDB": [_unit("EU-WriteRequestUnits", 7.05e-07), _unit("EU-TimedStorage-ByteHrs", 0.283)],
    "AmazonS3": [_unit("EU-Requests-Tier1", 5.4e-06), _unit("EU-Requests-Tier2", 4.3e-07)],
    "AWSQueueService": [
        _unit("EU-Requests-Tier1", 0.0),
        _unit("EU-Requests-Tier1", 4.4e-07, 1e6),
        _unit("EU-Requests-Tier1", 3.5e-07, 1e11),
    ],
    "AWSLambda": [
        _unit("EU-Lambda-GB-Second", 1.66667e-05),
        _unit("EU-Lambda-GB-Second", 1.5e-05, 6e9),
        _unit("EU-Request", 2e-07),
        _unit("EU-Lambda-GB-Second-ARM", 1.33334e-05),
    ],
    "AmazonECS": [_unit("EU-Fargate-vCPU-Hours:perCPU", 0.04456), _unit("EU-Fargate-GB-Hours", 0.004865)],
}
OTHER = ("AmazonSNS", "AWSEvents", "awskms", "AWSSecretsManager", "AmazonCloudWatch", "AmazonStates", "AmazonAthena")


def _offers() -> dict[str, dict[str, tuple[str, list[dict[str, str]]]]]:
    offers = {
        "AmazonEC2": {
            "us-east-1": (PUBLISHED, [_ec2("m5.large", 0.096)]),
            "eu-west-1": (PUBLISHED, EU_EC2),
            "cn-north-1": (PUBLISHED, [_ec2("m5.large", 0.739)]),  # CNY, another partition: never in the snapshot
            "us-gov-west-1": (PUBLISHED, [_ec2("m5.large", 0.121)]),
        }
    }
    for code, rows in EU_UNITS.items():
        offers[code] = {"eu-west-1": (PUBLISHED, rows)}
    for code in OTHER:
        offers[code] = {"eu-west-1": (PUBLISHED, [])}
    return offers


def _run(endpoint: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_snapshot.py"), "--endpoint", endpoint, "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _bundled(tmp_path: Path) -> Path:
    out = tmp_path / "snapshot"
    shutil.copytree(ROOT / "src" / "opentelemetry_instrumentation_cost" / "pricing" / "snapshot", out)
    return out


def test_the_snapshot_is_rebuilt_from_the_bulk_files_for_every_commercial_region(tmp_path: Path) -> None:
    out = _bundled(tmp_path)
    bedrock_before = {k: v for k, v in json.loads((out / "index.json").read_text())["units"]["us-east-1"].items()
                      if k.startswith("bedrock/")}  # fmt: skip
    with FakeBulkPrices(_offers()) as fake:
        done = _run(fake.url, out)
    assert done.returncode == 0, done.stderr
    source = f"aws-bulk-{PUBLISHED}"
    eu = json.loads((out / "ec2" / "eu-west-1.json").read_text())
    assert eu["by_source"] == {source: {"m5.large": 0.107, "m7i.metal-24xl": 5.9136, "p5.48xlarge": 55.04}}
    assert sorted(p.name for p in (out / "ec2").iterdir()) == ["eu-west-1.json", "us-east-1.json"]
    index = json.loads((out / "index.json").read_text())
    assert index["sources"][source]["as_of"] == PUBLISHED and index["published"] == PUBLISHED
    assert {k: v for k, v in index["units"]["eu-west-1"].items() if not k.startswith("bedrock/")} == {
        "dynamodb/WriteRequestUnits": [7.05e-07, source],
        "s3/Requests-Tier1": [5.4e-06, source],
        "s3/Requests-Tier2": [4.3e-07, source],
        "sqs/Requests": [4.4e-07, source],  # the first paid tier
        "lambda/GB-Seconds": [1.66667e-05, source],
        "lambda/GB-Seconds-ARM": [1.33334e-05, source],
        "lambda/Requests": [2e-07, source],
        "fargate/vCPU-Hours": [0.04456, source],
        "fargate/GB-Hours": [0.004865, source],
    }
    assert index["fargate"]["eu-west-1"] == {"source": source, "x86_64": {"vcpu_hour": 0.04456, "gb_hour": 0.004865}}
    assert index["lambda"]["eu-west-1"]["arm64"] == {"gb_second": 1.33334e-05}
    bedrock_after = {k: v for k, v in index["units"]["us-east-1"].items() if k.startswith("bedrock/")}
    assert bedrock_after == bedrock_before and bedrock_after  # kept: the bulk files do not carry model ids


def test_a_failed_fetch_stops_the_build_and_writes_nothing(tmp_path: Path) -> None:
    out = _bundled(tmp_path)
    before = (out / "index.json").read_bytes()
    with FakeBulkPrices(_offers()) as fake:
        broken = "/offers/v1.0/aws/AmazonS3/20261101000000/eu-west-1/index.csv"
        fake.broken.add(broken)
        done = _run(fake.url, out)
    assert done.returncode == 1
    assert broken in done.stderr and "nothing written" in done.stderr
    assert (out / "index.json").read_bytes() == before  # no date stamped on prices that were not fetched
    assert not list(tmp_path.glob("snapshot-*"))  # no staging folder left behind
