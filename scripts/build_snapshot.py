"""Rebuild the bundled price snapshot from AWS's public bulk price files (no credentials), for every commercial region.

    python scripts/build_snapshot.py [--endpoint https://pricing.us-east-1.amazonaws.com] [--out DIR]

Reads the offer index (``/offers/v1.0/aws/index.json``), each service's region index, and each region's offer file
in its CSV form (streamed row by row: EC2's files are hundreds of megabytes), and writes ``snapshot/index.json`` and
``snapshot/ec2/<region>.json``: one price per (region, instance type) (Linux, on demand, shared tenancy; bare metal
from its own product family, dedicated) and per (region, unit) of every service the meters price, Fargate and Lambda
included, each dated by its offer file's publication date. Bedrock keeps the snapshot's per-model, per-profile
prices (the bulk files name models by display name, not by the ids calls carry). Any failed fetch or unreadable file
stops the build with a message and a non-zero exit, and nothing is written: a date is never stamped on prices that
were not fetched.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import sys
import tempfile
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from opentelemetry_instrumentation_cost.pricing.services import SERVICE_CODES, unit_of

OUT = Path(__file__).resolve().parent.parent / "src/opentelemetry_instrumentation_cost/pricing/snapshot"
ENDPOINT = "https://pricing.us-east-1.amazonaws.com"
_EC2_FAMILIES = {"Compute Instance": "Shared", "Compute Instance (bare metal)": "Dedicated"}


class BuildError(Exception):
    pass


def _open(url: str) -> Any:
    try:
        return urllib.request.urlopen(url, timeout=60)  # the endpoint is the user's to choose
    except Exception as exc:  # HTTP errors, refused connections, timeouts: the build stops
        raise BuildError(f"cannot fetch {url}: {exc}") from None


def _json(url: str) -> Any:
    with _open(url) as resp:
        try:
            return json.load(resp)
        except ValueError as exc:
            raise BuildError(f"{url} is not JSON: {exc}") from None


def offer_rows(url: str) -> tuple[str, Iterator[dict[str, str]]]:
    """An offer file in CSV form: its publication date, and its price rows as dicts (streamed)."""
    resp = _open(url)
    text = io.TextIOWrapper(resp, encoding="utf-8", newline="")
    reader = csv.reader(text)
    meta = {}
    for _ in range(5):  # FormatVersion, Disclaimer, Publication Date, Version, OfferCode
        row = next(reader, None)
        if not row or len(row) < 2:
            raise BuildError(f"{url}: not an offer file (its preamble is missing)")
        meta[row[0]] = row[1]
    header = next(reader, None)
    if not header or "PricePerUnit" not in header:
        raise BuildError(f"{url}: not an offer file (no price header)")
    published = meta.get("Publication Date", "")[:10]
    if not published:
        raise BuildError(f"{url}: no publication date")

    def rows() -> Iterator[dict[str, str]]:
        with resp:
            try:
                for row in reader:
                    yield dict(zip(header, row, strict=False))
            except (OSError, csv.Error, UnicodeDecodeError) as exc:  # cut off or corrupt mid-file
                raise BuildError(f"{url}: {exc.__class__.__name__}: {exc}") from None

    return published, rows()


def _commercial(region: str) -> bool:
    return not region.startswith(("cn-", "us-gov-", "us-iso", "eu-isoe-")) and region != "global"


def ec2_prices(rows: Iterator[dict[str, str]]) -> dict[str, float]:
    prices: dict[str, set[float]] = defaultdict(set)
    for r in rows:
        tenancy = _EC2_FAMILIES.get(r.get("Product Family", ""))
        if (tenancy is None or r.get("TermType") != "OnDemand" or r.get("Unit") != "Hrs"
                or r.get("Tenancy") != tenancy or r.get("Operating System") != "Linux"
                or r.get("Pre Installed S/W") != "NA" or r.get("License Model") != "No License required"
                or r.get("CapacityStatus") != "Used" or r.get("MarketOption", "OnDemand") != "OnDemand"):  # fmt: skip
            continue
        usd = float(r.get("PricePerUnit") or 0)
        if usd > 0:
            prices[r["Instance Type"]].add(usd)
    ambiguous = sorted(t for t, p in prices.items() if len(p) > 1)
    if ambiguous:
        print(f"  left out (several prices): {', '.join(ambiguous[:10])}", file=sys.stderr)
    return {t: p.pop() for t, p in sorted(prices.items()) if len(p) == 1}


def unit_prices(service: str, rows: Iterator[dict[str, str]]) -> dict[str, float]:
    """Each unit's first paid tier (tiers ordered by ``StartingRange``)."""
    tiers: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        if r.get("TermType") != "OnDemand":
            continue
        unit = unit_of(service, r.get("usageType", ""))
        if unit is not None:
            tiers[f"{service}/{unit}"].append((float(r.get("StartingRange") or 0), float(r.get("PricePerUnit") or 0)))
    out = {}
    for key, found in tiers.items():
        paid = sorted(t for t in found if t[1] > 0)
        if paid and len({u for s, u in paid if s == paid[0][0]}) == 1:
            out[key] = paid[0][1]
    return out


def build(endpoint: str, out: Path) -> dict[str, Any]:
    endpoint = endpoint.rstrip("/")
    offers = _json(f"{endpoint}/offers/v1.0/aws/index.json").get("offers", {})
    codes = {"ec2": "AmazonEC2", **SERVICE_CODES}
    missing = [code for code in codes.values() if code not in offers]
    if missing:
        raise BuildError(f"the offer index lacks {', '.join(missing)}")
    sources: dict[str, dict[str, str]] = {}
    ec2: dict[str, dict[str, Any]] = {}
    units: dict[str, dict[str, list[Any]]] = defaultdict(dict)
    for service, code in codes.items():
        regions = _json(endpoint + offers[code]["currentRegionIndexUrl"]).get("regions", {})
        for region, entry in sorted(regions.items()):
            if not _commercial(region):
                continue
            url = endpoint + entry["currentVersionUrl"].removesuffix(".json") + ".csv"
            published, rows = offer_rows(url)
            source = f"aws-bulk-{published}"
            sources[source] = {"what": f"AWS bulk price files ({endpoint}), published {published}", "as_of": published}
            if service == "ec2":
                prices = ec2_prices(rows)
                if prices:
                    ec2[region] = {"by_source": {source: prices},
                                   "unverified": []}  # fmt: skip
            else:
                for key, usd in unit_prices(service, rows).items():
                    units[region][key] = [usd, source]
            print(f"{code} {region}: {published}", file=sys.stderr)
    return _write(out, sources, ec2, units)


def _write(out: Path, sources: dict, ec2: dict, units: dict) -> dict[str, Any]:
    """Everything into a new folder first, then in place of the old one: a failed build leaves the old intact."""
    old = json.loads((out / "index.json").read_text()) if (out / "index.json").exists() else {}
    for region, entries in old.get("units", {}).items():  # Bedrock: per model and profile, kept as it was
        for key, value in entries.items():
            if key.startswith("bedrock/"):
                units[region][key] = value
                sources.setdefault(value[1], old.get("sources", {}).get(value[1], {}))
    sized: dict[str, dict[str, Any]] = {"fargate": {}, "lambda": {}}
    for region, entries in units.items():
        for kind, arch, dim, key in _SIZED:
            if key in entries:
                table = sized[kind].setdefault(region, {"source": entries[key][1]})
                table.setdefault(arch, {})[dim] = entries[key][0]
    publications = sorted(s["as_of"] for n, s in sources.items() if n.startswith("aws-bulk-"))
    index = {
        "published": publications[-1] if publications else "unknown",
        "built_from": "scripts/build_snapshot.py over AWS's bulk price files",
        "sources": sources,
        **sized,
        "units": {r: dict(sorted(u.items())) for r, u in sorted(units.items())},
        "unverified_units": [],
        "notes": old.get("notes", {}),
    }
    return write_snapshot(out, index, ec2)


def write_snapshot(out: Path, index: dict[str, Any], ec2: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``index.json`` and one ``ec2/<region>.json`` per region (``{"by_source": ..., "unverified": [...]}``), into a
    new folder first, then in place of ``out``: a failed build leaves the old snapshot intact. ``index`` gains the
    count of each region's types and its sources."""
    index["ec2_regions"] = {
        region: {"types": sum(len(p) for p in t["by_source"].values()), "sources": sorted(t["by_source"])}
        for region, t in sorted(ec2.items())
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="snapshot-", dir=out.parent))
    (staging / "ec2").mkdir()
    for region, table in ec2.items():
        body = {"region": region, **table}
        (staging / "ec2" / f"{region}.json").write_text(json.dumps(body, separators=(",", ":"), sort_keys=True) + "\n")
    (staging / "index.json").write_text(json.dumps(index, separators=(",", ":"), sort_keys=True) + "\n")
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return index


def summary(index: dict[str, Any], out: Path) -> str:
    types = sum(r["types"] for r in index["ec2_regions"].values())
    units = sum(map(len, index["units"].values()))
    return f"{len(index['ec2_regions'])} regions, {types} instance prices, {units} unit prices → {out}"


_SIZED = (
    ("fargate", "x86_64", "vcpu_hour", "fargate/vCPU-Hours"),
    ("fargate", "x86_64", "gb_hour", "fargate/GB-Hours"),
    ("fargate", "arm64", "vcpu_hour", "fargate/ARM-vCPU-Hours"),
    ("fargate", "arm64", "gb_hour", "fargate/ARM-GB-Hours"),
    ("lambda", "x86_64", "gb_second", "lambda/GB-Seconds"),
    ("lambda", "arm64", "gb_second", "lambda/GB-Seconds-ARM"),
    ("lambda", "x86_64", "request", "lambda/Requests"),
    ("lambda", "arm64", "request", "lambda/Requests-ARM"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default=ENDPOINT, help="where the bulk files are (default: AWS's)")
    parser.add_argument("--out", type=Path, default=OUT, help="the snapshot folder to replace")
    args = parser.parse_args()
    try:
        index = build(args.endpoint, args.out)
    except BuildError as exc:
        print(f"build_snapshot: {exc}; nothing written", file=sys.stderr)
        return 1
    print(summary(index, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
