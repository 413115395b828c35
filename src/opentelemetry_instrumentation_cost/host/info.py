"""What the package knows about where it runs."""

from __future__ import annotations

from typing import Any, NamedTuple


class HostInfo(NamedTuple):
    """The host as detected once at start-up.

    ``platform`` is one of ``override``, ``lambda``, ``fargate``, ``ec2``, ``unknown``; ``vcpus`` and
    ``memory_gb`` size Fargate tasks and Lambda functions, which are priced by size rather than instance type.
    """

    platform: str
    instance_type: str | None = None
    lifecycle: str | None = None
    region: str | None = None
    availability_zone: str | None = None
    vcpus: float | None = None
    memory_gb: float | None = None
    architecture: str = "x86_64"
    detail: str = ""
    instance_id: str | None = None  # EC2 instance id or ECS task ARN: the host's name in the store

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostInfo:
        return cls(**{k: data[k] for k in cls._fields if k in data})
