"""ECS task metadata endpoint v4: launch type, task size and region."""

from __future__ import annotations

import json

from ._http import Deadline, request
from .info import HostInfo


def query_ecs(uri: str, deadline: Deadline, architecture: str) -> HostInfo | None:
    """A Fargate task's size and region, or None for the EC2 launch type (the instance is priced instead)."""
    status, body = request("GET", uri.rstrip("/") + "/task", {}, deadline.remaining(0.5), max_body=1 << 20)
    if status != 200:
        raise OSError(f"ECS task metadata answered HTTP {status}")
    task = json.loads(body)
    if str(task.get("LaunchType", "")).upper() != "FARGATE":
        return None
    limits = task.get("Limits") or {}
    arn = str(task.get("TaskARN", ""))
    region = arn.split(":")[3] if arn.count(":") >= 5 else None
    cpu = limits.get("CPU")
    memory = limits.get("Memory")
    return HostInfo(
        platform="fargate",
        instance_type="fargate",
        lifecycle="on-demand",
        region=region or None,
        availability_zone=task.get("AvailabilityZone"),
        vcpus=float(cpu) if cpu is not None else None,
        memory_gb=float(memory) / 1024.0 if memory is not None else None,
        architecture=architecture,
        detail="ECS task metadata v4",
        instance_id=arn[:200] or None,
    )
