"""A bounded loopback load generator: keep-alive HTTP clients on threads, for the tests and the benchmark."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def drive(url: str, paths: list[str], seconds: float, clients: int = 8, keep_alive: bool = True) -> LoadResult:
    """GET ``paths`` round-robin from ``clients`` threads for ``seconds`` (capped at 60); ``keep_alive=False``
    opens a connection per request, so that every worker process accepting on the socket gets its turn."""
    seconds = min(seconds, 60.0)
    parts = urlsplit(url)
    result = LoadResult()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        i, done, errors, statuses = n, 0, 0, {}
        while time.monotonic() < stop:
            try:
                conn.request("GET", paths[i % len(paths)])
                resp = conn.getresponse()
                resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
                done += 1
                if not keep_alive:
                    conn.close()
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
            i += 1
        conn.close()
        with lock:
            result.requests += done
            result.errors += errors
            for status, count in statuses.items():
                result.statuses[status] = result.statuses.get(status, 0) + count

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.monotonic() - t0
    return result
