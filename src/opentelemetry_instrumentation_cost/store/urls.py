"""Store URLs: which store, where, and a form that is safe to log (no password, ever)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def default_sqlite_url() -> str:
    import platformdirs

    return "sqlite:///" + str(Path(platformdirs.user_data_dir("opentelemetry-instrumentation-cost")) / "costs.db")


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable store URL>"
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def sqlite_path(url: str) -> Path:
    """SQLAlchemy's convention: ``sqlite:///rel/costs.db`` is relative, ``sqlite:////abs/costs.db`` absolute."""
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        raise ValueError("expected sqlite:///PATH")
    return Path(url[len("sqlite:///") :])
