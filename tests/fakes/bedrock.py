"""bedrock-runtime (REST-JSON): Converse with ``usage``, InvokeModel with token-count headers."""

from __future__ import annotations

import json
from urllib.parse import unquote

from .server import LoopbackServer, RecordingHandler


class _Handler(RecordingHandler):
    def do_POST(self) -> None:
        body = self.body()
        self.record(body)
        parts = self.path.split("/")  # /model/{modelId}/{converse|invoke}
        model, action = unquote(parts[2]), parts[3]
        usage = self.owner.usage
        if action == "converse":
            payload = {
                "output": {"message": {"role": "assistant", "content": [{"text": "hello"}]}},
                "stopReason": "end_turn",
                "usage": {**usage, "totalTokens": usage.get("inputTokens", 0) + usage.get("outputTokens", 0)},
                "metrics": {"latencyMs": 12},
            }
            self.reply(200, json.dumps(payload), "application/json")
        elif action == "invoke":
            data = json.dumps({"model": model, "completion": "hello"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Amzn-Bedrock-Input-Token-Count", str(usage.get("inputTokens", 0)))
            self.send_header("X-Amzn-Bedrock-Output-Token-Count", str(usage.get("outputTokens", 0)))
            self.send_header("X-Amzn-Bedrock-Invocation-Latency", "12")
            self.end_headers()
            self.wfile.write(data)
        else:
            self.reply(404, json.dumps({"message": "unknown"}), "application/json")


class FakeBedrockRuntime(LoopbackServer):
    def __init__(self, usage: dict[str, int]) -> None:
        super().__init__(_Handler)
        self.usage = usage
