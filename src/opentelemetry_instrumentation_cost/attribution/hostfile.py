"""Where the host's ledger lives, and what it says about the processes in it (for ``otel-cost doctor``).

A host is what shares one CPU quota: a container (its own cgroup namespace and cgroup), or the whole machine. The
file's name holds the boot id and a digest of the cgroup namespace and CPU cgroup, so processes of one host find
one another with no configuration, and a reboot or another container starts afresh. It goes in ``/dev/shm`` (memory,
never written back to disk) in a directory private to the user, else in the temporary directory.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import NamedTuple

from .._log import warn_once
from ..host.local import boot_id
from .region import (
    H_MAGIC,
    H_PRICE,
    H_SHARE,
    H_SHARE_SOURCE,
    LAYOUT,
    MAGIC,
    S_K,
    S_PID,
    S_ROOTS,
    S_START,
    PrivateRegion,
    Region,
    SharedRegion,
)

_SHM = Path("/dev/shm")


def default_dir() -> Path:
    base = _SHM if _SHM.is_dir() and os.access(_SHM, os.W_OK) else Path(tempfile.gettempdir())
    return base / f"otel-cost-{os.getuid()}"


def host_key() -> str:
    """Boot id + cgroup namespace + CPU cgroup: the same for every process sharing one CPU quota."""
    try:
        namespace = os.readlink("/proc/self/ns/cgroup")
    except OSError:
        namespace = ""
    cpu = ""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controllers == "" or "cpu" in controllers.split(","):
                cpu = path  # v2's unified line, else v1's cpu controller
                if controllers:
                    break
    except (OSError, ValueError):
        pass
    return hashlib.sha256(f"{boot_id()}|{namespace}|{cpu}".encode()).hexdigest()[:16]


def ledger_path(directory: Path | None) -> Path:
    return (directory or default_dir()) / f"host-{host_key()}.v{LAYOUT}"


def open_region(directory: Path | None) -> Region:
    """The host's shared region; a private one (this process alone, with one warning) when it cannot be had."""
    path = ledger_path(directory)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.parent.stat()
        if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o022:
            raise PermissionError(f"{path.parent} is not this user's own")
        return SharedRegion(path)
    except OSError as exc:
        warn_once(
            "host-ledger",
            "cost: cannot share the host's ledger at %s (%s); this process splits the host's cost alone "
            "(set OTEL_PYTHON_COST_LEDGER_DIR to a writable directory)",
            path,
            exc,
        )
        return PrivateRegion()


class Process(NamedTuple):
    """One live instrumented process of the host, as its slot says."""

    pid: int
    service: str
    started_ns: int
    roots: int  # 1 once it has opened a local root; 0: it serves none (a master, a supervisor)
    in_flight: int


class HostView(NamedTuple):
    path: Path
    processes: list[Process]
    usd_per_hour: float  # the machine's price the processes use (0 when none is known yet)
    share: float
    share_source: int


def read_host(directory: Path | None) -> HostView | None:
    """The live processes of this host's ledger, without joining it (None: no ledger file)."""
    path = ledger_path(directory)
    if not path.exists():
        return None
    try:
        region = SharedRegion(path)
    except OSError:
        return None
    q, f = region.q, region.f
    if q[H_MAGIC] != MAGIC:
        region.close()
        return HostView(path, [], 0.0, 0.0, 0)
    dead = set(region.dead_slots())
    processes = [
        Process(q[c + S_PID], region.name_of(c), q[c + S_START], q[c + S_ROOTS], q[c + S_K])
        for c in region.live_slots()
        if c not in dead
    ]
    view = HostView(path, processes, f[H_PRICE], f[H_SHARE], q[H_SHARE_SOURCE])
    region.close()
    return view
