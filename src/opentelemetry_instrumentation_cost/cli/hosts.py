"""``otel-cost doctor``'s look at the host: its live instrumented processes, the share in force, and advice."""

from __future__ import annotations

import time

from ..attribution import region
from ..attribution.hostfile import read_host
from ..config import Settings
from ..host import SHARE_SOURCES

Problems = list[tuple[str, str]]


def check_host(settings: Settings, share: float, problems: Problems) -> None:
    """Print the host's processes (serving roots or not) and warn where the numbers would be wrong."""
    if region._cells is None:
        print("ledger path    Python (attribution/_cells.c was not built: about 38,000 more instructions a root)")
    elif not settings.native:
        print("ledger path    Python (OTEL_PYTHON_COST_NATIVE=false)")
    else:
        print("ledger path    C (attribution/_cells.c)")
    if not settings.host_wide:
        print("host ledger    off (OTEL_PYTHON_COST_HOST_WIDE=false): each process splits the host's cost alone")
        return
    view = read_host(settings.ledger_dir)
    if view is None:
        print("host ledger    no instrumented process is running on this host")
        return
    serving = [p for p in view.processes if p.roots]
    print(f"host ledger    {view.path}: {len(view.processes)} live processes, {len(serving)} serving")
    for p in sorted(view.processes, key=lambda p: p.pid):
        role = f"serving, {p.in_flight} roots in flight" if p.roots else "not serving"
        started = time.strftime("%H:%M:%S", time.localtime(p.started_ns / 1e9))
        print(f"  pid {p.pid:<8} {p.service[:30]:<31} {role} (since {started})")
    if view.usd_per_hour:
        print(
            f"share in force {view.share:g} of ${view.usd_per_hour:.6g}/h ({SHARE_SOURCES[view.share_source]}), "
            "split among every serving process's roots in flight"
        )
        if abs(view.share - share) > 1e-9:
            problems.append(
                (
                    f"the running processes use a host share of {view.share:g}, this environment gives {share:g}",
                    "give every process of the host the same OTEL_PYTHON_COST_HOST_SHARE (or none)",
                )
            )
    _old_advice(settings, len(serving), problems)


def _old_advice(settings: Settings, serving: int, problems: Problems) -> None:
    """OTEL_PYTHON_COST_HOST_SHARE = 1/workers was the advice before the host-wide split: now it undercounts."""
    share = settings.host_share
    if share is None or share >= 1.0 or serving < 2:
        return
    workers = round(1 / share)
    if workers >= 2 and abs(share * workers - 1) < 0.02 and abs(workers - serving) <= 1:
        problems.append(
            (
                f"OTEL_PYTHON_COST_HOST_SHARE={share:g} looks like 1/workers ({serving} serving processes): the "
                f"share is the whole host's, already split among its processes, so 1/{workers} of its cost is reported",
                "unset OTEL_PYTHON_COST_HOST_SHARE (or set it to the host's share of the machine)",
            )
        )
