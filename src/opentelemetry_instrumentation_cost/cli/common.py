"""What the subcommands share: errors with exit codes, windows, and opening the store."""

from __future__ import annotations

import os
import re
from typing import Any

from ..store.model import StoreUnavailable
from ..store.open import open_store
from ..store.urls import default_sqlite_url, redact

_WINDOW = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class CliError(Exception):
    """A problem to report in one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def window_seconds(text: str) -> float:
    match = _WINDOW.match(text.strip())
    if not match:
        raise CliError(f"bad window {text!r}: use a number and s, m, h or d, e.g. 30m or 1h")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def store_url(arg: str | None) -> str:
    return arg or os.environ.get("OTEL_PYTHON_COST_STORE_URL") or default_sqlite_url()


def open_for_reading(arg: str | None) -> tuple[Any, str]:
    url = store_url(arg)
    try:
        store = open_store(url)
    except ValueError as exc:
        raise CliError(f"bad store URL {redact(url)}: {exc}") from None
    except Exception as exc:  # a driver missing, say
        raise CliError(f"cannot open the store {redact(url)}: {exc.__class__.__name__}: {exc}") from None
    if store is None:
        raise CliError("the store is 'none': nothing is stored, so there is nothing to report")
    return store, redact(url)


def read_series(store: Any, since_epoch: float) -> list[tuple]:
    """The window's cost per bucket and transaction, summed in the database: for ``--plot``."""
    try:
        return store.series(since_epoch)
    except StoreUnavailable as exc:
        raise CliError(f"the store is unreachable: {exc}", code=3) from None


def read_grouped(store: Any, since_epoch: float, by: str) -> list[tuple]:
    """The window's rows summed in the database per group of ``by`` and service (``store.schema.grouped_query``)."""
    try:
        return store.grouped(since_epoch, by)
    except StoreUnavailable as exc:
        raise CliError(f"the store is unreachable: {exc}", code=3) from None
