"""Build the bundled price snapshot from the public price data in ``../shared/reference/prices/`` (see its README for
sources, licences and where they disagree). No network, no credentials.

    python scripts/snapshot_from_reference.py [--reference DIR]

Writes ``pricing/snapshot/index.json`` (sources, Fargate, Lambda, per-unit service prices, Bedrock per model and
inference profile) and ``pricing/snapshot/ec2/<region>.json`` (one exact price per instance type, grouped by
source; no size factors). What the sources' README says is followed:
- us-east-1 and GovCloud from Karpenter's generated tables (the Price List's figures); the catalog only for types
  Karpenter lacks there; cn-north-1 left out (CNY, not USD);
- the other regions from the SkyPilot catalog, without p4d, p4de, p5 and p5en (prices from before AWS's mid-2025 GPU
  price cut, about 45% high);
- every bare-metal price marked unverified (the two sources disagree by 6% to 10%).
Service unit prices, Fargate and Lambda keep the figures of ``aws-pricing-facts.md`` (us-east-1).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_snapshot import summary, write_snapshot

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src/opentelemetry_instrumentation_cost/pricing/snapshot"
SOURCES = {
    "karpenter": {
        "what": "aws/karpenter-provider-aws pkg/providers/pricing/zz_generated.pricing_aws*.go at 1d927085dd81 "
        "(generated from the AWS Price List for us-east-1 on 2026-07-20), Apache-2.0",
        "as_of": "2026-07-20",
    },
    "skypilot": {
        "what": "skypilot-org/skypilot-catalog catalogs/v7/aws/vms.csv at 001367d22a00 (undated; GPU families older "
        "than mid-2025 are left out)",
        "as_of": "undated",
    },
    "litellm": {
        "what": "litellm 1.110.2 model_prices_and_context_window_backup.json, Bedrock entries, MIT",
        "as_of": "undated",
    },
    "aws-pages": {"what": "AWS public price pages, as gathered in aws-pricing-facts.md", "as_of": "2026-11-28"},
}
_STALE_GPU = re.compile(r"^(p4d|p4de|p5|p5en)\.")
_METAL = re.compile(r"\.metal")
_PROFILE = re.compile(r"^(us|eu|apac|us-gov|ca|jp|au|global)\.")
_VERSION = re.compile(r"(-\d{8})?(-v\d+(:\d+)?)?(:\d+)?$")
_DATE = re.compile(r"-(\d{8})")
_KINDS = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
}
# the service figures of aws-pricing-facts.md (us-east-1), as the snapshot has carried them
_SERVICE_UNITS = {
    "dynamodb/WriteRequestUnits": 6.25e-07, "dynamodb/ReadRequestUnits": 1.25e-07, "s3/Requests-Tier1": 5e-06,
    "s3/Requests-Tier2": 4e-07, "s3/Requests-Free": 0.0, "sqs/Requests": 4e-07, "sqs/Requests-FIFO": 5e-07,
    "sns/Requests": 5e-07, "events/Events": 1e-06, "lambda/Requests": 2e-07, "lambda/GB-Seconds": 1.66667e-05,
    "lambda/GB-Seconds-ARM": 1.33334e-05, "kms/Requests": 3e-06, "secretsmanager/Requests": 5e-06,
    "monitoring/GetMetricData-Metrics": 1e-05, "monitoring/Requests": 1e-05, "athena/TB-Scanned": 5.0,
    "stepfunctions/StateTransitions": 2.5e-05,
    # by storage class and table class (AWS's S3 and DynamoDB pricing pages; not in aws-pricing-facts.md: unverified)
    "s3/Requests-SIA-Tier1": 1e-05, "s3/Requests-SIA-Tier2": 1e-06, "s3/Requests-ZIA-Tier1": 1e-05,
    "s3/Requests-ZIA-Tier2": 1e-06, "s3/Requests-GIR-Tier1": 2e-05, "s3/Requests-GIR-Tier2": 1e-05,
    "s3/Requests-INT-Tier1": 5e-06, "s3/Requests-INT-Tier2": 4e-07,
    "dynamodb/IA-WriteRequestUnits": 7.8e-07, "dynamodb/IA-ReadRequestUnits": 1.55e-07,
}  # fmt: skip
_SERVICE_UNVERIFIED = [
    "s3/Requests-Free", "secretsmanager/Requests", "monitoring/Requests", "dynamodb/IA-WriteRequestUnits",
    "dynamodb/IA-ReadRequestUnits", *(f"s3/Requests-{c}-Tier{n}" for c in ("SIA", "ZIA", "GIR", "INT") for n in (1, 2)),
]  # fmt: skip
_NOTES = {
    "stepfunctions/StateTransitions": "StartExecution is counted as one transition; the rest is invisible to the "
    "caller (cost.partial)",
    "lambda/GB-Seconds": "x86 first tier",
    "lambda/GB-Seconds-ARM": "arm64 first tier",
}
_FARGATE = {
    "x86_64": {"vcpu_hour": 0.04048, "gb_hour": 0.004445},
    "arm64": {"vcpu_hour": 0.03238, "gb_hour": 0.00356},
}
_LAMBDA = {
    "x86_64": {"gb_second": 1.66667e-05, "request": 2e-07},
    "arm64": {"gb_second": 1.33334e-05, "request": 2e-07},
}


def ec2_tables(reference: Path) -> dict[str, dict[str, dict[str, float]]]:
    """{region: {source: {instance type: USD per hour}}}, the sources' README followed."""
    karpenter = json.loads((reference / "ec2_ondemand_karpenter.json").read_text())
    out: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for region, prices in karpenter.items():
        if region.startswith("cn-"):  # CNY
            continue
        out[region]["karpenter"] = {t: float(p) for t, p in prices.items() if float(p) > 0}
    with (reference / "ec2_ondemand_linux_skypilot.csv").open() as f:
        for row in csv.DictReader(f):
            region, itype, usd = row["region"], row["instance_type"], float(row["usd_per_hour"])
            if usd <= 0 or itype in out[region].get("karpenter", {}):
                continue
            if region != "us-east-1" and _STALE_GPU.match(itype):
                continue
            out[region].setdefault("skypilot", {})[itype] = usd
    return out


def bedrock_units(reference: Path) -> tuple[dict[str, dict[str, float]], list[str]]:
    """{region: {"bedrock/<profile.>model/<kind>": USD per token}}: entries without a region are us-east-1's, and
    ``bedrock/<region>/<model>`` entries that region's. Where two versions of a model differ, the newest dated one;
    where that does not settle it, none (printed)."""
    data = json.loads((reference / "bedrock_litellm.json").read_text())
    found: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)  # (region, model, kind) → {id: usd}
    for key, entry in data.items():
        parts = key.split("/")
        if len(parts) == 1:
            region, model_id = "us-east-1", key
        elif len(parts) == 3 and parts[0] == "bedrock" and re.match(r"^[a-z]{2}(-gov)?-[a-z]+-\d$", parts[1]):
            region, model_id = parts[1], parts[2]
        else:
            continue  # commitments, platform aliases, image sizes
        scope = _PROFILE.match(model_id)
        model = (scope.group(0) if scope else "") + _VERSION.sub("", _PROFILE.sub("", model_id))
        if "@" in model or ":" in model:
            continue
        for kind, field in _KINDS.items():
            usd = entry.get(field)
            if isinstance(usd, (int, float)):
                found[(region, model, kind)][model_id] = float(usd)
    units: dict[str, dict[str, float]] = defaultdict(dict)
    dropped = []
    for (region, model, kind), by_id in sorted(found.items()):
        usd = _settled(by_id)
        if usd is None:
            dropped.append(f"{region} {model} {kind}: {by_id}")
        else:
            units[region][f"bedrock/{model}/{kind}"] = usd
    return units, dropped


def _settled(by_id: dict[str, float]) -> float | None:
    """One price for a model's versions: the only one, else the newest dated version's, else none."""
    if len(set(by_id.values())) == 1:
        return next(iter(by_id.values()))
    dated = {m.group(1): None for i in by_id if (m := _DATE.search(i))}
    if not dated:
        return None
    latest = max(dated)
    same = {u for i, u in by_id.items() if (m := _DATE.search(i)) and m.group(1) == latest}
    return same.pop() if len(same) == 1 else None


def build(reference: Path, out: Path = OUT) -> dict[str, Any]:
    tables = ec2_tables(reference)
    bedrock, dropped = bedrock_units(reference)
    for line in dropped:
        print(f"left out (the versions disagree): {line}", file=sys.stderr)
    ec2 = {
        region: {"by_source": by_source,
                 "unverified": sorted(t for prices in by_source.values() for t in prices if _METAL.search(t))}
        for region, by_source in sorted(tables.items())
        if by_source
    }  # fmt: skip
    units: dict[str, dict[str, list[Any]]] = defaultdict(dict)
    for key, usd in _SERVICE_UNITS.items():
        units["us-east-1"][key] = [usd, "aws-pages"]
    for region, prices in bedrock.items():
        for key, usd in prices.items():
            units[region][key] = [usd, "litellm"]
    index = {
        "published": date.today().isoformat(),
        "built_from": "scripts/snapshot_from_reference.py over shared/reference/prices",
        "sources": SOURCES,
        "fargate": {"us-east-1": {"source": "aws-pages", **_FARGATE}},
        "lambda": {"us-east-1": {"source": "aws-pages", **_LAMBDA}},
        "units": dict(sorted(units.items())),
        "unverified_units": _SERVICE_UNVERIFIED,
        "notes": _NOTES,
    }
    return write_snapshot(out, index, ec2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=ROOT.parent / "shared/reference/prices")
    args = parser.parse_args()
    print(summary(build(args.reference), OUT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
