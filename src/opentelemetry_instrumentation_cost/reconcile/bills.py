"""Reading a billing export into day × service × usage × region × category sums.

Two readers give the same sums: DuckDB (the ``[reconcile]`` extra: CSV, gzip'd CSV and Parquet, summed in its
engine, a million lines in about a second) and the standard library's ``csv`` (CSV and gzip'd CSV, row by row),
used when DuckDB is not installed or ``--reader csv`` asks for it.
"""

from __future__ import annotations

import csv
import glob
import gzip
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from .layouts import Layout, detect, resolve

AWS_PROVIDERS = ("AWS", "Amazon Web Services")
Group = tuple[str, str, str, str, str]  # day, service (as billed), usage, region, category (as billed)
Sums = list[float]  # quantity, list cost, effective cost, lines, billed cost


class BillError(Exception):
    """A bill the reader cannot use: ``code`` 2 (bad arguments) or 4 (missing columns)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def files(spec: str) -> list[Path]:
    """A file, a folder (its CSV, CSV.GZ and Parquet files, recursively) or a glob."""
    path = Path(spec)
    if path.is_dir():
        found = [p for p in sorted(path.rglob("*")) if p.name.endswith((".csv", ".csv.gz", ".parquet"))]
    elif path.exists():
        found = [path]
    else:
        found = [Path(p) for p in sorted(glob.glob(spec, recursive=True))]
    if not found:
        raise BillError(f"no billing file at {spec}", 2)
    return found


def read(spec: str, layout_name: str | None = None, reader: str = "auto") -> tuple[Layout, dict[Group, Sums]]:
    paths = files(spec)
    parquet = any(p.name.endswith(".parquet") for p in paths)
    use_duckdb = reader == "duckdb" or (reader == "auto" and _has_duckdb())
    if use_duckdb and not _has_duckdb():
        raise BillError("--reader duckdb needs DuckDB: pip install 'opentelemetry-instrumentation-cost[reconcile]'", 2)
    if parquet and not use_duckdb:
        raise BillError("Parquet bills need DuckDB: pip install 'opentelemetry-instrumentation-cost[reconcile]'", 2)
    columns = _duckdb_columns(paths) if use_duckdb else _csv_columns(paths[0])
    try:
        layout = detect(columns, layout_name)
    except ValueError as exc:
        raise BillError(str(exc), 4) from None
    found, missing = resolve(layout, columns)
    if missing:
        raise BillError(f"the bill ({layout.name}) lacks the columns it needs: {', '.join(missing)}", 4)
    if layout.provider and layout.provider not in columns:
        layout = replace(layout, provider=None)
    return layout, (_duckdb_sums if use_duckdb else _csv_sums)(paths, layout, found)


def _has_duckdb() -> bool:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


def _open(path: Path) -> Any:
    return gzip.open(path, "rt", newline="") if path.name.endswith(".gz") else path.open(newline="")


def _csv_columns(path: Path) -> list[str]:
    with _open(path) as f:
        return next(csv.reader(f), [])


def _number(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "", "NULL") else 0.0
    except ValueError:
        return 0.0


def _csv_sums(paths: list[Path], layout: Layout, found: dict[str, str]) -> dict[Group, Sums]:
    sums: dict[Group, Sums] = {}
    provider = layout.provider if layout.provider else None
    for path in paths:
        for row in _rows(path):
            if provider and provider in row and row[provider] not in AWS_PROVIDERS:
                continue
            kind = row.get(found["category"], "")
            cost = _number(row.get(found.get("effective", "")))
            if kind == "SavingsPlanCoveredUsage" and "sp_effective" in found:
                cost = _number(row.get(found["sp_effective"]))
            elif kind == "DiscountedUsage" and "ri_effective" in found:
                cost = _number(row.get(found["ri_effective"]))
            region = row.get(found.get("region", ""), "") or ""
            key = (row[found["day"]][:10], row[found["service"]], row[found["usage"]],
                   "" if region == "NULL" else region, kind)  # fmt: skip
            acc = sums.get(key)
            if acc is None:
                acc = sums[key] = [0.0, 0.0, 0.0, 0.0, 0.0]
            acc[0] += _number(row.get(found["quantity"]))
            acc[1] += _number(row.get(found.get("list", "")))
            acc[2] += cost
            acc[3] += 1
            acc[4] += _number(row.get(found.get("billed", "")))
    return sums


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with _open(path) as f:
        yield from csv.DictReader(f)


def _source(paths: list[Path]) -> str:
    names = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"
    if all(p.name.endswith(".parquet") for p in paths):
        return f"read_parquet({names}, union_by_name = true)"
    return f"read_csv({names}, all_varchar = true, header = true, union_by_name = true)"


def _duckdb_columns(paths: list[Path]) -> list[str]:
    import duckdb

    return [row[0] for row in duckdb.execute(f"DESCRIBE SELECT * FROM {_source(paths)}").fetchall()]


def _duckdb_sums(paths: list[Path], layout: Layout, found: dict[str, str]) -> dict[Group, Sums]:
    import duckdb

    def col(field: str) -> str:
        return '"' + found[field].replace('"', '""') + '"' if field in found else "NULL"

    def num(field: str) -> str:
        return f"coalesce(TRY_CAST({col(field)} AS DOUBLE), 0)"

    effective = num("effective")
    if "sp_effective" in found or "ri_effective" in found:
        kind = col("category")
        effective = (
            f"CASE WHEN {kind} = 'SavingsPlanCoveredUsage' THEN {num('sp_effective')} "
            f"WHEN {kind} = 'DiscountedUsage' THEN {num('ri_effective')} ELSE {effective} END"
        )
    where = ""
    if layout.provider:
        where = f'WHERE "{layout.provider}" IN {AWS_PROVIDERS!r}'
    region = f"coalesce(nullif(CAST({col('region')} AS VARCHAR), 'NULL'), '')"
    query = (
        f"SELECT substr(CAST({col('day')} AS VARCHAR), 1, 10), CAST({col('service')} AS VARCHAR), "
        f"CAST({col('usage')} AS VARCHAR), {region}, CAST({col('category')} AS VARCHAR), sum({num('quantity')}), "
        f"sum({num('list')}), sum({effective}), count(*), sum({num('billed')}) "
        f"FROM {_source(paths)} {where} GROUP BY 1, 2, 3, 4, 5"
    )
    return {tuple(r[:5]): [float(r[5]), float(r[6]), float(r[7]), float(r[8]), float(r[9])]  # type: ignore[misc]
            for r in duckdb.execute(query).fetchall()}  # fmt: skip
