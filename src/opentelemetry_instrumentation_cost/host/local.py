"""Cheap local facts: Lambda's environment, DMI files, the cgroup CPU quota. No network."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Mapping
from pathlib import Path

from ..package import loaded_by_auto_instrumentation
from .info import HostInfo

_DMI = Path("/sys/devices/virtual/dmi/id")
_XEN_UUID = Path("/sys/hypervisor/uuid")


def architecture() -> str:
    machine = platform.machine().lower()
    return "arm64" if machine in ("aarch64", "arm64") else "x86_64"


def lambda_host(env: Mapping[str, str]) -> HostInfo | None:
    if not env.get("AWS_LAMBDA_FUNCTION_NAME"):
        return None
    try:
        memory_mb = float(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", ""))
    except ValueError:
        memory_mb = None
    return HostInfo(
        platform="lambda",
        instance_type="lambda",
        lifecycle="on-demand",
        region=env.get("AWS_REGION") or None,
        memory_gb=memory_mb / 1024.0 if memory_mb else None,
        architecture=architecture(),
        detail="Lambda environment",
    )


def dmi_says_not_ec2(root: Path = _DMI, xen_uuid: Path = _XEN_UUID) -> bool:
    """True only when DMI files exist and none of them points at EC2 (absent files prove nothing)."""
    texts = []
    for path in (root / "board_asset_tag", root / "sys_vendor", root / "bios_vendor", xen_uuid):
        try:
            texts.append(path.read_text(errors="replace").strip())
        except OSError:
            continue
    if not texts:
        return False
    return not any(t.startswith("i-") or "amazon" in t.lower() or t.lower().startswith("ec2") for t in texts)


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs this process may use per the cgroup quota (v2 ``cpu.max``, else v1 CFS files), None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def default_share(host_vcpus: float | None = None) -> float:
    """This process's share of the host: the cgroup CPU quota over the host's vCPUs, else 1."""
    limit = cgroup_cpu_limit()
    vcpus = host_vcpus or os.cpu_count() or 1
    if limit is None:
        return 1.0
    return max(0.0, min(1.0, limit / vcpus))


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def process_started_ns(now_ns: int) -> int:
    """When this process started, by the kernel's clock (``/proc/self/stat``, 10 ms ticks), where the package was
    loaded at start-up; else ``now_ns``. The host costs money from the moment its first process starts, not from
    the moment the package was imported. ``opentelemetry-instrument`` loads it before the app's own imports, which
    take seconds on a loaded machine (7 s measured for Celery on 2 busy vCPUs): 30 s are allowed then, 5 s when
    the app instruments itself."""
    within_ns = (30 if loaded_by_auto_instrumentation() else 5) * 1_000_000_000
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # starttime: field 22, counted after the command's closing parenthesis
        since_boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)  # the clock starttime counts on
        started = now_ns - since_boot + int(ticks * 1e9 / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return now_ns
    return started if 0 <= now_ns - started <= within_ns else now_ns
