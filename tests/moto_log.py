"""What moto received, as a loopback HTTP proxy in front of it logs it: each request's method, path and
``X-Amz-Target``, counted before it is forwarded. (moto's own recorder appends large request bodies in several
writes, which interleave when s3transfer sends parts in parallel.)"""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class Received(NamedTuple):
    method: str
    path: str
    target: str  # X-Amz-Target: the operation of a JSON-protocol call (DynamoDB), else ""


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self) -> None:
        proxy: MotoLog = self.server.owner  # type: ignore[attr-defined]
        body = self._body()
        with proxy.lock:
            if proxy.recording is not None:
                proxy.recording.append(Received(self.command, self.path, self.headers.get("X-Amz-Target", "")))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        conn = http.client.HTTPConnection(proxy.target.hostname or "127.0.0.1", proxy.target.port, timeout=60)
        try:
            conn.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST") else None,
                         headers=headers)  # fmt: skip
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in _HOP:
                self.send_header(k, v)
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward


class MotoLog:
    """A proxy on a free loopback port in front of moto at ``target``; ``url`` is what the apps are pointed at."""

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        self.lock = threading.Lock()
        self.recording: list[Received] | None = None
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Forward)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @contextlib.contextmanager
    def recording_requests(self) -> Iterator[list[Received]]:
        """What moto receives inside the block."""
        received: list[Received] = []
        with self.lock:
            self.recording = received
        try:
            yield received
        finally:
            with self.lock:
                self.recording = None


def dynamodb_operations(received: list[Received], operation: str) -> int:
    return sum(1 for r in received if r.target == f"DynamoDB_20120810.{operation}")


def s3_requests(received: list[Received], bucket: str) -> list[str]:
    """The HTTP method of each request to ``bucket`` (path-style, as botocore addresses a loopback endpoint)."""
    return [r.method for r in received if urlsplit(r.path).path.split("/")[1:2] == [bucket]]
