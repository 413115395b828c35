"""``OTEL_PYTHON_COST_BUDGETS``: inline ``POST /checkout=0.002;GET /items=0.0005`` or a JSON/TOML file path.

File form: ``{"POST /checkout": {"per_request": 0.002, "per_hour": 5.0}, "*": {"per_request": 0.01}}`` (``*`` is the
default for every other transaction). The same form names customers for ``otel-cost budgets check --by customer``
(``{"acme": {"per_day": 40}}``; ``per_day`` is checked there, over its window). A malformed entry is reported once,
with its position, and skipped.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._log import logger

DEFAULT = "*"
_VAR = "OTEL_PYTHON_COST_BUDGETS"


@dataclass(frozen=True)
class Budget:
    per_request: float | None = None
    per_hour: float | None = None
    per_day: float | None = None  # checked by ``otel-cost budgets check`` over its window (not while requests run)


@dataclass(frozen=True)
class Budgets:
    by_transaction: dict[str, Budget] = field(default_factory=dict)

    def for_transaction(self, name: str) -> Budget | None:
        return self.by_transaction.get(name) or self.by_transaction.get(DEFAULT)

    def __bool__(self) -> bool:
        return bool(self.by_transaction)


def parse_budgets(value: str | None) -> Budgets:
    if not value or not value.strip():
        return Budgets()
    text = value.strip()
    path = Path(text)
    if "=" not in text and (path.suffix in (".json", ".toml") or path.is_file()):
        return _from_file(path)
    budgets: dict[str, Budget] = {}
    for position, entry in enumerate(text.split(";"), start=1):
        if not entry.strip():
            continue
        name, sep, amount = entry.rpartition("=")
        usd = _usd(amount) if sep else None
        if not name.strip() or usd is None:
            logger.warning("%s: entry %d (%r) is not NAME=USD; skipped", _VAR, position, entry.strip()[:100])
            continue
        budgets[name.strip()] = Budget(per_request=usd)
    return Budgets(budgets)


def _from_file(path: Path) -> Budgets:
    try:
        raw: Any = tomllib.loads(path.read_text()) if path.suffix == ".toml" else json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        logger.warning("%s=%s is unreadable (%s); no budgets apply", _VAR, path, exc.__class__.__name__)
        return Budgets()
    if not isinstance(raw, dict):
        logger.warning("%s=%s: the top level is not a table of transactions; no budgets apply", _VAR, path)
        return Budgets()
    budgets: dict[str, Budget] = {}
    for position, (name, spec) in enumerate(raw.items(), start=1):
        if not isinstance(spec, dict):
            logger.warning("%s: entry %d (%r) is not a table; skipped", _VAR, position, name)
            continue
        amounts = {k: _usd(spec.get(k)) for k in ("per_request", "per_hour", "per_day")}
        unknown = set(spec) - set(amounts)
        if (
            unknown
            or all(v is None for v in amounts.values())
            or any(spec.get(k) is not None and v is None for k, v in amounts.items())
        ):
            logger.warning(
                "%s: entry %d (%r) needs per_request, per_hour and/or per_day in USD; skipped", _VAR, position, name
            )
            continue
        budgets[str(name)] = Budget(amounts["per_request"], amounts["per_hour"], amounts["per_day"])
    return Budgets(budgets)


def _usd(value: Any) -> float | None:
    try:
        usd = float(value)
    except (TypeError, ValueError):
        return None
    return usd if usd >= 0 and usd == usd else None
