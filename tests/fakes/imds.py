"""EC2 instance metadata service, IMDSv2 wire format: PUT a token, then GET with it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .server import LoopbackServer, RecordingHandler

TOKEN = "AQAEAFAKE-token=="


@dataclass
class ImdsConfig:
    instance_type: str = "c6i.xlarge"
    lifecycle: str = "on-demand"
    region: str = "eu-west-1"
    az: str = "eu-west-1b"
    token_status: int = 200  # 403/404/405 to refuse tokens
    allow_v1: bool = False
    garbage: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class _Handler(RecordingHandler):
    def do_PUT(self) -> None:
        self.record()
        cfg: ImdsConfig = self.owner.config
        if self.path != "/latest/api/token" or "X-aws-ec2-metadata-token-ttl-seconds" not in self.headers:
            self.reply(400, "bad token request")
        elif cfg.token_status != 200:
            self.reply(cfg.token_status, "")
        else:
            self.reply(200, TOKEN)

    def do_GET(self) -> None:
        self.record()
        cfg: ImdsConfig = self.owner.config
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN and not cfg.allow_v1:
            self.reply(401, "")
            return
        if cfg.garbage:
            self.reply(200, b"\x00\xffnot json{{{")
            return
        if self.path == "/latest/dynamic/instance-identity/document":
            doc = {
                "instanceType": cfg.instance_type,
                "region": cfg.region,
                "availabilityZone": cfg.az,
                "instanceId": "i-0123456789abcdef0",
                "architecture": "x86_64",
            }
            self.reply(200, json.dumps(doc), "application/json")
        elif self.path == "/latest/meta-data/instance-life-cycle":
            self.reply(200, cfg.lifecycle)
        else:
            self.reply(404, "")


class FakeImds(LoopbackServer):
    def __init__(self, config: ImdsConfig | None = None) -> None:
        super().__init__(_Handler)
        self.config = config or ImdsConfig()
