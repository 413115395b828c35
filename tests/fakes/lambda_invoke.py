"""Lambda's Invoke (REST: ``POST /2015-03-31/functions/{name}/invocations``), which moto runs only in Docker: the
function's result, and with ``X-Amz-Log-Type: Tail`` the base64 tail of its log with the REPORT line."""

from __future__ import annotations

import base64

from .server import LoopbackServer, RecordingHandler


class _Handler(RecordingHandler):
    def do_POST(self) -> None:
        self.record(self.body())
        billed, memory = self.owner.billed_ms, self.owner.memory_mb
        data = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Amz-Executed-Version", "$LATEST")
        if self.headers.get("X-Amz-Log-Type") == "Tail":
            report = (
                "START RequestId: 6f1c Version: $LATEST\nEND RequestId: 6f1c\nREPORT RequestId: 6f1c\t"
                f"Duration: {billed - 0.6:.2f} ms\tBilled Duration: {billed} ms\tMemory Size: {memory} MB\t"
                "Max Memory Used: 71 MB\t\n"
            )
            self.send_header("X-Amz-Log-Result", base64.b64encode(report.encode()).decode())
        self.end_headers()
        self.wfile.write(data)


class FakeLambda(LoopbackServer):
    def __init__(self, billed_ms: int = 120, memory_mb: int = 1024) -> None:
        super().__init__(_Handler)
        self.billed_ms, self.memory_mb = billed_ms, memory_mb
