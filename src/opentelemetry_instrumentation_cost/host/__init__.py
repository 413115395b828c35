"""Where the process runs, found once at start-up within a 1 s budget, never failing start-up.

Order: ``OTEL_PYTHON_COST_INSTANCE_TYPE`` → Lambda environment → ECS task metadata v4 → DMI files (skip IMDS when
they say "not EC2") → EC2 IMDSv2. IMDS answers are cached per boot (so a restart costs nothing).
"""

from __future__ import annotations

from collections.abc import Mapping

from .._cache import DiskCache
from .._log import logger
from ..config import Settings
from .info import HostInfo
from .local import architecture, boot_id, default_share, dmi_says_not_ec2, lambda_host

__all__ = ["SHARE_SOURCES", "HostInfo", "detect_host", "host_name", "host_share", "pricing_region"]

BUDGET_S = 1.0
_CACHE = "host"


def detect_host(settings: Settings, env: Mapping[str, str], cache: DiskCache) -> HostInfo:
    arch = architecture()
    if settings.instance_type:
        return HostInfo(
            "override",
            settings.instance_type,
            "on-demand",
            architecture=arch,
            detail="OTEL_PYTHON_COST_INSTANCE_TYPE",
        )
    found = lambda_host(env)
    if found is not None:
        return found
    # the network clients load only here, on the background thread, for a host that must be asked
    import http.client

    from ._http import Deadline
    from .ecs import query_ecs
    from .imds import ImdsUnavailable, query_imds

    deadline = Deadline(BUDGET_S)
    ecs_uri = env.get("ECS_CONTAINER_METADATA_URI_V4")
    if ecs_uri:
        try:
            found = query_ecs(ecs_uri, deadline, arch)
            if found is not None:
                return found
        except (OSError, ValueError, http.client.HTTPException) as exc:
            logger.warning("cost: ECS task metadata unreadable (%s); trying EC2 metadata", exc.__class__.__name__)
    if settings.imds_disabled:
        return HostInfo("unknown", architecture=arch, detail="AWS_EC2_METADATA_DISABLED=true")
    if "AWS_EC2_METADATA_SERVICE_ENDPOINT" not in env and dmi_says_not_ec2():
        return HostInfo("unknown", architecture=arch, detail="DMI says this is not EC2")
    key = f"{boot_id()}|{settings.imds_endpoint}"
    cached = cache.get(_CACHE, key)
    if isinstance(cached, dict):
        try:
            return HostInfo.from_dict(cached)
        except TypeError:
            pass
    try:
        found = query_imds(settings.imds_endpoint, deadline, settings.imds_v1_fallback, arch)
    except (ImdsUnavailable, OSError, http.client.HTTPException) as exc:
        reason = str(exc) if isinstance(exc, ImdsUnavailable) else f"{exc.__class__.__name__} from IMDS"
        logger.warning(
            "cost: EC2 instance metadata unavailable (%s); set OTEL_PYTHON_COST_INSTANCE_TYPE to price this host",
            reason,
        )
        found = HostInfo("unknown", architecture=arch, detail=reason)
    cache.put(_CACHE, key, found.to_dict())
    return found


def pricing_region(settings: Settings, host_region: str | None) -> str:
    """Whose prices: OTEL_PYTHON_COST_PRICING_REGION → detected region → AWS_REGION / AWS_DEFAULT_REGION → us-east-1."""
    return settings.pricing_region or host_region or settings.aws_region or "us-east-1"


# where the share in force came from (kept as a number in the host's ledger, read by ``otel-cost doctor``)
SHARE_SOURCES = ("unknown", "OTEL_PYTHON_COST_HOST_SHARE", "the cgroup CPU quota", "the whole machine", "sized")


def host_share(settings: Settings, host: HostInfo) -> tuple[float, int]:
    """The host's share of the machine's price, and where it came from (an index of ``SHARE_SOURCES``): the
    override, else the cgroup CPU quota ÷ the machine's vCPUs, else 1. A Fargate task or Lambda function is priced
    by its own size. Every process of the host shares this one rate (``attribution/ledger.py``)."""
    if host.platform in ("fargate", "lambda"):
        return 1.0, 4
    if settings.host_share is not None:
        return settings.host_share, 1
    share = default_share()
    return share, 2 if share < 1.0 else 3


def host_name(host: HostInfo | None) -> str:
    """The host's name in the store: its instance id (or task ARN) where known, else the hostname."""
    import socket

    return (host.instance_id if host is not None and host.instance_id else None) or socket.gethostname()
