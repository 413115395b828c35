"""EC2 instance metadata, IMDSv2 (session token first), as botocore's settings configure it."""

from __future__ import annotations

import json

from .._log import logger
from ._http import Deadline, request
from .info import HostInfo

_TOKEN_PATH = "/latest/api/token"
_IDENTITY_PATH = "/latest/dynamic/instance-identity/document"
_LIFECYCLE_PATH = "/latest/meta-data/instance-life-cycle"
_TOKEN_TTL = "21600"


class ImdsUnavailable(Exception):
    """IMDS did not give what we need; the message says why, for ``otel-cost doctor`` and the log."""


def query_imds(endpoint: str, deadline: Deadline, v1_fallback: bool, architecture: str) -> HostInfo:
    """Instance type, lifecycle, region and AZ, within the deadline."""
    headers = _token_headers(endpoint, deadline, v1_fallback)
    status, body = request("GET", endpoint + _IDENTITY_PATH, headers, deadline.remaining(0.5))
    if status != 200:
        raise ImdsUnavailable(f"identity document answered HTTP {status}")
    try:
        doc = json.loads(body)
        instance_type = str(doc["instanceType"])
        region = str(doc["region"])
        az = str(doc.get("availabilityZone") or "") or None
        instance_id = str(doc.get("instanceId") or "")[:64] or None
    except (ValueError, KeyError, TypeError) as exc:
        raise ImdsUnavailable(f"identity document is malformed ({exc.__class__.__name__})") from None
    lifecycle = "on-demand"
    try:
        status, body = request("GET", endpoint + _LIFECYCLE_PATH, headers, deadline.remaining(0.5))
        if status == 200 and body.strip():
            lifecycle = body.decode("ascii", "replace").strip()[:32]
    except OSError:
        logger.warning("cost: IMDS did not give the instance lifecycle in time; assuming on-demand")
    return HostInfo(
        platform="ec2",
        instance_type=instance_type,
        lifecycle=lifecycle,
        region=region,
        availability_zone=az,
        architecture=architecture,
        detail=f"IMDS at {endpoint}",
        instance_id=instance_id,
    )


def _token_headers(endpoint: str, deadline: Deadline, v1_fallback: bool) -> dict[str, str]:
    try:
        status, body = request(
            "PUT",
            endpoint + _TOKEN_PATH,
            {"X-aws-ec2-metadata-token-ttl-seconds": _TOKEN_TTL},
            deadline.remaining(0.5),
        )
    except OSError as exc:
        if v1_fallback:
            return {}
        raise ImdsUnavailable(f"no IMDSv2 token ({exc.__class__.__name__}; hop limit 1 in a container?)") from None
    if status == 200 and body.strip():
        return {"X-aws-ec2-metadata-token": body.decode("ascii", "replace").strip()}
    if v1_fallback:
        return {}
    raise ImdsUnavailable(
        f"IMDSv2 token request answered HTTP {status}; set OTEL_PYTHON_COST_IMDS_V1_FALLBACK=true to allow IMDSv1"
    )
