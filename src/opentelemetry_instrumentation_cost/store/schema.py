"""Column names and SQL shared by both stores (the dialects differ in placeholders and types only)."""

from __future__ import annotations

TABLE = "otel_cost_transactions"
BATCHES = "otel_cost_batches"
VERSIONS = "otel_cost_schema"
SCHEMA_VERSION = 5  # 2: rows know their host; 3: roll-ups; 4: usage by unit; 5: the customer. Older stores are
# migrated in place: the key columns they lack are added, empty for the rows they hold (``ADDED``)
KEY = ("bucket_start", "service", "transaction_name", "instance_type", "region", "host", "boot", "customer")
SUMS = ("count", "sum_usd", "compute_usd", "service_usd", "budget_exceeded")
HOST = ("host", "boot")
ADDED = (*HOST, "customer")  # key columns later versions added, last, so that the older columns keep their places
COLUMNS = (*KEY[:5], *SUMS, "max_usd", *ADDED)


def on_conflict(greatest: str) -> str:
    """The upsert's conflict clause: counts and sums added, the max kept (``greatest``: the dialect's function)."""
    adds = ", ".join(f"{c} = {TABLE}.{c} + excluded.{c}" for c in SUMS)
    keep = f"max_usd = {greatest}({TABLE}.max_usd, excluded.max_usd)"
    return f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {adds}, {keep}"


def upsert(placeholder: str, bucket_expr: str, greatest: str) -> str:
    """INSERT ... ON CONFLICT DO UPDATE of one row."""
    values = ", ".join([bucket_expr] + [placeholder] * (len(COLUMNS) - 1))
    return f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({values}) {on_conflict(greatest)}"


def row_values(key: tuple, row: object) -> tuple:
    """A row's values in ``COLUMNS`` order (a key without a customer: none, ``""``)."""
    sums = (getattr(row, c) for c in SUMS)
    return (*key[:5], *sums, row.max_usd, *key[5:7], key[7] if len(key) > 7 else "")  # type: ignore[attr-defined]


BATCH_ID_KEEP_S = 2 * 86400  # a batch id stops a retried batch from being added twice; retries come from the
# process's buffer (an hour of batches by default): ids older than two days guard nothing, and are pruned
BATCHES_INDEX = f"CREATE INDEX IF NOT EXISTS {BATCHES}_applied_at ON {BATCHES} (applied_at)"  # prune by range
_INTEGER_SUMS = ("count", "budget_exceeded")
GROUPINGS = ("transaction", "service", "host", "customer")


def grouped_query(by: str, since: str, first: str, idle: str) -> str:
    """A SELECT that sums the rows from ``since`` on (the dialect's expression of a placeholder) per group of ``by``
    and per service, in ``COLUMNS`` order, in the database: what ``otel-cost report`` and ``budgets check`` read,
    so that a fleet's day is never pulled into Python row by row. Columns the grouping does not keep are empty;
    the idle rows (transaction ``idle``) stay apart in every grouping; ``first``: the aggregate giving the first
    bucket's start in epoch seconds (converted once per group, not once per row)."""
    flagged = f"CASE WHEN transaction_name = '{idle}' THEN '{idle}' ELSE '' END"
    kept = {
        "transaction": {"transaction_name": "transaction_name"},
        "service": {"transaction_name": flagged},
        "host": {"transaction_name": flagged, "instance_type": "instance_type", "region": "region", "host": "host"},
        "customer": {"transaction_name": flagged, "customer": "customer"},
    }[by]
    select = []
    for column in COLUMNS:
        if column == "bucket_start":
            select.append(first)
        elif column == "service" or column in kept:
            select.append(kept.get(column, column))
        elif column in SUMS:
            select.append(f"CAST(sum({column}) AS BIGINT)" if column in _INTEGER_SUMS else f"sum({column})")
        elif column == "max_usd":
            select.append("max(max_usd)")
        else:
            select.append("''")
    groups = ", ".join(["service", *kept.values()])
    return f"SELECT {', '.join(select)} FROM {TABLE} WHERE bucket_start >= {since} GROUP BY {groups}"


ROLLUPS = "otel_cost_rollups"  # the days (UTC, as epoch day numbers) whose per-minute rows were rolled up to hours


def rolled_up(hour: str, where: str) -> str:
    """A SELECT giving the rows ``where`` selects summed per hour (``hour``: the dialect's expression of the hour
    holding ``bucket_start``), in ``COLUMNS`` order: every sum and count kept, the max of the maxima."""
    select = [
        f"{hour} AS {c}"
        if c == "bucket_start"
        else f"sum({c}) AS {c}"
        if c in SUMS
        else f"max({c}) AS {c}"
        if c == "max_usd"
        else c
        for c in COLUMNS
    ]
    keys = ", ".join(c for c in KEY if c != "bucket_start")
    return f"SELECT {', '.join(select)} FROM {TABLE} WHERE {where} GROUP BY {hour}, {keys}"


def series_query(since: str, bucket: str, idle: str) -> str:
    """Cost per bucket (a minute; an hour once rolled up) and transaction from ``since`` on, summed in the database
    (``bucket``: the dialect's bucket start in epoch seconds): what ``--plot`` draws."""
    return (
        f"SELECT {bucket}, transaction_name, sum(sum_usd) FROM {TABLE} WHERE bucket_start >= {since} "
        f"AND transaction_name <> '{idle}' GROUP BY bucket_start, transaction_name"
    )


USAGE = "otel_cost_usage"  # usage by unit per hour (``store/usage.py``): what bill lines are matched against
USAGE_KEY = ("bucket_start", "service", "host", "aws_service", "region", "unit", "account")
USAGE_SUMS = ("quantity", "usd", "count")
USAGE_COLUMNS = (*USAGE_KEY, *USAGE_SUMS)


def usage_conflict() -> str:
    adds = ", ".join(f"{c} = {USAGE}.{c} + excluded.{c}" for c in USAGE_SUMS)
    return f"ON CONFLICT ({', '.join(USAGE_KEY)}) DO UPDATE SET {adds}"


def usage_values(key: tuple, row: object) -> tuple:
    """A usage row's values in ``USAGE_COLUMNS`` order."""
    return (*key, row.quantity, row.usd, row.count)  # type: ignore[attr-defined]


def usage_by_day(since: str, until: str, day: str) -> str:
    """Usage summed per UTC day, AWS service, region and unit over ``[since, until)``: what reconcile compares."""
    return (
        f"SELECT {day}, aws_service, region, unit, sum(quantity), sum(usd), CAST(sum(count) AS BIGINT) FROM {USAGE} "
        f"WHERE bucket_start >= {since} AND bucket_start < {until} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
