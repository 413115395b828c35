"""bedrock-runtime (REST-JSON): Converse with ``usage``, InvokeModel with token-count headers, and ConverseStream
as AWS sends it: ``application/vnd.amazon.eventstream`` messages, the last one (``metadata``) carrying the usage."""

from __future__ import annotations

import binascii
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
        elif action == "converse-stream":
            events = [
                ("messageStart", {"role": "assistant"}),
                ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hello"}}),
                ("contentBlockStop", {"contentBlockIndex": 0}),
                ("messageStop", {"stopReason": "end_turn"}),
                ("metadata", {"usage": {**usage, "totalTokens": 0}, "metrics": {"latencyMs": 12}}),
            ]
            data = b"".join(event_message(name, payload) for name, payload in events)
            self.reply(200, data, "application/vnd.amazon.eventstream")
        else:
            self.reply(404, json.dumps({"message": "unknown"}), "application/json")


def event_message(event_type: str, payload: dict[str, object]) -> bytes:
    """One message of AWS's event stream encoding: a prelude (total and headers length, CRC32), string headers,
    the JSON payload, and the whole message's CRC32."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")):
        key, val = name.encode(), value.encode()
        headers += bytes([len(key)]) + key + b"\x07" + len(val).to_bytes(2, "big") + val
    body = json.dumps(payload).encode()
    prelude = (12 + len(headers) + len(body) + 4).to_bytes(4, "big") + len(headers).to_bytes(4, "big")
    message = prelude + binascii.crc32(prelude).to_bytes(4, "big") + headers + body
    return message + binascii.crc32(message).to_bytes(4, "big")


class FakeBedrockRuntime(LoopbackServer):
    def __init__(self, usage: dict[str, int]) -> None:
        super().__init__(_Handler)
        self.usage = usage
