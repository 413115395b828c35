"""The upstream instrumentations' own test suites, run with and without the cost package: same outcomes, and every
exported span the same but for ``cost.*`` attributes.

Each suite comes from its source distribution at the installed version (``pip download --no-binary :all:``, kept
in ``.peer/``). It runs three times under ``scripts/peer_plugin.py``: twice without the package (attribute values
that differ between those two are the suite's own randomness: request ids, ports, durations, and are compared by
key only) and once with it. ``python scripts/peer_suites.py [botocore|flask|boto3sqs ...]``; exit 1 on any
difference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".peer"
SUITES = {
    "botocore": "opentelemetry-instrumentation-botocore",
    "flask": "opentelemetry-instrumentation-flask",
    "boto3sqs": "opentelemetry-instrumentation-boto3sqs",
}
# Tests whose outcome depends on what is installed rather than on the code under test (none so far).
EXCLUDED: dict[str, str] = {}
_ENV = {
    "OTEL_PYTHON_COST_INSTANCE_TYPE": "m5.large",
    "OTEL_PYTHON_COST_PRICING_API": "false",
    "OTEL_PYTHON_COST_STORE_URL": "none",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def source(dist: str) -> Path:
    """The suite's source tree at the installed version, downloaded once."""
    version = metadata.version(dist)
    name = f"{dist.replace('-', '_')}-{version}"
    tree = CACHE / name
    if not (tree / "tests").is_dir():
        CACHE.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps", "-d", tmp,
                 f"{dist}=={version}"],
                check=True,
            )  # fmt: skip
            (archive,) = Path(tmp).glob("*.tar.gz")
            with tarfile.open(archive) as tar:
                tar.extractall(CACHE, filter="data")
    return tree


def run(tree: Path, mode: str, ledger: str) -> dict[str, Any]:
    """One run of the suite; what the plugin recorded."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AWS_"))}
        env.update(_ENV, OTEL_PYTHON_COST_LEDGER_DIR=ledger, OTEL_COST_PEER_MODE=mode, OTEL_COST_PEER_OUT=out.name)
        env["PYTHONPATH"] = str(ROOT)
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "scripts.peer_plugin", "tests"]
        subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
        return json.loads(Path(out.name).read_text())


def _volatile(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> set[str]:
    """Attribute keys whose values differ between two runs without the package (ids, ports, durations)."""
    keys = {k for span in a + b for k in span["attributes"]}

    def values(spans: list[dict[str, Any]], key: str) -> list[str]:
        return sorted(json.dumps([s["name"], s["attributes"].get(key)]) for s in spans)

    return {k for k in keys if values(a, k) != values(b, k)}


def _comparable(span: dict[str, Any], volatile: set[str]) -> dict[str, Any]:
    attrs = {k: (None if k in volatile else v) for k, v in span["attributes"].items() if not k.startswith("cost.")}
    return {**span, "attributes": attrs}


def compare(first: dict[str, Any], again: dict[str, Any], with_cost: dict[str, Any]) -> list[str]:
    """Differences between the run with the package and the first without, per test."""
    problems = []
    for test, outcome in sorted(first["outcomes"].items()):
        if any(name in test for name in EXCLUDED):
            continue
        if with_cost["outcomes"].get(test) != outcome:
            problems.append(f"{test}: {outcome} without the package, {with_cost['outcomes'].get(test)} with it")
            continue
        a, b, c = (run["spans"].get(test, []) for run in (first, again, with_cost))
        volatile = _volatile(a, b)
        x, z = ([_comparable(s, volatile) for s in spans] for spans in (a, c))
        x.sort(key=lambda s: json.dumps(s, sort_keys=True))
        z.sort(key=lambda s: json.dumps(s, sort_keys=True))
        if x != z:
            diff = next(((p, q) for p, q in zip(x, z, strict=False) if p != q), (len(x), len(z)))
            problems.append(f"{test}: the exported spans differ beyond cost.*: {diff}")
    return problems


def main(names: list[str]) -> int:
    failed = False
    with tempfile.TemporaryDirectory() as ledger:
        for name in names or list(SUITES):
            tree = source(SUITES[name])
            first, again, with_cost = (run(tree, mode, ledger) for mode in ("off", "off", "on"))
            problems = compare(first, again, with_cost)
            spans = sum(len(s) for s in with_cost["spans"].values())
            same = sum(1 for t, o in first["outcomes"].items() if with_cost["outcomes"].get(t) == o)
            print(f"{name}: {len(first['outcomes'])} tests, {same} with the same outcome, {spans} spans compared")
            for problem in problems:
                print("  " + problem[:2000])
            failed = failed or bool(problems) or not first["outcomes"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
