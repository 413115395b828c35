"""Regenerate the bundled price snapshot from the AWS Price List API (needs AWS credentials).

    python scripts/build_snapshot.py [--regions us-east-1 eu-west-1] [--dry-run]

Refreshes the ``.large`` price of every family already in the snapshot for each region, through the same code
the package uses at run time, clears the "unverified" marks the API has now confirmed, and stamps today's date.
Service unit prices, Fargate and Lambda are kept as they are (edit them by hand from AWS's pages).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from opentelemetry_instrumentation_cost.pricing.api import fetch_ec2_on_demand

SNAPSHOT = Path(__file__).resolve().parent.parent / "src/opentelemetry_instrumentation_cost/pricing/snapshot.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", nargs="+", default=["us-east-1"])
    parser.add_argument("--api-region", default="us-east-1")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    data = json.loads(SNAPSHOT.read_text())
    families = sorted(data["ec2"]["us-east-1"]["large"])
    for region in args.regions:
        table = data["ec2"].setdefault(region, {})
        large = table.setdefault("large", {})
        for family in families:
            try:
                large[family] = fetch_ec2_on_demand(f"{family}.large", region, args.api_region)
            except Exception as exc:  # keep the old figure, say so
                print(f"{region} {family}.large: kept ({exc.__class__.__name__}: {exc})", file=sys.stderr)
                continue
            if family in table.get("unverified", []):
                table["unverified"].remove(family)
            print(f"{region} {family}.large = {large[family]}")
    data["published"] = date.today().isoformat()
    if args.dry_run:
        print(json.dumps(data, indent=2))
    else:
        SNAPSHOT.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
