"""A minimal HTTP call for link-local metadata services: stdlib only, no proxies, hard timeouts."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit


class Deadline:
    """A total time budget shared by several calls."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def remaining(self, cap: float | None = None) -> float:
        left = max(0.0, self._end - time.monotonic())
        return left if cap is None else min(left, cap)


def request(method: str, url: str, headers: dict[str, str], timeout: float, max_body: int = 65536) -> tuple[int, bytes]:
    """One request; raises OSError (timeouts included) or http.client.HTTPException."""
    if timeout <= 0:
        raise TimeoutError("time budget spent")
    parts = urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "", parts.port, timeout=timeout)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read(max_body)
    finally:
        conn.close()
