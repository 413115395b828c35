"""The user's own prices (``OTEL_PYTHON_COST_PRICE_FILE``): negotiated rates win over every list price.

Format: ``{"instances": {"m5.large": 0.08}, "fargate": {"vcpu_hour": 0.04, "gb_hour": 0.0044},
"lambda": {"gb_second": 1.6e-05}, "units": {"dynamodb/WriteRequestUnits": 6.25e-07}}`` (all USD), and what the
calls do not say about their resources: ``"dynamodb_tables": {"archive": "STANDARD_INFREQUENT_ACCESS"}``,
``"lambda_functions": {"resize": "arm64"}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .._log import logger
from .model import Price

SOURCE = "override"


_RESOURCES = ("dynamodb_tables", "lambda_functions")  # facts about resources, not prices: ``aws/resources.py``


class Overrides:
    def __init__(
        self, data: dict[str, dict[str, float]], resources: dict[str, dict[str, str]] | None = None,
        calibrated: str | None = None,
    ) -> None:  # fmt: skip
        self._data = data
        self.resources = resources or {}
        # a file ``otel-cost reconcile --calibrate`` wrote: its prices are the bill's, dated by the bill's period
        self._source = "calibrated" if calibrated is not None else SOURCE
        self._as_of: str | None = calibrated

    @classmethod
    def load(cls, path: Path | None) -> Overrides:
        if path is None:
            return cls({})
        try:
            raw: Any = json.loads(path.read_text())
            if not isinstance(raw, dict):
                raise ValueError("top level is not an object")
        except (OSError, ValueError) as exc:
            logger.warning(
                "OTEL_PYTHON_COST_PRICE_FILE=%s is unreadable (%s); using the default: no price file", path, exc
            )
            return cls({})
        data: dict[str, dict[str, float]] = {}
        resources: dict[str, dict[str, str]] = {}
        mark = raw.pop("calibrated", None)
        calibrated = str(mark.get("period", "")) if isinstance(mark, dict) else None
        for section, entries in raw.items():
            if not isinstance(entries, dict):
                logger.warning("OTEL_PYTHON_COST_PRICE_FILE: section %r is not an object; skipped", section)
                continue
            if section in _RESOURCES:
                resources[section] = {str(k): v for k, v in entries.items() if isinstance(v, str)}
                continue
            for key, value in entries.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                    data.setdefault(section, {})[key] = float(value)
                else:
                    logger.warning("OTEL_PYTHON_COST_PRICE_FILE: %s.%s=%r is not a price; skipped", section, key, value)
        return cls(data, resources, calibrated)

    def get(self, section: str, key: str) -> Price | None:
        usd = self._data.get(section, {}).get(key)
        return None if usd is None else Price(usd, self._source, self._as_of)
