"""ECS task metadata endpoint v4 (``${ECS_CONTAINER_METADATA_URI_V4}/task``)."""

from __future__ import annotations

import json

from .server import LoopbackServer, RecordingHandler


class _Handler(RecordingHandler):
    def do_GET(self) -> None:
        self.record()
        if self.path.endswith("/task"):
            self.reply(200, json.dumps(self.owner.task), "application/json")
        else:
            self.reply(404, "")


class FakeEcs(LoopbackServer):
    def __init__(
        self, cpu: float = 0.25, memory_mib: int = 512, launch_type: str = "FARGATE", region: str = "us-east-1"
    ) -> None:
        super().__init__(_Handler)
        self.task = {
            "Cluster": f"arn:aws:ecs:{region}:123456789012:cluster/shop",
            "TaskARN": f"arn:aws:ecs:{region}:123456789012:task/shop/0123456789abcdef",
            "LaunchType": launch_type,
            "AvailabilityZone": f"{region}a",
            "Limits": {"CPU": cpu, "Memory": memory_mib},
        }
        self.url_v4 = self.url + "/v4/abc123"
