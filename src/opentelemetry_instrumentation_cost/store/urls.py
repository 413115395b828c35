"""Store URLs: which store, where, and a form that is safe to log (no password, ever)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def default_sqlite_url() -> str:
    import platformdirs

    return "sqlite:///" + str(Path(platformdirs.user_data_dir("opentelemetry-instrumentation-cost")) / "costs.db")


_SECRETS = ("password", "sslpassword")  # libpq takes these as query parameters too


def redact(url: str) -> str:
    """The URL with any password (in the user info or the query) replaced by ``***``. Never raises: it runs in
    warnings and error messages, on URLs that may be malformed (a port that is not a number, say)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable store URL>"
    user, at, host = parts.netloc.rpartition("@")
    netloc = f"{user.split(':', 1)[0]}:***@{host}" if at and ":" in user else parts.netloc
    query = "&".join(_hidden(pair) for pair in parts.query.split("&"))
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing to hide (and ``sqlite:///PATH`` keeps its three slashes)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _hidden(pair: str) -> str:
    """One ``key=value`` of a query, its value hidden when it is a password."""
    key = pair.partition("=")[0]
    return f"{key}=***" if key.lower() in _SECRETS else pair


def checked(url: str) -> str:
    """``url`` when it names a store this package opens; else ValueError saying what was expected (the setting's
    warning, or the CLI's error, says it at once rather than a write failing on it later)."""
    if url == "none":
        return url
    if url.startswith("sqlite:"):
        sqlite_path(url)
        return url
    if url.startswith(("postgresql://", "postgres://")):
        urlsplit(url).port  # noqa: B018  # a port that is not a number raises ValueError
        return url
    raise ValueError("expected sqlite:///PATH, postgresql://... or none")


def sqlite_path(url: str) -> Path:
    """SQLAlchemy's convention: ``sqlite:///rel/costs.db`` is relative, ``sqlite:////abs/costs.db`` absolute."""
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        raise ValueError("expected sqlite:///PATH")
    return Path(url[len("sqlite:///") :])
